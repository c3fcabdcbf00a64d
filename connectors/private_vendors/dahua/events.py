"""Dahua eventManager stream: ``Code=…;action=…;index=…;data={json}`` bodies to ``VendorEvent``.

``index`` is the 0-based channel; Tilik numbers channels from 1. A ``Heartbeat`` body is the
stream's keepalive. One part may carry several ``Code=`` records.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from connectors.sdk.devicedata import decimal
from connectors.sdk.errors import DeviceDataError
from connectors.sdk.mapping import EventRule, VendorEvent, flatten_json
from connectors.sdk.multipart import Part
from topics.models import EventKind

_RULE = ("Name",)
_OBJECT = ("Object.ObjectType", "ObjectType", "Objects.0.ObjectType")
_DIRECTION = ("Direction",)

EVENT_TABLE: dict[str, EventRule] = {
    "VideoMotion": EventRule(EventKind.MOTION, fields={"rule": _RULE, "region": ("RegionName",)}),
    "CrossLineDetection": EventRule(
        EventKind.LINE_CROSSING,
        fields={"rule": _RULE, "direction": _DIRECTION, "object_class": _OBJECT},
    ),
    "CrossRegionDetection": EventRule(
        EventKind.INTRUSION,
        fields={"rule": _RULE, "direction": _DIRECTION, "object_class": _OBJECT},
    ),
    "ParkingDetection": EventRule(
        EventKind.PARKING_VIOLATION,
        fields={
            "rule": _RULE,
            "plate": ("Object.Text", "TrafficCar.PlateNumber", "PlateNumber"),
            "dwell_s": ("ParkingDuration", "Duration"),
            "object_class": _OBJECT,
        },
    ),
    "CrowdDetection": EventRule(
        EventKind.CROWD_DENSITY,
        fields={"count": ("RegionList.0.PeopleNum", "PeopleNum", "ManNum"), "rule": _RULE},
    ),
    "NumberStat": EventRule(
        EventKind.PEOPLE_COUNT,
        fields={"count": ("Number", "EnteredNumber"), "rule": _RULE, "direction": ("Type",)},
    ),
    "VideoBlind": EventRule(EventKind.TAMPER),
    "VideoLoss": EventRule(EventKind.VIDEO_LOSS),
    "StorageFailure": EventRule(
        EventKind.STORAGE_FAILURE, constants={"detail": "storage_failure"}, device_level=True
    ),
    "StorageNotExist": EventRule(
        EventKind.STORAGE_FAILURE, constants={"detail": "no_storage"}, device_level=True
    ),
    "StorageLowSpace": EventRule(
        EventKind.STORAGE_FAILURE, constants={"detail": "low_space"}, device_level=True
    ),
}

HEARTBEAT = "Heartbeat"
_RECORD_START = re.compile(r"(?:^|\r?\n)(?=Code=)")
_ACTIVE = {"start": True, "stop": False, "pulse": None}
#: the highest 0-based channel index a Dahua device reports
MAX_INDEX = 9_998


def parse_event_part(
    part: Part, *, device: str | None = None, now: datetime | None = None
) -> list[VendorEvent]:
    """Events in one eventManager part ([] for a heartbeat)."""
    text = part.body.decode("utf-8", "replace").strip()
    if not text or text == HEARTBEAT:
        return []
    records = [chunk.strip() for chunk in _RECORD_START.split(text) if chunk.strip()]
    if not records or not all(record.startswith("Code=") for record in records):
        raise DeviceDataError("eventManager part is not a Code= record", device=device)
    received = now or datetime.now(UTC)
    return [parse_event_record(record, device=device, now=received) for record in records]


def parse_event_record(text: str, *, device: str | None = None, now: datetime) -> VendorEvent:
    """One ``Code=…;action=…;index=…[;data={…}]`` record."""
    head, _, data_text = text.partition(";data=")
    fields: dict[str, str] = {}
    for item in head.split(";"):
        key, sep, value = item.partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    code = fields.get("Code", "")
    if not code:
        raise DeviceDataError("eventManager record without Code", device=device)
    action = fields.get("action", "Pulse").lower()
    if action not in _ACTIVE:
        raise DeviceDataError(
            f"eventManager {code[:64]}: unknown action {action[:32]!r}", device=device
        )
    data = _data(data_text, code, device)
    return VendorEvent(
        code=code,
        channel=_channel(fields.get("index"), code, device),
        active=_ACTIVE[action],
        device_time=_device_time(data, now),
        fields=flatten_json(data) if isinstance(data, dict) else {},
        discriminator=_discriminator(data),
        payload=text,
    )


def _data(text: str, code: str, device: str | None) -> Any:
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise DeviceDataError(f"eventManager {code[:64]}: data is not JSON", device=device) from exc


def _channel(index: str | None, code: str, device: str | None) -> int | None:
    if index is None or index == "":
        return None
    number = decimal(index, high=MAX_INDEX)
    if number is None:
        raise DeviceDataError(
            f"eventManager {code[:64]}: index {index[:16]!r} is not a channel", device=device
        )
    return number + 1


def _device_time(data: Any, now: datetime) -> datetime:
    utc = data.get("UTC") if isinstance(data, dict) else None
    if isinstance(utc, int | float) and not isinstance(utc, bool) and 0 < utc < 10**11:
        return datetime.fromtimestamp(utc, UTC)
    return now


def _discriminator(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    for key in ("EventID", "EventSeq", "Sequence"):
        if key in data:
            return str(data[key])
    return None

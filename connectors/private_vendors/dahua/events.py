"""Dahua eventManager stream: ``Code=…;action=…;index=…;data={json}`` bodies to ``VendorEvent``.

``index`` is the 0-based channel; Tilik numbers channels from 1. A ``Heartbeat`` body is the
stream's keepalive. One part may carry several ``Code=`` records.

The table follows the HTTP API's event codes: motion and smart motion, the IVS rules (tripwire,
intrusion, abandoned and missing objects, loitering, parking, gathering, fighting), faces and
plates, people counting, thermal fire and temperature alarms, alarm inputs, video, audio, storage
and network exceptions. An alarm input's ``index`` numbers the input, not a video channel: the
row is device-level and keeps the input's number (``alarm_input``, from 1). Object classes are
kept whole: every ``ObjectType`` of ``Object`` and ``Objects``. A record whose ``data`` is not JSON
is still its event (code, action, index), with the data kept raw in the event's ``raw``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from connectors.sdk.channels import channel_ref
from connectors.sdk.devicedata import decimal
from connectors.sdk.errors import DeviceDataError
from connectors.sdk.mapping import EventRule, VendorEvent, flatten_json, unreadable_raw
from connectors.sdk.multipart import Part
from connectors.sdk.vocabulary import class_list
from topics.models import EventKind

#: fields ``parse_event_record`` adds: every object class the record names, as the taxonomy
#: spells them, and the record's ``index`` counted from 1 (for rows where it is no channel)
CLASSES = "@classes"
NUMBER = "@number"
_RULE = ("Name",)
_REGION = ("RegionName", "RegionName.0", "Region")
_DIRECTION = ("Direction",)
_SMART = {"rule": _RULE, "object_classes": (CLASSES,)}
_PLATE = ("Object.Text", "TrafficCar.PlateNumber", "PlateNumber", "Plate")
_TEMPERATURE = (
    "TemperatureValue",
    "Temperature",
    "MaxTemperature",
    "AlarmInfo.Temperature",
    "CurrentTemperature",
)
_PEOPLE = ("RegionList.0.PeopleNum", "PeopleNum", "ManNum", "Number", "ManList.0.Number")


def _ivs(kind: EventKind, **extra: tuple[str, ...]) -> EventRule:
    """An IVS rule event: rule name, object classes, and whatever ``extra`` names."""
    return EventRule(kind, fields={**_SMART, **extra})


def _device(kind: EventKind, detail: str) -> EventRule:
    return EventRule(kind, constants={"detail": detail}, device_level=True)


def _class(kind: EventKind, object_class: str, **fields: tuple[str, ...]) -> EventRule:
    return EventRule(
        kind, fields={"rule": _RULE, **fields}, constants={"object_class": object_class}
    )


EVENT_TABLE: dict[str, EventRule] = {
    # --- motion ----------------------------------------------------------------------------
    "VideoMotion": EventRule(EventKind.MOTION, fields={"rule": _RULE, "region": _REGION}),
    "SmartMotionHuman": _class(EventKind.OBJECT_DETECTED, "human", region=_REGION),
    "SmartMotionVehicle": _class(EventKind.OBJECT_DETECTED, "vehicle", region=_REGION),
    "MoveDetection": EventRule(
        EventKind.MOTION, fields=_SMART, constants={"detail": "fast_moving"}
    ),
    # --- IVS rules -------------------------------------------------------------------------
    "CrossLineDetection": _ivs(EventKind.LINE_CROSSING, direction=_DIRECTION),
    "CrossFenceDetection": _ivs(EventKind.LINE_CROSSING, direction=_DIRECTION),
    "CrossRegionDetection": _ivs(EventKind.INTRUSION, direction=_DIRECTION),
    "LeftDetection": _ivs(EventKind.OBJECT_ABANDONED),
    "ObjectPlacementDetection": _ivs(EventKind.OBJECT_ABANDONED),
    "TakenAwayDetection": _ivs(EventKind.OBJECT_REMOVED),
    "ObjectRemovalDetection": _ivs(EventKind.OBJECT_REMOVED),
    "WanderDetection": _ivs(EventKind.LOITERING, dwell_s=("Duration", "StayTime")),
    "StayDetection": _ivs(EventKind.LOITERING, dwell_s=("Duration", "StayTime")),
    "FightDetection": _ivs(EventKind.FIGHT),
    "RioterDetection": _ivs(EventKind.CROWD_DENSITY, count=_PEOPLE),
    "CrowdDetection": EventRule(
        EventKind.CROWD_DENSITY,
        fields={"count": ("RegionList.0.PeopleNum", "PeopleNum", "ManNum"), "rule": _RULE},
    ),
    "ParkingDetection": EventRule(
        EventKind.PARKING_VIOLATION,
        fields={
            "rule": _RULE,
            "plate": _PLATE,
            "dwell_s": ("ParkingDuration", "Duration"),
            "object_classes": (CLASSES,),
        },
    ),
    # --- people and vehicles ---------------------------------------------------------------
    "NumberStat": EventRule(
        EventKind.PEOPLE_COUNT,
        fields={"count": ("Number", "EnteredNumber"), "rule": _RULE, "direction": ("Type",)},
    ),
    "ManNumDetection": _class(EventKind.PEOPLE_COUNT, "human", count=_PEOPLE),
    "FaceDetection": _class(EventKind.FACE_DETECTED, "face"),
    "FaceRecognition": EventRule(
        EventKind.FACE_DETECTED,
        fields={"rule": _RULE, "confidence": ("Candidates.0.Similarity", "Similarity")},
        constants={"object_class": "face", "detail": "recognition"},
        pulse=True,
    ),
    "HumanTrait": _class(EventKind.OBJECT_DETECTED, "human"),
    "TrafficJunction": EventRule(
        EventKind.PLATE_RECOGNIZED,
        fields={
            "plate": _PLATE,
            "object_classes": (CLASSES,),
            "confidence": ("TrafficCar.Confidence", "Object.Confidence"),
            "rule": _RULE,
        },
        constants={"object_class": "vehicle"},
        pulse=True,
    ),
    "TrafficParking": EventRule(
        EventKind.PARKING_VIOLATION,
        fields={"plate": _PLATE, "rule": _RULE, "dwell_s": ("ParkingDuration", "Duration")},
        constants={"object_class": "vehicle"},
    ),
    # --- fire and heat (thermal cameras) ---------------------------------------------------
    "FireWarning": EventRule(EventKind.FIRE, fields={"rule": _RULE, "temperature_c": _TEMPERATURE}),
    "SmokeDetection": EventRule(
        EventKind.FIRE, fields={"rule": _RULE}, constants={"detail": "smoke"}
    ),
    "HeatImagingTemper": EventRule(
        EventKind.TEMPERATURE_ALARM, fields={"rule": _RULE, "temperature_c": _TEMPERATURE}
    ),
    "BetweenRuleTemperatureAlarm": EventRule(
        EventKind.TEMPERATURE_ALARM, fields={"rule": _RULE, "temperature_c": _TEMPERATURE}
    ),
    # --- alarm inputs ----------------------------------------------------------------------
    "AlarmLocal": EventRule(
        EventKind.ALARM_INPUT, fields={"alarm_input": (NUMBER,)}, device_level=True
    ),
    "AlarmExtended": EventRule(
        EventKind.ALARM_INPUT,
        fields={"alarm_input": (NUMBER,)},
        constants={"detail": "extension"},
        device_level=True,
    ),
    # --- video and audio -------------------------------------------------------------------
    "VideoBlind": EventRule(EventKind.TAMPER),
    "VideoLoss": EventRule(EventKind.VIDEO_LOSS),
    "VideoAbnormalDetection": EventRule(EventKind.SCENE_CHANGE, fields={"detail": ("Type",)}),
    "VideoUnFocus": EventRule(EventKind.IMAGE_QUALITY, constants={"detail": "blurry"}),
    "AudioMutation": EventRule(EventKind.AUDIO_ALARM, constants={"detail": "sound_change"}),
    "AudioAnomaly": EventRule(EventKind.AUDIO_ALARM, fields={"detail": ("Type",)}),
    # --- the device ------------------------------------------------------------------------
    "StorageFailure": _device(EventKind.STORAGE_FAILURE, "storage_failure"),
    "StorageNotExist": _device(EventKind.STORAGE_FAILURE, "no_storage"),
    "StorageLowSpace": _device(EventKind.STORAGE_FAILURE, "low_space"),
    "NetAbort": _device(EventKind.NETWORK_FAILURE, "network_down"),
    "IPConflict": _device(EventKind.NETWORK_FAILURE, "ip_conflict"),
}

HEARTBEAT = "Heartbeat"
#: how a record names its channel, from 0 (``connectors.sdk.channels``)
INDEX = "index"
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
    data, unreadable = _data(data_text)
    index = fields.get(INDEX)
    channel = _channel(index, code, device)
    flat = flatten_json(data) if isinstance(data, dict) else {}
    if channel is not None:
        flat[NUMBER] = str(channel)
    classes = _classes(data)
    if classes:
        flat[CLASSES] = classes
    return VendorEvent(
        code=code,
        channel=channel,
        active=_ACTIVE[action],
        device_time=_device_time(data, now),
        fields=flat,
        discriminator=_discriminator(data),
        payload=text,
        raw=unreadable,
        channel_refs=(channel_ref(INDEX, channel - 1),) if channel is not None else (),
    )


def _classes(data: Any) -> str:
    """Every object type a record names (``Object``, each of ``Objects``), as the taxonomy spells them."""
    if not isinstance(data, dict):
        return ""
    listed = data.get("Objects")
    objects = [data.get("Object"), *(listed[:16] if isinstance(listed, list) else [])]
    types = [item.get("ObjectType") for item in objects if isinstance(item, dict)]
    types.append(data.get("ObjectType"))
    return class_list(" ".join(name for name in types if isinstance(name, str)))


def _data(text: str) -> tuple[Any, dict[str, str]]:
    """The record's ``data`` and, when it is not JSON (real firmware sends that), the raw text to
    keep with the event: the record's code, action and index still make an event."""
    if not text.strip():
        return {}, {}
    try:
        return json.loads(text), {}
    except (ValueError, RecursionError):
        return {}, unreadable_raw("data", text)


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

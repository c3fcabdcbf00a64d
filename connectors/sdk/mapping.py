"""Table-driven mapping from vendor event codes to the Tilik event taxonomy.

Each vendor's parser turns its wire format into ``VendorEvent`` (code, channel, state, time, flat
fields); each vendor declares one table ``{code: EventRule}``. ``EventMapper`` does the rest for
every vendor: ids, attributes extracted by the row's field names, unknown codes kept as
``UnparsedEvent`` and logged once per code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from lxml import etree
from pydantic import ValidationError

from connectors.sdk.base import UnparsedEvent
from connectors.sdk.channels import ChannelMap
from connectors.sdk.devicedata import device_model, finite_float
from connectors.sdk.xmlsafe import local_name
from topics.identity import camera_id as make_camera_id
from topics.identity import event_id as make_event_id
from topics.models import DeviceEvent, EventAttributes, EventKind, EventSource, ObjectClass

log = structlog.get_logger(__name__)

# Attributes live near the top of a payload; deeper nesting is not worth walking.
_MAX_DEPTH = 16


@dataclass(frozen=True)
class VendorEvent:
    """One vendor event as parsed from the wire, before mapping.

    ``channel`` is the 1-based channel number (None: the device itself) and ``channel_refs`` how
    the event names its channel, most telling first (``connectors.sdk.channels``); ``active`` is
    None for a pulse; ``discriminator`` tells apart two events of the same code and time (a device counter);
    ``raw`` is what of the event could not be read, kept as the device sent it (``unreadable_raw``).
    """

    code: str
    channel: int | None
    active: bool | None
    device_time: datetime
    fields: Mapping[str, str] = field(default_factory=dict)
    discriminator: str | None = None
    payload: str = ""
    raw: Mapping[str, str] = field(default_factory=dict)
    channel_refs: tuple[str, ...] = ()


#: how much of an unreadable value an event keeps (the catalog's ``LongText``)
RAW_VALUE_CHARS = 4096


def unreadable_raw(name: str, text: str) -> dict[str, str]:
    """An event's ``raw`` for a value ``name`` that could not be read: the text as sent (cut at
    the catalog's bound, and saying so), so an operator sees what the device meant."""
    raw = {name: text[:RAW_VALUE_CHARS], "unreadable": name}
    if len(text) > RAW_VALUE_CHARS:
        raw["truncated"] = "true"
    return raw


@dataclass(frozen=True)
class EventRule:
    """One table row: the kind a code maps to and where its attributes come from.

    ``fields`` maps an ``EventAttributes`` name to candidate vendor field names (first present
    wins); ``constants`` sets attributes outright; ``pulse`` events have no start/stop;
    ``heartbeat_when_inactive`` marks codes a device reuses, inactive, as its keepalive;
    ``device_level`` events (storage, network) concern the whole device, whatever channel or disk
    index they carry, and are filed under the device's first camera.
    """

    kind: EventKind
    fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    constants: Mapping[str, Any] = field(default_factory=dict)
    pulse: bool = False
    heartbeat_when_inactive: bool = False
    device_level: bool = False


_OBJECT_CLASSES: dict[str, ObjectClass] = {
    "human": ObjectClass.HUMAN,
    "person": ObjectClass.HUMAN,
    "people": ObjectClass.HUMAN,
    "face": ObjectClass.FACE,
    "vehicle": ObjectClass.VEHICLE,
    "motorvehicle": ObjectClass.VEHICLE,
    "car": ObjectClass.CAR,
    "motorcycle": ObjectClass.MOTORCYCLE,
    "nonmotor": ObjectClass.BICYCLE,
    "nonmotorvehicle": ObjectClass.BICYCLE,
    "bicycle": ObjectClass.BICYCLE,
    "bus": ObjectClass.BUS,
    "truck": ObjectClass.TRUCK,
    "animal": ObjectClass.ANIMAL,
    "plate": ObjectClass.LICENSE_PLATE,
}


def _object_class(value: str) -> ObjectClass:
    return _OBJECT_CLASSES.get(value.strip().lower().replace("_", ""), ObjectClass.OTHER)


def _confidence(value: str) -> float:
    # Vendors report 0-100; the taxonomy uses 0-1.
    number = finite_float(value)
    if number is None:
        raise ValueError("confidence is not a finite number")
    return number / 100 if number > 1 else number


_COERCE: dict[str, Callable[[str], Any]] = {
    "object_class": _object_class,
    "confidence": _confidence,
}


def extract_attributes(rule: EventRule, fields: Mapping[str, str]) -> EventAttributes:
    """The row's attributes from ``fields``; a value that does not validate is left out, not fatal."""
    values: dict[str, Any] = dict(rule.constants)
    for attribute, candidates in rule.fields.items():
        for name in candidates:
            raw = fields.get(name)
            if raw is None or raw == "":
                continue
            try:
                values[attribute] = _COERCE.get(attribute, str)(raw)
            except ValueError:
                continue
            break
    try:
        return EventAttributes.model_validate(values)
    except ValidationError:
        # Rare: drop only the values that are wrong (one validation per value, then the rest).
        good = {k: v for k, v in values.items() if _valid_attribute(k, v)}
        return EventAttributes.model_validate(good)


def _valid_attribute(name: str, value: Any) -> bool:
    try:
        EventAttributes.model_validate({name: value})
    except ValidationError:
        return False
    return True


def flatten_json(value: Any, prefix: str = "") -> dict[str, str]:
    """Scalar leaves of a JSON value by dotted path and, first occurrence wins, by leaf name."""
    fields: dict[str, str] = {}

    def walk(node: Any, path: str, leaf: str, depth: int = 0) -> None:
        if depth > _MAX_DEPTH:
            return
        if isinstance(node, dict):
            for key, child in node.items():
                walk(child, f"{path}.{key}" if path else str(key), str(key), depth + 1)
        elif isinstance(node, list):
            for index, child in enumerate(node[:64]):
                walk(child, f"{path}.{index}", leaf, depth + 1)
        elif node is not None:
            text = json.dumps(node) if isinstance(node, bool) else str(node)
            fields.setdefault(path, text)
            if leaf:
                fields.setdefault(leaf, text)

    walk(value, prefix, prefix)
    return fields


def flatten_xml(element: etree._Element) -> dict[str, str]:
    """Leaf texts keyed by dotted path below ``element`` and, first occurrence wins, by leaf name
    (a path wins over another element's leaf alias).

    ``<ANPR><licensePlate>H1</licensePlate></ANPR>`` gives ``{"ANPR.licensePlate": "H1",
    "licensePlate": "H1"}``: mapping tables name either.
    """
    paths: dict[str, str] = {}
    leaves: dict[str, str] = {}

    def walk(node: etree._Element, prefix: str) -> None:
        for child in node:
            name = local_name(child)
            if not name:
                continue
            path = f"{prefix}.{name}" if prefix else name
            if len(child):
                walk(child, path)
                continue
            text = (child.text or "").strip()
            if text:
                paths.setdefault(path, text)
                leaves.setdefault(name, text)

    walk(element, "")
    # A full path beats a leaf alias: top-level ``eventType`` is never a nested one's.
    return leaves | paths


@dataclass(frozen=True)
class DeviceContext:
    """What mapping needs to know about the device an event came from."""

    connector: str
    vendor: str
    serial: str
    device_id: str
    default_channel: int = 1


class EventMapper:
    """Applies one vendor's table; keeps the set of unknown codes it has already logged."""

    def __init__(self, table: Mapping[str, EventRule], *, case_sensitive: bool = True) -> None:
        self._case_sensitive = case_sensitive
        self._table = dict(table) if case_sensitive else {k.lower(): v for k, v in table.items()}
        self._unknown_logged: set[str] = set()

    def rule_for(self, code: str) -> EventRule | None:
        return self._table.get(code if self._case_sensitive else code.lower())

    def map(
        self,
        event: VendorEvent,
        device: DeviceContext,
        *,
        received_at: datetime,
        channels: ChannelMap | None = None,
    ) -> DeviceEvent | UnparsedEvent | None:
        """The normalised event; None for a keepalive; UnparsedEvent for a code not in the table.

        The event's camera is the one its channel references select in ``channels``, else the
        camera of its channel number. DeviceDataError when the event's values do not make a valid
        ``DeviceEvent``.
        """
        rule = self.rule_for(event.code)
        device_level = rule is not None and rule.device_level
        found = None if device_level or channels is None else channels.resolve(event.channel_refs)
        if found is not None:
            camera, source_channel = found.camera_id, found.channel
        else:
            source_channel = None if device_level else event.channel
            channel = source_channel if source_channel is not None else device.default_channel
            camera = make_camera_id(vendor=device.vendor, serial=device.serial, channel=channel)
        if rule is None:
            self._log_unknown(event.code, device)
            return UnparsedEvent(
                device_id=device.device_id,
                vendor_topic=event.code,
                payload=event.payload,
                reason=f"unknown {device.vendor} event code {event.code!r}",
                camera_id=camera,
            )
        if rule.heartbeat_when_inactive and event.active is False:
            return None
        with device_model(
            f"{device.vendor} event {event.code[:64]!r}",
            device=device.device_id,
            payload=event.payload,
        ):
            return self._event(rule, event, device, camera, source_channel, received_at)

    def _event(
        self,
        rule: EventRule,
        event: VendorEvent,
        device: DeviceContext,
        camera: str,
        source_channel: int | None,
        received_at: datetime,
    ) -> DeviceEvent:
        return DeviceEvent(
            event_id=make_event_id(
                camera_id=camera,
                vendor_topic=event.code,
                device_time=event.device_time,
                discriminator=(event.active, event.discriminator),
            ),
            camera_id=camera,
            kind=rule.kind,
            active=None if rule.pulse else event.active,
            device_time=event.device_time,
            received_at=received_at,
            source=EventSource(
                connector=device.connector,
                device_id=device.device_id,
                channel=source_channel,
                vendor_topic=event.code,
            ),
            attributes=extract_attributes(rule, event.fields),
            raw=dict(event.raw) or None,
        )

    def _log_unknown(self, code: str, device: DeviceContext) -> None:
        key = code if self._case_sensitive else code.lower()
        if key in self._unknown_logged or len(self._unknown_logged) >= 1024:
            return
        self._unknown_logged.add(key)
        log.warning(
            "unknown_vendor_event", vendor=device.vendor, code=code[:128], device=device.device_id
        )

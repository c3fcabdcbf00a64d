"""ONVIF event topics → Tilik's ``DeviceEvent`` taxonomy: one table row per topic, one shared extractor.

Why not ``onvif-parsers``: it maps topics to Home Assistant entities (platform, device class)
and needs zeep objects; Tilik needs its own taxonomy (``EventKind`` plus typed attributes), a
stable event id and raw retention of what it does not know. So the mapping here is data — a row
says which kind a topic is and which message item carries its state — and the extraction of
items, times and attributes is written once.

The rows come from the ONVIF Core and Analytics Service specifications (Profiles S, T and M),
the Axis ACAP applications' topics and the detector families consumer cameras use
(``RuleEngine/CellMotionDetector/People``, ``…/TPSmartEventDetector/TPSmartEvent`` with
``IsVehicle``, ``MyRuleDetector/DogCatDetect``): a family row names no kind, the detector's word
does (``connectors.sdk.vocabulary``). Data is read from SimpleItems and ElementItems alike. An
object class list keeps every class (``"Human Animal"``); an emptied list ends the detection;
a row whose state item is optional and absent is a pulse (``active`` None).

Topic matching is forgiving in the ways devices actually differ: namespace prefixes on any
segment (``tns1:``, ``tnsaxis:``), stray whitespace and case, item names in any case, and
vendor-specific trailing segments (a row for ``RuleEngine/OccupancyCounter`` matches
``…/OccupancyCounter/Occupancy``). A topic no row matches becomes an ``UnparsedEvent`` (kept raw
for the dead letters) and is logged once per process. So does a known topic whose values do not
make a valid event (a count of 1e400, a rule name longer than the catalog allows), as kind
``device_input``: ``parse`` never raises, so one bad notification costs neither the batch nor the
subscription.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from lxml import etree

from connectors.onvif.channels import event_refs
from connectors.sdk.base import UnparsedEvent
from connectors.sdk.channels import ChannelCamera, ChannelMap
from connectors.sdk.devicedata import aware_time, device_model, finite_float
from connectors.sdk.errors import DeviceDataError
from connectors.sdk.vocabulary import Detector, detector, object_classes
from connectors.sdk.xmlsafe import children_named, first, iter_named, local_name, text
from topics.identity import event_id
from topics.models import (
    DeadLetterKind,
    DeviceEvent,
    EventAttributes,
    EventKind,
    EventSource,
    ObjectClass,
    utcnow,
)

log = structlog.get_logger("connectors.onvif.event_topics")

CONNECTOR_NAME = "onvif"
_TRUE = frozenset({"true", "1", "yes", "on", "active"})
_FALSE = frozenset({"false", "0", "no", "off", "inactive"})


@dataclass(frozen=True)
class TopicRule:
    """One row of the table: a (normalised) topic, its kind and where its state is.

    ``kind`` None makes the row a detector family: the kind is the detector word (connectors.sdk.
    vocabulary) that the topic's next segment, an ``Is<Word>`` item or the detector's own segment
    names (``CellMotionDetector/People``, ``TPSmartEvent`` with ``IsVehicle``, ``FaceDetector``).
    The first present ``state_items`` item is ``active``; none present is an unparsed event
    unless ``optional_state`` (then a pulse). ``rule_in_topic``: the segments after the row name
    the rule (Axis: ``…/VMD/Camera1Profile1``).
    """

    topic: str
    kind: EventKind | None
    state_items: tuple[str, ...] = ()
    count_items: tuple[str, ...] = ()
    detail: str | None = None
    object_class: ObjectClass | None = None
    optional_state: bool = False
    rule_in_topic: bool = False


def _family(topic: str, *, optional_state: bool = False) -> TopicRule:
    return TopicRule(topic, None, ("State",), optional_state=optional_state)


def _axis_app(app: str, kind: EventKind, **extra: Any) -> TopicRule:
    """An AXIS Camera Application Platform (ACAP) application: ``active`` per profile/scenario."""
    return TopicRule(
        f"CameraApplicationPlatform/{app}", kind, ("active", "State"), rule_in_topic=True, **extra
    )


_STORAGE = ("Failed", "State", "disruption")

RULES: tuple[TopicRule, ...] = (
    # --- ONVIF Core: video source, device, triggers ------------------------------------------
    TopicRule("VideoSource/MotionAlarm", EventKind.MOTION, ("State",)),
    TopicRule("VideoSource/GlobalSceneChange", EventKind.SCENE_CHANGE, ("State",)),
    TopicRule("VideoSource/ImageTooBlurry", EventKind.IMAGE_QUALITY, ("State",), detail="blurry"),
    TopicRule("VideoSource/ImageTooDark", EventKind.IMAGE_QUALITY, ("State",), detail="dark"),
    TopicRule("VideoSource/ImageTooBright", EventKind.IMAGE_QUALITY, ("State",), detail="bright"),
    TopicRule("VideoSource/SignalLoss", EventKind.VIDEO_LOSS, ("State",)),
    TopicRule("Device/Trigger/DigitalInput", EventKind.ALARM_INPUT, ("LogicalState", "State")),
    # Vendor alarm inputs: tns1:Device/Trigger/tnshik:AlarmIn and the like.
    TopicRule("Device/Trigger/AlarmIn", EventKind.ALARM_INPUT, ("State", "LogicalState")),
    TopicRule("Device/HardwareFailure/StorageFailure", EventKind.STORAGE_FAILURE, _STORAGE),
    # --- ONVIF Analytics Service rule engine (Profiles S, T, M) -----------------------------
    _family("RuleEngine/CellMotionDetector"),  # Motion (IsMotion); People, Vehicle, Pet, … (Tapo)
    TopicRule("RuleEngine/MotionRegionDetector/Motion", EventKind.MOTION, ("State", "IsMotion")),
    TopicRule("RuleEngine/DeclarativeMotionDetector", EventKind.MOTION),
    TopicRule("RuleEngine/FieldDetector/ObjectsInside", EventKind.INTRUSION, ("IsInside",)),
    TopicRule("RuleEngine/LineDetector/Crossed", EventKind.LINE_CROSSING),
    TopicRule("RuleEngine/TamperDetector", EventKind.TAMPER, ("IsTamper", "State")),
    TopicRule(
        "RuleEngine/LoiteringDetector", EventKind.LOITERING, ("IsLoitering", "State", "IsInside")
    ),
    TopicRule(
        "RuleEngine/CountAggregation/Counter", EventKind.OBJECT_COUNT, count_items=("Count",)
    ),
    TopicRule("RuleEngine/LineCrossingCounter", EventKind.OBJECT_COUNT, count_items=("Count",)),
    TopicRule(
        "RuleEngine/OccupancyCounter",
        EventKind.PEOPLE_COUNT,
        count_items=("Count", "Occupancy", "Value"),
        object_class=ObjectClass.HUMAN,
    ),
    # Object classification: ClassTypes is a list ("Human Animal"); emptied, the detection ended.
    TopicRule(
        "RuleEngine/ObjectDetection", EventKind.OBJECT_DETECTED, ("State",), optional_state=True
    ),
    TopicRule(
        "RuleEngine/Recognition/Face",
        EventKind.FACE_DETECTED,
        object_class=ObjectClass.FACE,
    ),
    TopicRule(
        "RuleEngine/Recognition/LicensePlate",
        EventKind.PLATE_RECOGNIZED,
        object_class=ObjectClass.VEHICLE,
    ),
    TopicRule("AudioAnalytics/Audio/DetectedSound", EventKind.AUDIO_ALARM),
    TopicRule("VideoAnalytics/Motion", EventKind.MOTION, ("State", "IsMotion")),
    TopicRule("VideoAnalytics/MotionDetection", EventKind.MOTION, ("motion", "State")),
    # --- vendor detector families -----------------------------------------------------------
    _family("RuleEngine/MyRuleDetector", optional_state=True),  # PeopleDetect, DogCatDetect, …
    _family("RuleEngine/*SmartEventDetector", optional_state=True),  # TPSmartEvent + IsPeople, …
    _family("RuleEngine/*Detector", optional_state=True),  # PeopleDetector/People, FaceDetector, …
    _family("UserAlarm/IVA", optional_state=True),  # HumanShapeDetect, …
    # --- Axis: device, storage, audio, ACAP applications ------------------------------------
    TopicRule(
        "VideoSource/Tampering", EventKind.TAMPER, ("State", "tampering"), optional_state=True
    ),
    TopicRule("Device/IO/Port", EventKind.ALARM_INPUT, ("state", "active")),
    TopicRule(
        "Device/IO/VirtualInput", EventKind.ALARM_INPUT, ("active", "state"), detail="virtual"
    ),
    TopicRule("Device/Sensor/PIR", EventKind.MOTION, ("state", "active"), detail="pir"),
    TopicRule("Device/Network/Lost", EventKind.NETWORK_FAILURE, ("lost",), detail="network_down"),
    TopicRule("Storage/Disruption", EventKind.STORAGE_FAILURE, _STORAGE),
    TopicRule("Storage/Alert", EventKind.STORAGE_FAILURE, ("alert",), detail="storage_alert"),
    TopicRule("AudioSource/TriggerLevel", EventKind.AUDIO_ALARM, ("triggered", "State")),
    _axis_app("VMD", EventKind.MOTION),
    _axis_app("MotionGuard", EventKind.INTRUSION),
    _axis_app("FenceGuard", EventKind.LINE_CROSSING),
    _axis_app("LoiteringGuard", EventKind.LOITERING),
    _axis_app("PerimeterDefender", EventKind.INTRUSION),
    _axis_app("ObjectAnalytics", EventKind.OBJECT_DETECTED, optional_state=True),
)

_PREFIX = re.compile(r"^[A-Za-z_][\w.\-]*:")
#: Data items that carry an object class list, in the order they are read
_CLASS_ITEMS = ("ClassTypes", "ClassType", "ObjectType", "ObjectClass", "Class", "classTypes")
_RULE_ITEMS = ("Rule", "RuleName")
_REGION_ITEMS = ("Region", "RegionName", "Zone", "window")
_PLATE_ITEMS = ("PlateNumber", "LicensePlate", "Plate", "PlateText")
_TEMPERATURE_ITEMS = ("Temperature", "MaxTemperature", "CurrentTemperature")
_INPUT_ITEMS = ("InputToken", "AlarmInToken", "DigitalInputToken", "port", "Input", "Index")
#: state items any family or vendor may use besides its own
_GENERIC_STATE = ("State", "active", "state", "LogicalState")
#: leaves of one ElementItem read (an ElementItem is the device's own XML)
_MAX_ELEMENT_LEAVES = 256


def normalise_topic(topic: str) -> str:
    """``' tns1:RuleEngine/ tnsaxis:Cell…'`` → ``'RuleEngine/Cell…'``: no prefixes, no whitespace."""
    segments = ("".join(segment.split()) for segment in topic.strip().split("/"))
    return "/".join(_PREFIX.sub("", s) for s in segments if s)


_BY_TOPIC: dict[str, TopicRule] = {
    normalise_topic(r.topic).lower(): r for r in RULES if "*" not in r.topic
}
#: rows with a ``*Suffix`` segment, tried in table order after every exact row
_WILDCARDS: tuple[tuple[tuple[str, ...], TopicRule], ...] = tuple(
    (tuple(normalise_topic(r.topic).lower().split("/")), r) for r in RULES if "*" in r.topic
)


@dataclass(frozen=True)
class TopicMatch:
    """A row and how it matched: the topic's segments it covered and the ones after them."""

    rule: TopicRule
    matched: tuple[str, ...]
    rest: tuple[str, ...]


def _segment_matches(pattern: str, segment: str) -> bool:
    if pattern.startswith("*"):
        return segment.endswith(pattern[1:]) and len(segment) > len(pattern) - 1
    return pattern == segment


def match_topic(topic: str) -> TopicMatch | None:
    """The row for a topic: an exact match, else the longest row the topic starts with, else the
    first wildcard row (``RuleEngine/*Detector``) it fits."""
    segments = normalise_topic(topic).split("/")
    lowered = [s.lower() for s in segments]
    for end in range(len(lowered), 1, -1):
        rule = _BY_TOPIC.get("/".join(lowered[:end]))
        if rule is not None:
            return TopicMatch(rule, tuple(segments[:end]), tuple(segments[end:]))
    for pattern, rule in _WILDCARDS:
        size = len(pattern)
        if len(lowered) >= size and all(map(_segment_matches, pattern, lowered[:size])):
            return TopicMatch(rule, tuple(segments[:size]), tuple(segments[size:]))
    return None


def rule_for(topic: str) -> TopicRule | None:
    """The row for a topic (``match_topic`` without how it matched)."""
    match = match_topic(topic)
    return None if match is None else match.rule


@dataclass
class NotificationFields:
    """What every ONVIF notification carries, extracted once for every row.

    ``source`` and ``data`` hold the SimpleItems and, flattened, the ElementItems: an
    ElementItem's leaves by dotted path (``LicensePlateInfo.PlateNumber``) and by leaf name, and
    its own name when it holds one value.
    """

    topic: str
    utc_time: datetime | None
    operation: str | None
    source: dict[str, str] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._source = {name.lower(): value for name, value in reversed(self.source.items())}
        self._data = {name.lower(): value for name, value in reversed(self.data.items())}

    def item(self, names: Iterable[str], *, source: bool = False) -> tuple[str, str] | None:
        """The first of ``names`` present (any case) in Data (or Source): its name and value."""
        items = self._source if source else self._data
        for name in names:
            value = items.get(name.lower())
            if value is not None:
                return name, value
        return None

    def value(self, names: Iterable[str], *, source: bool = False) -> str | None:
        found = self.item(names, source=source)
        return None if found is None else found[1]


def _clean(value: str) -> str:
    return " ".join(value.split())


def _items(parent: etree._Element | None) -> dict[str, str]:
    if parent is None:
        return {}
    items: dict[str, str] = {}
    for item in iter_named(parent, "SimpleItem"):
        name, value = item.get("Name"), item.get("Value")
        if name and value is not None:
            items[name.strip()] = _clean(value)
    for element_item in iter_named(parent, "ElementItem"):
        name = (element_item.get("Name") or "").strip()
        if name:
            _element_leaves(element_item, name, items)
    return items


def _element_leaves(element_item: etree._Element, name: str, items: dict[str, str]) -> None:
    """An ElementItem's leaf texts and attributes, by path below ``name`` and by leaf name."""
    texts: list[str] = []
    seen = 0

    def walk(node: etree._Element, path: str) -> None:
        nonlocal seen
        for child in node:
            leaf = local_name(child)
            if not leaf or seen >= _MAX_ELEMENT_LEAVES:
                continue
            seen += 1
            child_path = f"{path}.{leaf}"
            for attribute, value in child.attrib.items():
                attribute_name = local_name_of(attribute)
                items.setdefault(f"{child_path}@{attribute_name}", _clean(value))
                items.setdefault(attribute_name, _clean(value))
            if len(child):
                walk(child, child_path)
            elif child.text and child.text.strip():
                value = _clean(child.text)
                texts.append(value)
                items.setdefault(child_path, value)
                items.setdefault(leaf, value)

    walk(element_item, name)
    if len(texts) == 1:
        items.setdefault(name, texts[0])


def local_name_of(qualified: str) -> str:
    """``'{ns}Name'`` → ``'Name'``."""
    return qualified.rpartition("}")[2]


def _utc(value: str | None) -> datetime | None:
    moment = aware_time(value)
    return None if moment is None else moment.astimezone(UTC)


def notification_fields(notification: etree._Element) -> NotificationFields:
    """Topic, device time, property operation, Source and Data items of a NotificationMessage."""
    topic = text(notification, "Topic") or ""
    message = first(notification, "Message", "Message")
    if message is None:
        message = first(notification, "Message")
    source_node = first(message, "Source") if message is not None else None
    data_node = first(message, "Data") if message is not None else None
    return NotificationFields(
        topic=" ".join(topic.split()),
        utc_time=_utc(message.get("UtcTime")) if message is not None else None,
        operation=message.get("PropertyOperation") if message is not None else None,
        source=_items(source_node),
        data=_items(data_node),
    )


def _bool(value: str | None) -> bool | None:
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


@dataclass(frozen=True)
class Reading:
    """What one notification says under its row: kind, class, detail and state."""

    kind: EventKind
    object_class: ObjectClass | None
    detail: str | None
    active: bool | None
    classes: list[ObjectClass] | None  # None: the device named no class list


def _detector(match: TopicMatch, fields: NotificationFields) -> tuple[Detector, str | None] | None:
    """A family's detector: named by a segment after the row, an ``Is<Word>`` item (preferring
    one that is true) or the detector's own segment; with the item that carries its state."""
    for segment in match.rest:
        found = detector(segment)
        if found is not None:
            return found, f"Is{segment}"
    flagged = [
        (name, _bool(value)) for name, value in fields.data.items() if name[:2].lower() == "is"
    ]
    for name, state in sorted(flagged, key=lambda item: item[1] is not True):
        found = detector(name)
        if state is not None and found is not None:
            return found, name
    found = detector(match.matched[-1])
    return None if found is None else (found, None)


def _classes(fields: NotificationFields) -> list[ObjectClass] | None:
    value = fields.value(_CLASS_ITEMS)
    if value is None:
        # An ElementItem's classification: …Class.ClassCandidate.Type, …Class.Type
        value = next(
            (
                v
                for k, v in fields.data.items()
                if "." in k and k.lower().endswith(".type") and "class" in k.lower()
            ),
            None,
        )
    return None if value is None else object_classes(value)


class Unreadable(Exception):
    """A notification its row cannot read; the message is the dead letter's reason."""


def read(match: TopicMatch, fields: NotificationFields) -> Reading:
    """Kind, class, detail and state of a notification under its row (``Unreadable`` if none)."""
    rule = match.rule
    state_items = rule.state_items
    kind, object_class, detail = rule.kind, rule.object_class, rule.detail
    if kind is None:
        found = _detector(match, fields)
        if found is None:
            raise Unreadable("no parser for this event topic")
        named, item = found
        kind, object_class = named.kind, object_class or named.object_class
        detail = detail or named.detail
        state_items = (item, *state_items) if item else state_items
    classes = _classes(fields)
    state = fields.item(state_items)
    if state is None and (rule.kind is None or rule.optional_state):
        state = fields.item(_GENERIC_STATE) or next(
            (
                (n, v)
                for n, v in fields.data.items()
                if n[:2].lower() == "is" and _bool(v) is not None
            ),
            None,
        )
    if state is not None:
        active = _bool(state[1])
        if active is None:
            raise Unreadable(f"event has no boolean {state[0]} item")
    elif state_items and not rule.optional_state:
        raise Unreadable(f"event has no boolean {'/'.join(state_items)} item")
    else:
        # A class list emptied ("cleared") ends the detection; without one it is a pulse.
        active = False if classes == [] else None
    return Reading(kind, object_class, detail, active, classes)


def _count(rule: TopicRule, fields: NotificationFields) -> int | None:
    found = fields.value(rule.count_items)
    if found is None:
        return None
    # Counters arrive as "17", "42.0" or "1e3"; a count is whole and not negative.
    value = finite_float(found)
    return None if value is None else max(0, int(value))


def _confidence(fields: NotificationFields) -> float | None:
    found = fields.value(("Likelihood", "Confidence"))
    if found is None:
        return None
    value = finite_float(found)
    if value is None:
        return None
    return value / 100 if value > 1 else max(0.0, value)


def _either(fields: NotificationFields, names: tuple[str, ...]) -> str | None:
    return fields.value(names, source=True) or fields.value(names) or None


def attributes(match: TopicMatch, fields: NotificationFields, reading: Reading) -> EventAttributes:
    rule = match.rule
    rule_name = _either(fields, _RULE_ITEMS)
    if rule_name is None and rule.rule_in_topic and match.rest:
        rule_name = "/".join(match.rest)
    temperature = fields.value(_TEMPERATURE_ITEMS)
    return EventAttributes(
        count=_count(rule, fields),
        object_class=reading.object_class,
        object_classes=reading.classes or None,
        rule=rule_name,
        region=_either(fields, _REGION_ITEMS),
        alarm_input=_either(fields, _INPUT_ITEMS)
        if reading.kind is EventKind.ALARM_INPUT
        else None,
        plate=fields.value(_PLATE_ITEMS) or None,
        temperature_c=None if temperature is None else finite_float(temperature),
        direction=fields.value(("Direction",)) or None,
        confidence=_confidence(fields),
        detail=reading.detail,
    )


class TopicParser:
    """Turns NotificationMessages of one device into events; logs each unknown topic once.

    An event's camera is the one its Source items select in the device's channel map
    (``connectors.onvif.channels``), else the device's first camera, else ``camera_id``.
    """

    _logged_unknown: set[str] = set()

    def __init__(self, *, camera_id: str, device_id: str, channel: int | None = None) -> None:
        self.camera_id = camera_id
        self.device_id = device_id
        self.channel = channel

    def camera_for(self, fields: NotificationFields, channels: ChannelMap | None) -> ChannelCamera:
        """The camera whose channel the notification's Source items name."""
        first = channels.first if channels is not None else None
        if channels is None or first is None:
            return ChannelCamera(self.camera_id, self.channel)
        return channels.resolve(event_refs(fields.source)) or first

    def parse(
        self, notification: etree._Element, channels: ChannelMap | None = None
    ) -> DeviceEvent | UnparsedEvent:
        fields = notification_fields(notification)
        camera = self.camera_for(fields, channels)
        match = match_topic(fields.topic) if fields.topic else None
        if match is None:
            return self._unparsed(
                notification, fields.topic, "no parser for this event topic", camera
            )
        try:
            reading = read(match, fields)
        except Unreadable as exc:
            return self._unparsed(notification, fields.topic, str(exc), camera)
        rule = match.rule
        if rule.count_items and _count(rule, fields) is None:
            return self._unparsed(
                notification,
                fields.topic,
                f"event has no numeric {'/'.join(rule.count_items)} item",
                camera,
            )
        try:
            with device_model(f"ONVIF event {fields.topic[:128]!r}", device=self.device_id):
                return self._event(match, fields, reading, camera)
        except DeviceDataError as exc:
            return self._unparsed(
                notification, fields.topic, str(exc), camera, kind=DeadLetterKind.DEVICE_INPUT
            )

    def _event(
        self,
        match: TopicMatch,
        fields: NotificationFields,
        reading: Reading,
        camera: ChannelCamera,
    ) -> DeviceEvent:
        received = utcnow()
        device_time = fields.utc_time or received
        return DeviceEvent(
            event_id=event_id(
                camera_id=camera.camera_id,
                vendor_topic=normalise_topic(fields.topic),
                device_time=device_time,
                discriminator=(
                    fields.operation,
                    sorted(fields.source.items()),
                    sorted(fields.data.items()),
                ),
            ),
            camera_id=camera.camera_id,
            kind=reading.kind,
            active=reading.active,
            device_time=device_time,
            received_at=received,
            source=EventSource(
                connector=CONNECTOR_NAME,
                device_id=self.device_id,
                channel=camera.channel,
                vendor_topic=fields.topic[:4096],
            ),
            attributes=attributes(match, fields, reading),
        )

    def _unparsed(
        self,
        notification: etree._Element,
        topic: str,
        reason: str,
        camera: ChannelCamera,
        *,
        kind: DeadLetterKind = DeadLetterKind.UNKNOWN_EVENT,
    ) -> UnparsedEvent:
        key = normalise_topic(topic).lower()
        if key not in TopicParser._logged_unknown and len(TopicParser._logged_unknown) < 10_000:
            TopicParser._logged_unknown.add(key)
            log.warning(
                "onvif.event.unparsed", topic=topic[:256], reason=reason, device=self.device_id
            )
        return UnparsedEvent(
            device_id=self.device_id,
            vendor_topic=topic,
            payload=etree.tostring(notification, encoding="unicode")[:1_000_000],
            reason=reason,
            camera_id=camera.camera_id,
            kind=kind,
        )


def notifications(body: etree._Element) -> list[etree._Element]:
    """The NotificationMessage elements of a PullMessages reply (or a Notify)."""
    found = list(iter_named(body, "NotificationMessage"))
    return found or children_named(body, "NotificationMessage")

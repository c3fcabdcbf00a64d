"""ONVIF event topics → Tilik's ``DeviceEvent`` taxonomy: one table row per topic, one shared extractor.

Why not ``onvif-parsers``: it maps topics to Home Assistant entities (platform, device class)
and needs zeep objects; Tilik needs its own taxonomy (``EventKind`` plus typed attributes), a
stable event id and raw retention of what it does not know. So the mapping here is data — a row
says which kind a topic is and which message item carries its state — and the extraction of
items, times and attributes is written once.

Topic matching is forgiving in the ways devices actually differ: namespace prefixes on any
segment (``tns1:``, ``tnsaxis:``), stray whitespace and case, and vendor-specific trailing
segments (a row for ``RuleEngine/OccupancyCounter`` matches ``…/OccupancyCounter/Occupancy``).
A topic no row matches becomes an ``UnparsedEvent`` (kept raw for the dead letters) and is
logged once per process. So does a known topic whose values do not make a valid event (a count
of 1e400, a rule name longer than the catalog allows), as kind ``device_input``: ``parse`` never
raises, so one bad notification costs neither the batch nor the subscription.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from lxml import etree

from connectors.sdk.base import UnparsedEvent
from connectors.sdk.devicedata import aware_time, device_model, finite_float
from connectors.sdk.errors import DeviceDataError
from connectors.sdk.xmlsafe import children_named, first, iter_named, text
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
    """One row of the table: a (normalised) topic, its kind and where its state is."""

    topic: str
    kind: EventKind
    state_items: tuple[str, ...] = ()  # first present boolean item is ``active``; () = a pulse
    count_items: tuple[str, ...] = ()
    detail: str | None = None
    object_class: ObjectClass | None = None


RULES: tuple[TopicRule, ...] = (
    TopicRule("VideoSource/MotionAlarm", EventKind.MOTION, ("State",)),
    TopicRule("RuleEngine/CellMotionDetector/Motion", EventKind.MOTION, ("IsMotion",)),
    TopicRule("RuleEngine/MotionRegionDetector/Motion", EventKind.MOTION, ("State", "IsMotion")),
    TopicRule("VideoAnalytics/Motion", EventKind.MOTION, ("State", "IsMotion")),
    TopicRule("RuleEngine/FieldDetector/ObjectsInside", EventKind.INTRUSION, ("IsInside",)),
    TopicRule("RuleEngine/LineDetector/Crossed", EventKind.LINE_CROSSING),
    TopicRule("RuleEngine/TamperDetector/Tamper", EventKind.TAMPER, ("IsTamper", "State")),
    TopicRule("VideoSource/GlobalSceneChange", EventKind.SCENE_CHANGE, ("State",)),
    TopicRule("VideoSource/ImageTooBlurry", EventKind.IMAGE_QUALITY, ("State",), detail="blurry"),
    TopicRule("VideoSource/ImageTooDark", EventKind.IMAGE_QUALITY, ("State",), detail="dark"),
    TopicRule("VideoSource/ImageTooBright", EventKind.IMAGE_QUALITY, ("State",), detail="bright"),
    TopicRule("VideoSource/SignalLoss", EventKind.VIDEO_LOSS, ("State",)),
    TopicRule(
        "RuleEngine/CountAggregation/Counter", EventKind.OBJECT_COUNT, count_items=("Count",)
    ),
    TopicRule(
        "RuleEngine/OccupancyCounter",
        EventKind.PEOPLE_COUNT,
        count_items=("Count", "Occupancy", "Value"),
        object_class=ObjectClass.HUMAN,
    ),
    TopicRule("RuleEngine/ObjectDetection/Object", EventKind.OBJECT_DETECTED),
    TopicRule(
        "RuleEngine/LoiteringDetector", EventKind.LOITERING, ("IsLoitering", "State", "IsInside")
    ),
    TopicRule(
        "Device/HardwareFailure/StorageFailure",
        EventKind.STORAGE_FAILURE,
        ("Failed", "State"),
        detail="storage",
    ),
    # Vendor variants seen in the field (Reolink/Dahua "MyRuleDetector", Hikvision, Tapo).
    TopicRule(
        "RuleEngine/MyRuleDetector/PeopleDetect",
        EventKind.OBJECT_DETECTED,
        ("State",),
        object_class=ObjectClass.HUMAN,
    ),
    TopicRule(
        "RuleEngine/MyRuleDetector/VehicleDetect",
        EventKind.OBJECT_DETECTED,
        ("State",),
        object_class=ObjectClass.VEHICLE,
    ),
    TopicRule(
        "RuleEngine/MyRuleDetector/FaceDetect",
        EventKind.OBJECT_DETECTED,
        ("State",),
        object_class=ObjectClass.FACE,
    ),
    TopicRule(
        "RuleEngine/MyRuleDetector/DogCatDetect",
        EventKind.OBJECT_DETECTED,
        ("State",),
        object_class=ObjectClass.ANIMAL,
    ),
    TopicRule("RuleEngine/MyRuleDetector/Motion", EventKind.MOTION, ("State", "IsMotion")),
    TopicRule(
        "RuleEngine/PeopleDetector/People",
        EventKind.OBJECT_DETECTED,
        ("IsPeople", "State"),
        object_class=ObjectClass.HUMAN,
    ),
    TopicRule(
        "RuleEngine/VehicleDetector/Vehicle",
        EventKind.OBJECT_DETECTED,
        ("IsVehicle", "State"),
        object_class=ObjectClass.VEHICLE,
    ),
    TopicRule(
        "UserAlarm/IVA/HumanShapeDetect",
        EventKind.OBJECT_DETECTED,
        ("IsHumanShape", "State", "IsPeople"),
        object_class=ObjectClass.HUMAN,
    ),
    TopicRule(
        "Device/Trigger/DigitalInput",
        EventKind.INTRUSION,
        ("LogicalState", "State"),
        detail="digital_input",
    ),
)

_PREFIX = re.compile(r"^[A-Za-z_][\w.\-]*:")
_CLASS_WORDS: dict[str, ObjectClass] = {
    "human": ObjectClass.HUMAN,
    "person": ObjectClass.HUMAN,
    "people": ObjectClass.HUMAN,
    "face": ObjectClass.FACE,
    "vehicle": ObjectClass.VEHICLE,
    "vehical": ObjectClass.VEHICLE,
    "car": ObjectClass.CAR,
    "motorcycle": ObjectClass.MOTORCYCLE,
    "motorbike": ObjectClass.MOTORCYCLE,
    "bike": ObjectClass.BICYCLE,
    "bicycle": ObjectClass.BICYCLE,
    "bus": ObjectClass.BUS,
    "truck": ObjectClass.TRUCK,
    "animal": ObjectClass.ANIMAL,
    "licenseplate": ObjectClass.LICENSE_PLATE,
    "plate": ObjectClass.LICENSE_PLATE,
}


def normalise_topic(topic: str) -> str:
    """``' tns1:RuleEngine/ tnsaxis:Cell…'`` → ``'RuleEngine/Cell…'``: no prefixes, no whitespace."""
    segments = ("".join(segment.split()) for segment in topic.strip().split("/"))
    return "/".join(_PREFIX.sub("", s) for s in segments if s)


_BY_TOPIC: dict[str, TopicRule] = {normalise_topic(r.topic).lower(): r for r in RULES}


def rule_for(topic: str) -> TopicRule | None:
    """The row for a topic: an exact match, else the longest row the topic starts with."""
    segments = normalise_topic(topic).lower().split("/")
    for end in range(len(segments), 1, -1):
        rule = _BY_TOPIC.get("/".join(segments[:end]))
        if rule is not None:
            return rule
    return None


@dataclass
class NotificationFields:
    """What every ONVIF notification carries, extracted once for every row."""

    topic: str
    utc_time: datetime | None
    operation: str | None
    source: dict[str, str] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)


def _items(parent: etree._Element | None) -> dict[str, str]:
    if parent is None:
        return {}
    items: dict[str, str] = {}
    for item in iter_named(parent, "SimpleItem"):
        name, value = item.get("Name"), item.get("Value")
        if name and value is not None:
            items[name.strip()] = " ".join(value.split())
    return items


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


def _object_class(value: str | None) -> ObjectClass | None:
    if not value:
        return None
    for word in re.split(r"[\s,;|]+", value.strip().lower()):
        if word in _CLASS_WORDS:
            return _CLASS_WORDS[word]
    return ObjectClass.OTHER


def _count(rule: TopicRule, data: dict[str, str]) -> int | None:
    for name in rule.count_items:
        if name in data:
            # Counters arrive as "17", "42.0" or "1e3"; a count is whole and not negative.
            value = finite_float(data[name])
            return None if value is None else max(0, int(value))
    return None


def _confidence(data: dict[str, str]) -> float | None:
    for name in ("Likelihood", "Confidence"):
        if name in data:
            value = finite_float(data[name])
            if value is None:
                return None
            return value / 100 if value > 1 else max(0.0, value)
    return None


def attributes(rule: TopicRule, fields: NotificationFields) -> EventAttributes:
    data, source = fields.data, fields.source
    return EventAttributes(
        count=_count(rule, data),
        object_class=rule.object_class
        or _object_class(data.get("ClassTypes") or data.get("ObjectType") or data.get("Class")),
        rule=(source.get("Rule") or data.get("Rule") or None),
        region=source.get("Region") or data.get("Region") or None,
        direction=data.get("Direction") or None,
        confidence=_confidence(data),
        detail=rule.detail,
    )


class TopicParser:
    """Turns NotificationMessages of one camera into events; logs each unknown topic once."""

    _logged_unknown: set[str] = set()

    def __init__(self, *, camera_id: str, device_id: str, channel: int | None = None) -> None:
        self.camera_id = camera_id
        self.device_id = device_id
        self.channel = channel

    def parse(self, notification: etree._Element) -> DeviceEvent | UnparsedEvent:
        fields = notification_fields(notification)
        rule = rule_for(fields.topic) if fields.topic else None
        if rule is None:
            return self._unparsed(notification, fields.topic, "no parser for this event topic")
        active: bool | None = None
        if rule.state_items:
            state = next((fields.data[n] for n in rule.state_items if n in fields.data), None)
            active = _bool(state)
            if active is None:
                return self._unparsed(
                    notification,
                    fields.topic,
                    f"event has no boolean {'/'.join(rule.state_items)} item",
                )
        if rule.count_items and _count(rule, fields.data) is None:
            return self._unparsed(
                notification,
                fields.topic,
                f"event has no numeric {'/'.join(rule.count_items)} item",
            )
        try:
            with device_model(f"ONVIF event {fields.topic[:128]!r}", device=self.device_id):
                return self._event(rule, fields, active)
        except DeviceDataError as exc:
            return self._unparsed(
                notification, fields.topic, str(exc), kind=DeadLetterKind.DEVICE_INPUT
            )

    def _event(
        self, rule: TopicRule, fields: NotificationFields, active: bool | None
    ) -> DeviceEvent:
        received = utcnow()
        device_time = fields.utc_time or received
        return DeviceEvent(
            event_id=event_id(
                camera_id=self.camera_id,
                vendor_topic=normalise_topic(fields.topic),
                device_time=device_time,
                discriminator=(
                    fields.operation,
                    sorted(fields.source.items()),
                    sorted(fields.data.items()),
                ),
            ),
            camera_id=self.camera_id,
            kind=rule.kind,
            active=active,
            device_time=device_time,
            received_at=received,
            source=EventSource(
                connector=CONNECTOR_NAME,
                device_id=self.device_id,
                channel=self.channel,
                vendor_topic=fields.topic[:4096],
            ),
            attributes=attributes(rule, fields),
        )

    def _unparsed(
        self,
        notification: etree._Element,
        topic: str,
        reason: str,
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
            camera_id=self.camera_id,
            kind=kind,
        )


def notifications(body: etree._Element) -> list[etree._Element]:
    """The NotificationMessage elements of a PullMessages reply (or a Notify)."""
    found = list(iter_named(body, "NotificationMessage"))
    return found or children_named(body, "NotificationMessage")

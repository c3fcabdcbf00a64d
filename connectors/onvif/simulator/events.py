"""Event topics of a simulated camera: the topic table, vendor spellings and seeded event draws."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import uuid
from dataclasses import dataclass
from enum import StrEnum

from connectors.onvif.simulator.soap import attr, text, xml_datetime

TOPIC_DIALECT = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"


class SourceKind(StrEnum):
    """Which Source items a topic carries."""

    VIDEO_SOURCE = "video_source"
    RULE = "rule"
    STORAGE = "storage"


class ValueKind(StrEnum):
    """How a Data item's value is drawn."""

    STATE = "state"  # a boolean property that toggles, so true is followed by false
    COUNT = "count"
    OBJECT_ID = "object_id"
    CLASS_TYPE = "class_type"
    OPAQUE = "opaque"


@dataclass(frozen=True)
class TopicSpec:
    """One event topic a camera can raise: its Source shape and its Data items."""

    topic: str
    source: SourceKind
    data: tuple[tuple[str, ValueKind], ...]
    rule: str = ""
    is_property: bool = True


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(
        "tns1:VideoSource/MotionAlarm", SourceKind.VIDEO_SOURCE, (("State", ValueKind.STATE),)
    ),
    TopicSpec(
        "tns1:RuleEngine/CellMotionDetector/Motion",
        SourceKind.RULE,
        (("IsMotion", ValueKind.STATE),),
        rule="MyMotionDetectorRule",
    ),
    TopicSpec(
        "tns1:RuleEngine/FieldDetector/ObjectsInside",
        SourceKind.RULE,
        (("IsInside", ValueKind.STATE),),
        rule="MyFieldDetector1",
    ),
    TopicSpec(
        "tns1:RuleEngine/LineDetector/Crossed",
        SourceKind.RULE,
        (("ObjectId", ValueKind.OBJECT_ID),),
        rule="MyLineDetector1",
        is_property=False,
    ),
    TopicSpec(
        "tns1:RuleEngine/TamperDetector/Tamper",
        SourceKind.RULE,
        (("IsTamper", ValueKind.STATE),),
        rule="MyTamperDetectorRule",
    ),
    TopicSpec(
        "tns1:VideoSource/GlobalSceneChange/ImagingService",
        SourceKind.VIDEO_SOURCE,
        (("State", ValueKind.STATE),),
    ),
    TopicSpec(
        "tns1:VideoSource/ImageTooBlurry/AnalyticsService",
        SourceKind.VIDEO_SOURCE,
        (("State", ValueKind.STATE),),
    ),
    TopicSpec(
        "tns1:VideoSource/ImageTooDark/AnalyticsService",
        SourceKind.VIDEO_SOURCE,
        (("State", ValueKind.STATE),),
    ),
    TopicSpec(
        "tns1:VideoSource/ImageTooBright/AnalyticsService",
        SourceKind.VIDEO_SOURCE,
        (("State", ValueKind.STATE),),
    ),
    TopicSpec(
        "tns1:RuleEngine/CountAggregation/Counter",
        SourceKind.RULE,
        (("Count", ValueKind.COUNT),),
        rule="MyCountAggregationRule",
    ),
    TopicSpec(
        "tns1:RuleEngine/OccupancyCounter/Occupancy",
        SourceKind.RULE,
        (("Count", ValueKind.COUNT),),
        rule="MyOccupancyCounterRule",
    ),
    TopicSpec(
        "tns1:RuleEngine/ObjectDetection/Object",
        SourceKind.RULE,
        (("ObjectId", ValueKind.OBJECT_ID), ("ClassTypes", ValueKind.CLASS_TYPE)),
        rule="MyObjectDetectionRule",
        is_property=False,
    ),
    TopicSpec(
        "tns1:RuleEngine/LoiteringDetector/ObjectIsLoitering",
        SourceKind.RULE,
        (("IsLoitering", ValueKind.STATE),),
        rule="MyLoiteringDetectorRule",
    ),
    TopicSpec(
        "tns1:Device/HardwareFailure/StorageFailure",
        SourceKind.STORAGE,
        (("Failed", ValueKind.STATE),),
    ),
    TopicSpec(
        "tns1:RuleEngine/MyVendorDetector/Unknown",
        SourceKind.RULE,
        (("Value", ValueKind.OPAQUE),),
        rule="MyVendorRule",
        is_property=False,
    ),
)

TOPICS_BY_NAME = {spec.topic: spec for spec in TOPICS}
CLASS_TYPES = ("Human", "Vehicle", "Bicycle", "Animal", "Face", "LicensePlate")


@dataclass(frozen=True)
class EventStyle:
    """How one vendor's firmware spells the Source of its events."""

    video_source_item: str
    video_source_id: str
    source_configuration: str
    analytics_configuration: str
    storage_name: str
    topic_padding: str = ""  # some firmwares wrap the topic text in newlines and tabs
    fractional_time: bool = False  # some stamp UtcTime with microseconds


@dataclass(frozen=True)
class SimulatedEvent:
    """One notification as the camera will send it."""

    topic: str
    utc_time: dt.datetime
    operation: str  # Initialized, Changed or Deleted
    source: tuple[tuple[str, str], ...]
    data: tuple[tuple[str, str], ...]
    padded_topic: str = ""
    fractional_time: bool = False

    def to_xml(self) -> str:
        """The ``wsnt:NotificationMessage`` element."""
        source = "".join(
            f"<tt:SimpleItem Name={attr(name)} Value={attr(value)}/>" for name, value in self.source
        )
        data = "".join(
            f"<tt:SimpleItem Name={attr(name)} Value={attr(value)}/>" for name, value in self.data
        )
        topic = self.padded_topic or self.topic
        utc_time = (
            self.utc_time.astimezone(dt.UTC)
            .isoformat(timespec="microseconds")
            .replace("+00:00", "Z")
            if self.fractional_time
            else xml_datetime(self.utc_time)
        )
        return (
            f"<wsnt:NotificationMessage><wsnt:Topic Dialect={attr(TOPIC_DIALECT)}>{text(topic)}"
            f"</wsnt:Topic><wsnt:Message><tt:Message UtcTime={attr(utc_time)}"
            f" PropertyOperation={attr(self.operation)}><tt:Source>{source}</tt:Source>"
            f"<tt:Data>{data}</tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage>"
        )


class EventGenerator:
    """Draws realistic events for one camera from a seeded random stream."""

    def __init__(
        self, style: EventStyle, topics: tuple[TopicSpec, ...], rng: random.Random
    ) -> None:
        self.style = style
        self.topics = topics
        self._rng = rng
        self._states: dict[tuple[str, str], bool] = {}
        self._object_ids = itertools.count(rng.randrange(1, 5000))

    def source_for(self, spec: TopicSpec) -> tuple[tuple[str, str], ...]:
        style = self.style
        if spec.source is SourceKind.VIDEO_SOURCE:
            return ((style.video_source_item, style.video_source_id),)
        if spec.source is SourceKind.STORAGE:
            return (("Token", style.storage_name),)
        return (
            ("VideoSourceConfigurationToken", style.source_configuration),
            ("VideoAnalyticsConfigurationToken", style.analytics_configuration),
            ("Rule", spec.rule),
        )

    def _value(self, spec: TopicSpec, name: str, kind: ValueKind) -> str:
        if kind is ValueKind.STATE:
            key = (spec.topic, name)
            self._states[key] = not self._states.get(key, False)
            return "true" if self._states[key] else "false"
        if kind is ValueKind.COUNT:
            return str(self._rng.randrange(0, 60))
        if kind is ValueKind.OBJECT_ID:
            return str(next(self._object_ids))
        if kind is ValueKind.CLASS_TYPE:
            return self._rng.choice(CLASS_TYPES)
        return uuid.UUID(int=self._rng.getrandbits(128)).hex[:12]

    def build(
        self,
        spec: TopicSpec,
        now: dt.datetime,
        *,
        data: tuple[tuple[str, str], ...] | None = None,
        source: tuple[tuple[str, str], ...] | None = None,
        operation: str = "Changed",
    ) -> SimulatedEvent:
        values = data or tuple((name, self._value(spec, name, kind)) for name, kind in spec.data)
        return SimulatedEvent(
            topic=spec.topic,
            utc_time=now,
            operation=operation,
            source=source or self.source_for(spec),
            data=values,
            padded_topic=f"{self.style.topic_padding}{spec.topic}{self.style.topic_padding}"
            if self.style.topic_padding
            else "",
            fractional_time=self.style.fractional_time,
        )

    def random_event(self, now: dt.datetime) -> SimulatedEvent:
        return self.build(self._rng.choice(self.topics), now)

    def initial_state(self, now: dt.datetime) -> list[SimulatedEvent]:
        """The ``Initialized`` messages a new subscription receives for every property topic."""
        events = []
        for spec in self.topics:
            if not spec.is_property:
                continue
            values = tuple(
                (name, "true" if self._states.get((spec.topic, name), False) else "false")
                if kind is ValueKind.STATE
                else (name, "0")
                for name, kind in spec.data
            )
            events.append(self.build(spec, now, data=values, operation="Initialized"))
        return events

"""The rules document: what a city writes in ``rules.yaml``, validated strictly (unknown keys are errors).

Five rule kinds, one model each, told apart by ``kind``:

- ``threshold``: a reading (people count, crowd density, flood level, ...) above or below a level,
  held for at least ``for_s`` seconds;
- ``window``: the sum or average of readings over a sliding window above or below a level
  (vehicles per 15 minutes, mask compliance averaged over 30 minutes);
- ``dwell``: something present longer than ``min_s`` (a vehicle in a no-parking zone, garbage);
- ``instant``: every matching event is the condition (tamper, intrusion, storage failure);
- ``offline``: no sign of life from a camera for ``after_s`` (fed by camera health, not events).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.rules.area import AreaLimit
from hub.rules.schedule import Schedule, ZoneName
from topics.models import AlertCategory, EventKind, ObjectClass, OwnerKind, Severity, SiteType

RuleId = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="Stable rule id, e.g. `crowd-market`."
    ),
]
Seconds = Annotated[float, Field(ge=0, le=30 * 24 * 3600)]


class ConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Measure(StrEnum):
    """Which event attribute a threshold or window rule reads."""

    COUNT = "count"
    CROWD_DENSITY = "crowd_density"
    FLOOD_LEVEL_CM = "flood_level_cm"
    MASK_COMPLIANCE_PCT = "mask_compliance_pct"
    DWELL_S = "dwell_s"


class Direction(StrEnum):
    ABOVE = "above"  # condition holds when the value is >= the threshold
    BELOW = "below"  # condition holds when the value is <= the threshold


class Aggregate(StrEnum):
    SUM = "sum"
    AVG = "avg"


class RuleKind(StrEnum):
    THRESHOLD = "threshold"
    WINDOW = "window"
    DWELL = "dwell"
    INSTANT = "instant"
    OFFLINE = "offline"


class Scope(AreaLimit):
    """Which cameras a rule watches; every list left empty means no limit on that field."""

    site_types: list[SiteType] = Field(default_factory=list)
    owner_kinds: list[OwnerKind] = Field(default_factory=list)

    @property
    def needs_camera(self) -> bool:
        return bool(self.limited or self.site_types or self.owner_kinds)


class EventFilter(ConfigModel):
    """Which events feed a rule, beyond their kind."""

    object_classes: list[ObjectClass] = Field(
        default_factory=list,
        description="Limit to these classes; `vehicle_count` implies `vehicle`, `people_count` `human`.",
    )
    min_confidence: float | None = Field(
        default=None, ge=0, le=1, description="Drop less confident events; events without one pass."
    )
    active: bool | None = Field(
        default=None, description="Only events with this `active` flag (null: any)."
    )
    details: list[Annotated[str, Field(max_length=256)]] = Field(
        default_factory=list, description="Only events whose `detail` is one of these."
    )


class Lifecycle(ConfigModel):
    """How an alert opens, updates and closes; file-level ``defaults`` fill what a rule leaves out."""

    resolve_after_s: Seconds | None = Field(
        default=None, description="Resolve when no supporting event came for this long."
    )
    cooldown_s: Seconds | None = Field(
        default=None, description="After a resolve, no new alert for this long."
    )
    update_every_s: Seconds | None = Field(
        default=None, description="At most one `updated` state per this interval."
    )


class RuleBase(ConfigModel):
    id: RuleId
    description: Annotated[str, Field(max_length=1024)] | None = None
    enabled: bool = True
    category: AlertCategory
    severity: Severity = Severity.WARNING
    title: Annotated[str, Field(min_length=1, max_length=200)]
    scope: Scope = Field(default_factory=Scope)
    schedule: Schedule = Field(default_factory=Schedule)
    lifecycle: Lifecycle = Field(default_factory=Lifecycle)


class EventRule(RuleBase):
    """A rule fed by device events."""

    events: Annotated[list[EventKind], Field(min_length=1)]
    filter: EventFilter = Field(default_factory=EventFilter)


class ThresholdRule(EventRule):
    kind: Literal["threshold"]
    measure: Measure
    direction: Direction = Direction.ABOVE
    threshold: float
    for_s: Seconds = Field(default=0, description="The condition must hold this long first.")
    clear_at: float | None = Field(
        default=None,
        description="Hysteresis: once open, the alert stays until the value passes this level.",
    )

    @model_validator(mode="after")
    def _clear_level_is_on_the_safe_side(self) -> ThresholdRule:
        if self.clear_at is None:
            return self
        if self.direction is Direction.ABOVE and self.clear_at > self.threshold:
            raise ValueError("clear_at must not be above the threshold for direction: above")
        if self.direction is Direction.BELOW and self.clear_at < self.threshold:
            raise ValueError("clear_at must not be below the threshold for direction: below")
        return self


class WindowRule(EventRule):
    kind: Literal["window"]
    measure: Measure
    aggregate: Aggregate
    direction: Direction = Direction.ABOVE
    threshold: float
    window_s: Annotated[float, Field(gt=0, le=24 * 3600)]
    buckets: Annotated[int, Field(ge=1, le=120)] = Field(
        default=12, description="The window is kept as this many fixed buckets (bounded memory)."
    )
    min_samples: Annotated[int, Field(ge=1)] = 1
    require_full_window: bool | None = Field(
        default=None,
        description="Judge only once data spans the whole window (default: yes for `below`).",
    )

    @property
    def bucket_s(self) -> float:
        return self.window_s / self.buckets

    @property
    def full_window_required(self) -> bool:
        if self.require_full_window is None:
            return self.direction is Direction.BELOW
        return self.require_full_window


class DwellRule(EventRule):
    kind: Literal["dwell"]
    min_s: Annotated[float, Field(gt=0, le=7 * 24 * 3600)]
    absent_after_s: Seconds = Field(
        default=3600,
        description="An object not reported for this long (and never reported gone) is forgotten.",
    )
    max_tracked: Annotated[int, Field(ge=1, le=64)] = Field(
        default=16, description="At most this many objects tracked per camera."
    )


class InstantRule(EventRule):
    kind: Literal["instant"]


class OfflineRule(RuleBase):
    kind: Literal["offline"]
    after_s: Annotated[float, Field(gt=0, le=7 * 24 * 3600)]


Rule = Annotated[
    ThresholdRule | WindowRule | DwellRule | InstantRule | OfflineRule,
    Field(discriminator="kind"),
]


class Defaults(ConfigModel):
    resolve_after_s: Seconds = 600
    cooldown_s: Seconds = 300
    update_every_s: Seconds = 60


class RuleSet(ConfigModel):
    """A whole ``rules.yaml``."""

    version: Literal[1] = 1
    timezone: ZoneName = "Asia/Jakarta"
    clock_skew_max_s: Annotated[float, Field(ge=0, le=24 * 3600)] = Field(
        default=300,
        description="A device clock further than this from the hub's receive time is not trusted.",
    )
    defaults: Defaults = Field(default_factory=Defaults)
    rules: list[Rule] = Field(default_factory=list, max_length=1000)

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def resolve_after_s(self, rule: RuleBase) -> float:
        value = rule.lifecycle.resolve_after_s
        return self.defaults.resolve_after_s if value is None else value

    def cooldown_s(self, rule: RuleBase) -> float:
        value = rule.lifecycle.cooldown_s
        return self.defaults.cooldown_s if value is None else value

    def update_every_s(self, rule: RuleBase) -> float:
        value = rule.lifecycle.update_every_s
        return self.defaults.update_every_s if value is None else value


def unique_rule_ids(ruleset: RuleSet) -> list[tuple[tuple[str | int, ...], str]]:
    """Cross-rule check: a rule id names one rule (alert ids and state keys are built on it)."""
    seen: dict[str, int] = {}
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for index, rule in enumerate(ruleset.rules):
        if rule.id in seen:
            problems.append(
                (
                    ("rules", index, "id"),
                    f"duplicate rule id {rule.id!r} (first at rules.{seen[rule.id]})",
                )
            )
        else:
            seen[rule.id] = index
    return problems


def measure_fits_events(ruleset: RuleSet) -> list[tuple[tuple[str | int, ...], str]]:
    """Cross-field check: a threshold/window rule must read a measure its events can carry."""
    carriers: dict[Measure, set[EventKind]] = {
        Measure.COUNT: {
            EventKind.OBJECT_COUNT,
            EventKind.PEOPLE_COUNT,
            EventKind.VEHICLE_COUNT,
            EventKind.LINE_CROSSING,
        },
        Measure.CROWD_DENSITY: {EventKind.CROWD_DENSITY},
        Measure.FLOOD_LEVEL_CM: {EventKind.FLOOD_LEVEL},
        Measure.MASK_COMPLIANCE_PCT: {EventKind.MASK_COMPLIANCE},
        Measure.DWELL_S: {EventKind.PARKING_VIOLATION, EventKind.LOITERING, EventKind.GARBAGE},
    }
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for index, rule in enumerate(ruleset.rules):
        if isinstance(rule, ThresholdRule | WindowRule):
            wrong = [kind for kind in rule.events if kind not in carriers[rule.measure]]
            if wrong:
                problems.append(
                    (
                        ("rules", index, "events"),
                        f"events {', '.join(wrong)} do not carry measure {rule.measure}",
                    )
                )
    return problems

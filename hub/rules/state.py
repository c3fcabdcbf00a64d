"""What the engine remembers per (camera, rule): small, JSON-serialisable, bounded whatever the input.

The hub keeps one ``RuleState`` per (camera_id, rule_id) in a changelog-backed table, so every
field here is plain data and every collection has a cap.
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from topics.models import AlertCategory, Severity

# Event ids remembered on an open alert (the Alert payload allows 100; the latest are enough).
MAX_EVENT_IDS = 20


class OpenAlert(BaseModel):
    """The alert currently open for this camera and rule."""

    model_config = ConfigDict(extra="forbid")

    alert_id: str
    # What the rule said when the alert opened: later states repeat it even if the rule changes.
    category: AlertCategory
    severity: Severity
    title: str = Field(max_length=256)
    threshold: float | None = None
    opened_at: AwareDatetime
    sequence: int = 0
    last_emitted_at: AwareDatetime
    emitted_signature: float | None = Field(
        default=None, description="What the last emitted state reported; a change means an update."
    )
    measurement: float | None = None
    last_active_at: AwareDatetime = Field(description="Last time the condition was seen holding.")
    pending_update: bool = Field(
        default=False, description="Something changed since the last emitted state."
    )
    pending_signature: float | None = None
    pending_summary: str | None = Field(default=None, max_length=4096)
    event_ids: list[str] = Field(default_factory=list, max_length=MAX_EVENT_IDS)


class Bucket(BaseModel):
    """One fixed slice of a sliding window: readings summed and counted."""

    model_config = ConfigDict(extra="forbid")

    start: float = Field(description="Epoch seconds, a multiple of the bucket width.")
    total: float = 0.0
    samples: int = 0


class Presence(BaseModel):
    """An object a dwell rule tracks: since when it is there, when it was last reported."""

    model_config = ConfigDict(extra="forbid")

    since: AwareDatetime
    last_seen: AwareDatetime


class RuleState(BaseModel):
    """State of one rule on one camera. Fields unused by a rule kind stay empty."""

    model_config = ConfigDict(extra="forbid")

    open: OpenAlert | None = None
    resolved_at: AwareDatetime | None = Field(
        default=None, description="When the last alert resolved (cooldown starts here)."
    )
    last_event_at: AwareDatetime | None = None
    # threshold and offline: since when the condition holds
    breach_since: AwareDatetime | None = None
    last_value: float | None = None
    # offline: last sign of life
    last_seen: AwareDatetime | None = None
    # window
    buckets: list[Bucket] = Field(default_factory=list, max_length=121)
    first_sample_at: AwareDatetime | None = None
    # dwell: keyed by plate, region or zone name
    presence: dict[str, Presence] = Field(default_factory=dict, max_length=64)

    def to_json(self) -> str:
        return self.model_dump_json(exclude_defaults=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> RuleState:
        return cls.model_validate_json(text)

    @property
    def idle(self) -> bool:
        """Nothing worth keeping (no alert, cooldown, window, tracked object or health record).

        The hub may delete an idle table entry: a fresh state behaves the same.
        """
        return not (
            self.open
            or self.resolved_at
            or self.breach_since
            or self.last_seen
            or self.buckets
            or self.presence
        )

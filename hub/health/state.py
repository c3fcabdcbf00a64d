"""What the hub remembers about each camera's health, and the pure transitions on it.

One ``CameraHealth`` per camera lives in a changelog-backed table. Registry records and status
reports update it. The ruleset's ``offline`` rules watch each registered camera through the rules
engine, so an offline alert follows its rule's scope, schedule and lifecycle (cooldown, updates)
the same way in the worker as in ``hub.rules.testing.RuleHarness``: a status report feeds them
(``RuleEngine.apply_status``), and a timer lets time pass (``RuleEngine.tick``) where the state
lives. A camera that never reported is silent from the moment it was registered.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from hub.rules import RuleEngine, RuleState
from hub.rules.model import OfflineRule
from topics.models import Alert, CameraRecord, CameraState, CameraStatus

REVOKED = "the camera was revoked"
NOT_WATCHED = "the rule no longer watches this camera"


class CameraHealth(BaseModel):
    model_config = ConfigDict(extra="forbid")

    camera_id: str
    partition: int
    record: CameraRecord | None = Field(
        default=None, description="The registry record; none while unregistered or revoked."
    )
    revoked: bool = False
    state: CameraState | None = None
    known_since: AwareDatetime | None = None
    last_seen: AwareDatetime | None = None
    offline: dict[str, RuleState] = Field(
        default_factory=dict, description="Per offline rule watching the camera, its rule state."
    )

    @property
    def registered(self) -> bool:
        return self.record is not None

    @property
    def kecamatan(self) -> str:
        area = self.record.location.area if self.record is not None else None
        return (area.kecamatan if area is not None else None) or "(unknown)"

    @property
    def kelurahan(self) -> str:
        area = self.record.location.area if self.record is not None else None
        return (area.kelurahan if area is not None else None) or "(unknown)"

    def is_online(self, now: datetime, offline_after_s: float) -> bool:
        return (
            self.state == CameraState.ONLINE
            and self.last_seen is not None
            and (now - self.last_seen).total_seconds() <= offline_after_s
        )


Outcome = tuple[CameraHealth, list[Alert]]


def on_registry(
    health: CameraHealth | None,
    camera_id: str,
    record: CameraRecord | None,
    partition: int,
    now: datetime,
    engine: RuleEngine,
) -> Outcome:
    """A registry record, or a tombstone: the camera left or its owner revoked it.

    A revoked camera's open offline alerts resolve (nobody is to be sent to a camera the city no
    longer sees); a changed record may move the camera into or out of a rule's scope.
    """
    current = health or CameraHealth(camera_id=camera_id, partition=partition)
    if record is None:
        alerts = _retire_all(current, now, REVOKED)
        return current.model_copy(update={"record": None, "revoked": True, "offline": {}}), alerts
    updated = current.model_copy(
        update={
            "record": record,
            "revoked": False,
            "partition": partition,
            "known_since": current.known_since or now,
        }
    )
    return _reconcile(updated, now, engine)


def on_status(
    health: CameraHealth | None,
    status: CameraStatus,
    partition: int,
    now: datetime,
    engine: RuleEngine,
) -> Outcome:
    """A health-check result: the camera's state and last sign of life, fed to its offline rules."""
    current = health or CameraHealth(camera_id=status.camera_id, partition=partition)
    update: dict[str, object] = {"state": status.state}
    if status.state == CameraState.ONLINE and (
        current.last_seen is None or status.checked_at > current.last_seen
    ):
        update["last_seen"] = status.checked_at
    updated, alerts = _reconcile(current.model_copy(update=update), now, engine)
    states = dict(updated.offline)
    for rule in watching(updated, engine):
        states[rule.id], more = engine.apply_status(
            rule, status, updated.record, states[rule.id], now
        )
        alerts += more
    return updated.model_copy(update={"offline": states}), alerts


def on_silence_check(health: CameraHealth, now: datetime, engine: RuleEngine) -> Outcome:
    """Let time pass for the camera's offline rules, where its state lives (a timer asked)."""
    updated, alerts = _reconcile(health, now, engine)
    states = dict(updated.offline)
    for rule in watching(updated, engine):
        states[rule.id], more = engine.tick(
            rule, updated.camera_id, states[rule.id], updated.record, now
        )
        alerts += more
    return updated.model_copy(update={"offline": states}), alerts


def watching(health: CameraHealth, engine: RuleEngine) -> list[OfflineRule]:
    """The offline rules that watch this camera: enabled, in scope, and only while registered."""
    if health.record is None or health.revoked:
        return []
    return engine.offline_rules(health.record)


def check_at(health: CameraHealth, now: datetime, engine: RuleEngine) -> float | None:
    """Epoch seconds when time alone could next change this camera's offline rules; ``None``:
    not until a record or report comes (see ``hub.due``)."""
    moments = []
    for rule in watching(health, engine):
        state = health.offline.get(rule.id)
        if state is not None:
            moments.append(engine.next_check(rule, state, now))
    if any(engine.in_force(rule_id) is None for rule_id in health.offline):
        moments.append(now.timestamp())  # a rule was removed: its alert is to be resolved
    return min(moments) if moments else None


def _reconcile(health: CameraHealth, now: datetime, engine: RuleEngine) -> Outcome:
    """Start watching with the rules that now apply; retire the states of rules that no longer do
    (removed from the file, disabled, or the camera left their scope), resolving their alerts."""
    rules = {rule.id: rule for rule in watching(health, engine)}
    if rules.keys() == health.offline.keys():
        return health, []
    states: dict[str, RuleState] = {}
    alerts: list[Alert] = []
    for rule_id, state in health.offline.items():
        if rule_id in rules:
            states[rule_id] = state
        else:
            why = NOT_WATCHED if engine.in_force(rule_id) is not None else None
            alerts += engine.retire(rule_id, health.camera_id, state, health.record, now, why=why)
    since = health.last_seen or health.known_since or now
    for rule_id in rules.keys() - states.keys():
        # Registration is the last sign of life of a camera that never reported.
        states[rule_id] = RuleState(last_seen=since)
    return health.model_copy(update={"offline": states}), alerts


def _retire_all(health: CameraHealth, now: datetime, why: str) -> list[Alert]:
    alerts: list[Alert] = []
    for rule_id, state in health.offline.items():
        alerts += RuleEngine.retire(rule_id, health.camera_id, state, health.record, now, why=why)
    return alerts

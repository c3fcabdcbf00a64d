"""An alert's life, the same for every rule kind: opened, updated (rate-limited), resolved, then a cooldown.

At most one alert is open per (camera, rule). Its id is derived from the camera, the rule and the
moment it opened, so replaying the same events produces the same id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.rules.kinds import Verdict
from hub.rules.model import RuleBase
from hub.rules.state import MAX_EVENT_IDS, OpenAlert, RuleState
from topics.identity import alert_id
from topics.models import Alert, AlertStatus, CameraRecord, Location, SiteType


@dataclass(frozen=True)
class Timing:
    """A rule's lifecycle settings with the file defaults filled in."""

    resolve_after_s: float
    cooldown_s: float
    update_every_s: float


def _elapsed(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds()


@dataclass(frozen=True)
class AlertLife:
    """The lifecycle of one rule on one camera, acting on that pair's ``RuleState``."""

    rule_id: str
    camera_id: str
    camera: CameraRecord | None
    timing: Timing
    rule: RuleBase | None = None  # needed to open an alert; its states after that stand alone

    def in_cooldown(self, state: RuleState, at: datetime) -> bool:
        return (
            state.resolved_at is not None
            and _elapsed(at, state.resolved_at) < self.timing.cooldown_s
        )

    def advance(
        self, state: RuleState, verdict: Verdict, *, may_open: bool, event_id: str | None = None
    ) -> list[Alert]:
        """Apply one verdict; return the alert states to publish."""
        current = state.open
        if verdict.holds is True:
            if current is None:
                if not may_open or self.in_cooldown(state, verdict.at):
                    return []
                return [self._open(state, verdict, event_id)]
            current.last_active_at = max(current.last_active_at, verdict.at)
            if event_id is not None and event_id not in current.event_ids:
                current.event_ids = [*current.event_ids, event_id][-MAX_EVENT_IDS:]
            if verdict.measurement is not None:
                current.measurement = verdict.measurement
            if verdict.signature is not None and verdict.signature != current.emitted_signature:
                current.pending_update = True
                current.pending_signature = verdict.signature
                current.pending_summary = verdict.summary
            return self.flush_update(state, verdict.at)
        if verdict.holds is False and current is not None:
            if verdict.measurement is not None:
                current.measurement = verdict.measurement
            return [self.resolve(state, verdict.at, "condition ended")]
        return []

    def flush_update(self, state: RuleState, at: datetime) -> list[Alert]:
        """Emit the pending ``updated`` state if the rate limit allows it."""
        current = state.open
        if current is None or not current.pending_update:
            return []
        if _elapsed(at, current.last_emitted_at) < self.timing.update_every_s:
            return []
        current.emitted_signature = current.pending_signature
        return [self._emit(state, AlertStatus.UPDATED, at, current.pending_summary)]

    def resolve(self, state: RuleState, at: datetime, why: str) -> Alert:
        current = state.open
        assert current is not None
        at = max(at, current.last_emitted_at)
        alert = self._emit(state, AlertStatus.RESOLVED, at, f"resolved: {why}")
        state.open = None
        state.resolved_at = at
        return alert

    def expire(self, state: RuleState, now: datetime, *, quiet_resolves: bool) -> list[Alert]:
        """Time-driven part: resolve a quiet alert, flush a held-back update, end a cooldown."""
        alerts: list[Alert] = []
        current = state.open
        if current is not None and quiet_resolves:
            quiet_until = current.last_active_at + timedelta(seconds=self.timing.resolve_after_s)
            if now >= quiet_until:
                why = f"quiet for {self.timing.resolve_after_s:g} s"
                alerts.append(self.resolve(state, quiet_until, why))
        alerts.extend(self.flush_update(state, now))
        if state.resolved_at is not None and not self.in_cooldown(state, now):
            state.resolved_at = None
        return alerts

    def _open(self, state: RuleState, verdict: Verdict, event_id: str | None) -> Alert:
        rule = self.rule
        assert rule is not None, "opening an alert needs its rule"
        opened_at = verdict.began_at or verdict.at
        if state.resolved_at is not None:
            opened_at = max(opened_at, state.resolved_at)
        state.open = OpenAlert(
            alert_id=alert_id(camera_id=self.camera_id, rule_id=self.rule_id, opened_at=opened_at),
            category=rule.category,
            severity=rule.severity,
            title=rule.title,
            threshold=_threshold_of(rule),
            opened_at=opened_at,
            last_emitted_at=opened_at,
            emitted_signature=verdict.signature,
            measurement=verdict.measurement,
            last_active_at=max(opened_at, verdict.at),
            event_ids=[] if event_id is None else [event_id],
        )
        return self._build(state.open, AlertStatus.OPENED, opened_at, verdict.summary)

    def _emit(
        self, state: RuleState, status: AlertStatus, at: datetime, summary: str | None
    ) -> Alert:
        current = state.open
        assert current is not None
        current.sequence += 1
        current.last_emitted_at = at
        current.pending_update = False
        current.pending_signature = None
        current.pending_summary = None
        return self._build(current, status, at, summary)

    def _build(
        self, current: OpenAlert, status: AlertStatus, at: datetime, summary: str | None
    ) -> Alert:
        camera = self.camera
        return Alert(
            alert_id=current.alert_id,
            rule_id=self.rule_id,
            category=current.category,
            severity=current.severity,
            status=status,
            sequence=current.sequence,
            camera_id=self.camera_id,
            camera_name=None if camera is None else camera.name,
            owner_id=None if camera is None else camera.owner.id,
            location=Location() if camera is None else camera.location,
            site_type=SiteType.OTHER if camera is None else camera.site_type,
            title=current.title,
            summary=summary,
            measurement=current.measurement,
            threshold=current.threshold,
            event_ids=list(current.event_ids),
            opened_at=current.opened_at,
            updated_at=at,
            resolved_at=at if status is AlertStatus.RESOLVED else None,
        )


def _threshold_of(rule: RuleBase) -> float | None:
    # Only the fields its kind declares: a pydantic model answers a missing attribute by raising,
    # which costs more than the rest of opening an alert.
    fields = type(rule).model_fields
    for name in ("threshold", "min_s", "after_s"):
        value = getattr(rule, name) if name in fields else None
        if value is not None:
            return float(value)
    return None

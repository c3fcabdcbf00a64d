"""The rule engine: which rules an event concerns, and what each rule makes of it. Pure and deterministic.

No clock is read here: the caller passes ``now``. State goes in and a new state comes out (the
input is never mutated), so the hub can keep it in a changelog-backed table keyed by
(camera_id, rule_id).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from hub.rules import kinds, moments
from hub.rules.kinds import Verdict
from hub.rules.lifecycle import AlertLife, Timing
from hub.rules.model import (
    DwellRule,
    EventRule,
    InstantRule,
    OfflineRule,
    Rule,
    RuleBase,
    RuleSet,
    Scope,
    ThresholdRule,
    WindowRule,
)
from hub.rules.state import RuleState
from topics.models import (
    Alert,
    CameraRecord,
    CameraStatus,
    DeviceEvent,
    EventKind,
    ObjectClass,
    SharingLevel,
)

Outcome = tuple[RuleState, list[Alert]]
RULE_REMOVED = "the rule was removed"

# The class a counting event implies when the device does not name one.
_IMPLIED_CLASS: dict[EventKind, ObjectClass] = {
    EventKind.VEHICLE_COUNT: ObjectClass.VEHICLE,
    EventKind.PEOPLE_COUNT: ObjectClass.HUMAN,
    EventKind.CROWD_DENSITY: ObjectClass.HUMAN,
    EventKind.GARBAGE: ObjectClass.GARBAGE,
}

# Kinds whose alert ends when the events that support it stop coming.
_QUIET_RESOLVES: dict[type, bool] = {
    ThresholdRule: True,
    WindowRule: True,
    InstantRule: True,
    DwellRule: False,  # presence is tracked per object; a parked car sends no heartbeat
    OfflineRule: False,  # an offline camera is quiet by definition
}


_WITHHELD = "the camera is shared registry_only: its events raise no alerts"


def _events_withheld(camera: CameraRecord | None) -> bool:
    """The owner shares only the camera's existence, not what it sees (the registry's word)."""
    return camera is not None and camera.sharing is SharingLevel.REGISTRY_ONLY


def _fresh_copy(state: RuleState | None) -> RuleState:
    """A copy the engine may change; the caller's state object is left as it was."""
    if state is None:
        return RuleState()
    # A JSON round trip runs in pydantic-core and is several times faster than deepcopy.
    return RuleState.model_validate_json(state.model_dump_json())


class RuleEngine:
    """Evaluates one ``RuleSet``. Cheap to build; build a new one when the rules change."""

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self.zone = ZoneInfo(ruleset.timezone)
        self._by_id: dict[str, Rule] = {rule.id: rule for rule in ruleset.rules}
        self._by_event: dict[EventKind, list[EventRule]] = {}
        self._spans: dict[str, tuple[tuple[float, ...], float]] = {}
        for rule in ruleset.rules:
            if isinstance(rule, EventRule) and rule.enabled:
                for kind in dict.fromkeys(rule.events):
                    self._by_event.setdefault(kind, []).append(rule)

    # --- lookup and matching ---------------------------------------------------------------

    def rule(self, rule_id: str) -> Rule | None:
        return self._by_id.get(rule_id)

    def in_force(self, rule_id: str) -> Rule | None:
        """The rule, unless it was removed from the file or disabled (then ``retire`` its state)."""
        rule = self._by_id.get(rule_id)
        return rule if rule is not None and rule.enabled else None

    def event_time(self, event: DeviceEvent) -> datetime:
        """The device's time, unless its clock is off by more than ``clock_skew_max_s``."""
        skew = abs((event.device_time - event.received_at).total_seconds())
        if skew > self.ruleset.clock_skew_max_s:
            return event.received_at
        return event.device_time

    def rules_for(self, event: DeviceEvent, camera: CameraRecord | None) -> list[EventRule]:
        """Enabled rules that this event feeds, given the camera's registry record (if known).

        None for a camera its owner shares ``registry_only``: its events never raise an alert
        (docs/sharing.md), whoever owns it and however the event got here.
        """
        if _events_withheld(camera):
            return []
        at = self.event_time(event)
        return [
            rule
            for rule in self._by_event.get(event.kind, [])
            if not self._event_mismatch(rule, event)
            and not self._scope_mismatch(rule.scope, camera)
            and rule.schedule.in_force(at, self.zone)
        ]

    def explain(
        self, event: DeviceEvent, camera: CameraRecord | None
    ) -> list[tuple[Rule, list[str]]]:
        """Every rule with the reasons it does not apply to this event (empty: it applies)."""
        at = self.event_time(event)
        report: list[tuple[Rule, list[str]]] = []
        for rule in self.ruleset.rules:
            reasons: list[str] = []
            if not rule.enabled:
                reasons.append("rule is disabled")
            if not isinstance(rule, EventRule):
                reasons.append(f"{rule.kind} rules are fed by camera health, not events")
            else:
                if event.kind not in rule.events:
                    reasons.append(
                        f"event kind {event.kind} is not one of {', '.join(rule.events)}"
                    )
                reasons.extend(self._event_mismatch(rule, event))
                if _events_withheld(camera):
                    reasons.append(_WITHHELD)
            reasons.extend(self._scope_mismatch(rule.scope, camera))
            if not rule.schedule.in_force(at, self.zone):
                local = at.astimezone(self.zone)
                reasons.append(
                    f"{local:%a %H:%M} {self.ruleset.timezone} is outside the schedule "
                    f"({rule.schedule.describe()})"
                )
            report.append((rule, reasons))
        return report

    def offline_rules(self, camera: CameraRecord | None) -> list[OfflineRule]:
        """Enabled ``offline`` rules that watch this camera (the health agent drives them)."""
        return [
            rule
            for rule in self.ruleset.rules
            if isinstance(rule, OfflineRule)
            and rule.enabled
            and not self._scope_mismatch(rule.scope, camera)
        ]

    @staticmethod
    def _event_mismatch(rule: EventRule, event: DeviceEvent) -> list[str]:
        wanted = rule.filter
        attrs = event.attributes
        reasons: list[str] = []
        if wanted.object_classes:
            cls = attrs.object_class or _IMPLIED_CLASS.get(event.kind)
            if cls not in wanted.object_classes:
                reasons.append(
                    f"object class {cls} is not one of {', '.join(wanted.object_classes)}"
                )
        if wanted.min_confidence is not None and (
            attrs.confidence is not None and attrs.confidence < wanted.min_confidence
        ):
            reasons.append(f"confidence {attrs.confidence:g} < {wanted.min_confidence:g}")
        if wanted.active is not None and event.active is not wanted.active:
            reasons.append(f"active is {event.active}, the rule wants {wanted.active}")
        if wanted.details and attrs.detail not in wanted.details:
            reasons.append(f"detail {attrs.detail!r} is not one of {', '.join(wanted.details)}")
        return reasons

    @staticmethod
    def _scope_mismatch(scope: Scope, camera: CameraRecord | None) -> list[str]:
        if not scope.needs_camera:
            return []
        if camera is None:
            return ["camera is not in the registry, so its site and area are unknown"]
        reasons: list[str] = []
        if scope.site_types and camera.site_type not in scope.site_types:
            reasons.append(
                f"site type {camera.site_type} is not one of {', '.join(scope.site_types)}"
            )
        reasons.extend(scope.outside(camera.location.area))
        if scope.owner_kinds and camera.owner.kind not in scope.owner_kinds:
            reasons.append(
                f"owner kind {camera.owner.kind} is not one of {', '.join(scope.owner_kinds)}"
            )
        return reasons

    # --- evaluation --------------------------------------------------------------------------

    def timing(self, rule: RuleBase) -> Timing:
        return Timing(
            resolve_after_s=self.ruleset.resolve_after_s(rule),
            cooldown_s=self.ruleset.cooldown_s(rule),
            update_every_s=self.ruleset.update_every_s(rule),
        )

    def apply(
        self,
        rule: EventRule,
        event: DeviceEvent,
        camera: CameraRecord | None,
        state: RuleState | None,
        now: datetime,
    ) -> Outcome:
        """Feed one event (already matched by ``rules_for``) to a rule."""
        new = _fresh_copy(state)
        # An event is never later than the moment it is processed.
        at = min(self.event_time(event), now)
        life = self._life(rule, event.camera_id, camera)
        verdict = self._observe(rule, new, event, at, life.timing)
        alerts = life.advance(
            new, verdict, may_open=self._may_open(rule, verdict), event_id=event.event_id
        )
        if new.last_event_at is None or at > new.last_event_at:
            new.last_event_at = at
        return new, alerts

    def tick(
        self,
        rule: Rule,
        camera_id: str,
        state: RuleState | None,
        camera: CameraRecord | None,
        now: datetime,
    ) -> Outcome:
        """Let time pass: dwell and offline limits, window expiry, quiet resolve, held-back updates."""
        new = _fresh_copy(state)
        life = self._life(rule, camera_id, camera)
        verdict = self._judge(rule, new, now, life.timing)
        alerts = life.advance(new, verdict, may_open=self._may_open(rule, verdict))
        alerts.extend(life.expire(new, now, quiet_resolves=_QUIET_RESOLVES[type(rule)]))
        return new, alerts

    def apply_status(
        self,
        rule: OfflineRule,
        status: CameraStatus,
        camera: CameraRecord | None,
        state: RuleState | None,
        now: datetime,
    ) -> Outcome:
        """Feed a health check result to an ``offline`` rule: online resolves, offline counts down."""
        new = _fresh_copy(state)
        life = self._life(rule, status.camera_id, camera)
        if status.checked_at > now:
            status = status.model_copy(update={"checked_at": now})
        verdict = kinds.observe_status(rule, new, status)
        return new, life.advance(new, verdict, may_open=self._may_open(rule, verdict))

    @staticmethod
    def retire(
        rule_id: str,
        camera_id: str,
        state: RuleState | None,
        camera: CameraRecord | None,
        now: datetime,
        *,
        why: str | None = None,
    ) -> list[Alert]:
        """A rule is gone (removed from the file): resolve its open alert so no agency waits on it.

        ``why`` says otherwise when the rule stays but no longer applies (a revoked camera). The
        state is finished with afterwards; the hub drops it.
        """
        if state is None or state.open is None:
            return []
        new = _fresh_copy(state)
        life = AlertLife(
            rule_id=rule_id, camera_id=camera_id, camera=camera, timing=Timing(0, 0, 0)
        )
        return [life.resolve(new, now, why or RULE_REMOVED)]

    def next_check(self, rule: Rule, state: RuleState, now: datetime) -> float:
        """Epoch seconds when ``tick`` could next change this state (see ``hub.rules.moments``)."""
        known = self._spans.get(rule.id)
        if known is None:
            known = self._spans[rule.id] = (
                moments.durations(rule, self.timing(rule)),
                moments.cap_s(rule),
            )
        spans, cap = known
        return moments.next_check(spans, state, now, cap)

    @staticmethod
    def needs_tick(state: RuleState) -> bool:
        """Whether ``tick`` can change this state (the hub may skip the others)."""
        return not state.idle

    def _life(self, rule: RuleBase, camera_id: str, camera: CameraRecord | None) -> AlertLife:
        return AlertLife(
            rule_id=rule.id, camera_id=camera_id, camera=camera, timing=self.timing(rule), rule=rule
        )

    def _may_open(self, rule: RuleBase, verdict: Verdict) -> bool:
        return rule.enabled and rule.schedule.in_force(verdict.began_at or verdict.at, self.zone)

    def _observe(
        self, rule: EventRule, state: RuleState, event: DeviceEvent, at: datetime, timing: Timing
    ) -> Verdict:
        if isinstance(rule, ThresholdRule):
            return kinds.observe_threshold(rule, state, event, at, gap_s=timing.resolve_after_s)
        if isinstance(rule, WindowRule):
            return kinds.observe_window(rule, state, event, at)
        if isinstance(rule, DwellRule):
            return kinds.observe_dwell(rule, state, event, at)
        return kinds.observe_instant(event, at)

    @staticmethod
    def _judge(rule: Rule, state: RuleState, now: datetime, timing: Timing) -> Verdict:
        if isinstance(rule, ThresholdRule):
            return kinds.expire_threshold(rule, state, now, gap_s=timing.resolve_after_s)
        if isinstance(rule, WindowRule):
            return kinds.expire_window(rule, state, now)
        if isinstance(rule, DwellRule):
            return kinds.judge_dwell(rule, state, now)
        if isinstance(rule, OfflineRule):
            return kinds.judge_offline(rule, state, now)
        return kinds.no_verdict(now)

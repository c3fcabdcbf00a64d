"""The judgement of each rule kind: from a reading (or the passing of time) to a verdict on its condition.

Each kind updates its own part of ``RuleState`` and returns a ``Verdict``; opening, updating,
resolving and cooldown are the same for every kind and live in ``hub.rules.lifecycle``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.rules.model import (
    Aggregate,
    Direction,
    DwellRule,
    Measure,
    OfflineRule,
    ThresholdRule,
    WindowRule,
)
from hub.rules.state import Bucket, Presence, RuleState
from topics.models import EARLIEST, CameraState, CameraStatus, DeviceEvent


@dataclass(frozen=True)
class Verdict:
    """``holds``: True the condition holds, False it has ended, None nothing new is known.

    ``began_at`` is when an alert opened on this verdict should say it opened (the moment the
    condition crossed its limit), so replaying the same events yields the same alert id.
    ``signature`` is what must change for an open alert to emit an ``updated`` state.
    """

    holds: bool | None
    at: datetime
    began_at: datetime | None = None
    measurement: float | None = None
    threshold: float | None = None
    signature: float | None = None
    summary: str | None = None


def no_verdict(at: datetime) -> Verdict:
    return Verdict(holds=None, at=at)


def reading(event: DeviceEvent, measure: Measure) -> float | None:
    value = getattr(event.attributes, measure.value)
    return None if value is None else float(value)


def crosses(value: float, level: float, direction: Direction) -> bool:
    return value >= level if direction is Direction.ABOVE else value <= level


def _sign(direction: Direction) -> str:
    return ">=" if direction is Direction.ABOVE else "<="


# --- threshold ---------------------------------------------------------------------------


def observe_threshold(
    rule: ThresholdRule, state: RuleState, event: DeviceEvent, at: datetime, gap_s: float
) -> Verdict:
    value = reading(event, rule.measure)
    if value is None:
        return no_verdict(at)
    if state.last_event_at is not None and at < state.last_event_at:
        # A reading older than one already judged says nothing about now.
        return no_verdict(at)
    if state.last_event_at is not None and (at - state.last_event_at).total_seconds() > gap_s:
        # After a silence the condition cannot be said to have held throughout.
        state.breach_since = None
    level = rule.threshold
    if state.open is not None and rule.clear_at is not None:
        level = rule.clear_at
    state.last_value = value
    if not crosses(value, level, rule.direction):
        state.breach_since = None
        return Verdict(holds=False, at=at, measurement=value, threshold=rule.threshold)
    if state.breach_since is None:
        state.breach_since = at
    held_s = (at - state.breach_since).total_seconds()
    if held_s < rule.for_s:
        return no_verdict(at)
    summary = f"{rule.measure} {value:g} {_sign(rule.direction)} {rule.threshold:g}"
    if rule.for_s:
        summary += f" for {held_s:.0f} s"
    return Verdict(
        holds=True,
        at=at,
        began_at=at,
        measurement=value,
        threshold=rule.threshold,
        signature=value,
        summary=summary,
    )


def expire_threshold(rule: ThresholdRule, state: RuleState, now: datetime, gap_s: float) -> Verdict:
    """Forget a breach that readings stopped supporting, so an idle state can be dropped."""
    if state.last_event_at is not None and (now - state.last_event_at).total_seconds() > gap_s:
        state.breach_since = None
    return no_verdict(now)


# --- window ------------------------------------------------------------------------------


def _expire_buckets(rule: WindowRule, state: RuleState, now: datetime) -> None:
    horizon = now.timestamp() - rule.window_s
    state.buckets = [b for b in state.buckets if b.start + rule.bucket_s > horizon]
    if not state.buckets:
        state.first_sample_at = None


def _judge_window(rule: WindowRule, state: RuleState, at: datetime) -> Verdict:
    samples = sum(b.samples for b in state.buckets)
    if samples < rule.min_samples:
        return Verdict(holds=False, at=at) if state.open is not None else no_verdict(at)
    if rule.full_window_required and (
        state.first_sample_at is None
        or (at - state.first_sample_at).total_seconds() < rule.window_s
    ):
        return no_verdict(at)
    total = sum(b.total for b in state.buckets)
    value = total if rule.aggregate is Aggregate.SUM else total / samples
    value = round(value, 3)
    if not crosses(value, rule.threshold, rule.direction):
        return Verdict(holds=False, at=at, measurement=value, threshold=rule.threshold)
    summary = (
        f"{rule.aggregate} of {rule.measure} over {rule.window_s:g} s is {value:g} "
        f"{_sign(rule.direction)} {rule.threshold:g} ({samples} readings)"
    )
    return Verdict(
        holds=True,
        at=at,
        began_at=at,
        measurement=value,
        threshold=rule.threshold,
        signature=value,
        summary=summary,
    )


def observe_window(rule: WindowRule, state: RuleState, event: DeviceEvent, at: datetime) -> Verdict:
    value = reading(event, rule.measure)
    if value is None:
        return no_verdict(at)
    newest = max((b.start for b in state.buckets), default=None)
    now = at if newest is None else max(at, datetime.fromtimestamp(newest, at.tzinfo))
    _expire_buckets(rule, state, now)
    stamp = at.timestamp()
    if stamp <= now.timestamp() - rule.window_s:
        return no_verdict(at)  # too late for the window
    start = (stamp // rule.bucket_s) * rule.bucket_s
    if state.first_sample_at is None or at < state.first_sample_at:
        state.first_sample_at = at
    for bucket in state.buckets:
        if bucket.start == start:
            bucket.total += value
            bucket.samples += 1
            break
    else:
        state.buckets.append(Bucket(start=start, total=value, samples=1))
        state.buckets.sort(key=lambda b: b.start)
    return _judge_window(rule, state, max(at, now))


def expire_window(rule: WindowRule, state: RuleState, now: datetime) -> Verdict:
    _expire_buckets(rule, state, now)
    verdict = _judge_window(rule, state, now)
    # Time alone never opens a window alert (silence is not evidence); it can only end one.
    return verdict if verdict.holds is False and state.open is not None else no_verdict(now)


# --- dwell -------------------------------------------------------------------------------


def _object_key(event: DeviceEvent) -> str:
    attrs = event.attributes
    return attrs.plate or attrs.region or attrs.rule or "*"


def observe_dwell(rule: DwellRule, state: RuleState, event: DeviceEvent, at: datetime) -> Verdict:
    key = _object_key(event)
    if event.active is False:
        if key == "*":
            state.presence.clear()
        else:
            state.presence.pop(key, None)
        return judge_dwell(rule, state, at)
    since = at
    if event.attributes.dwell_s is not None:
        # Not before the catalog's first moment: an alert opened from it must be publishable.
        since = max(at - timedelta(seconds=event.attributes.dwell_s), EARLIEST)
    known = state.presence.get(key)
    if known is not None:
        known.since = min(known.since, since)
        known.last_seen = max(known.last_seen, at)
    elif len(state.presence) < rule.max_tracked:
        state.presence[key] = Presence(since=since, last_seen=at)
    return judge_dwell(rule, state, at)


def judge_dwell(rule: DwellRule, state: RuleState, now: datetime) -> Verdict:
    horizon = now - timedelta(seconds=rule.absent_after_s)
    state.presence = {k: p for k, p in state.presence.items() if p.last_seen >= horizon}
    if not state.presence:
        return Verdict(holds=False, at=now)
    earliest = min(p.since for p in state.presence.values())
    longest = (now - earliest).total_seconds()
    if longest < rule.min_s:
        return no_verdict(now)
    over = sum(1 for p in state.presence.values() if (now - p.since).total_seconds() >= rule.min_s)
    summary = f"{over} present longer than {rule.min_s:g} s (longest {longest:.0f} s)"
    return Verdict(
        holds=True,
        at=now,
        began_at=earliest + timedelta(seconds=rule.min_s),
        measurement=round(longest, 1),
        threshold=rule.min_s,
        signature=float(over),
        summary=summary,
    )


# --- instant -----------------------------------------------------------------------------


def observe_instant(event: DeviceEvent, at: datetime) -> Verdict:
    if event.active is False:
        return Verdict(holds=False, at=at)
    detail = event.attributes.detail
    summary = f"{event.kind}" + (f": {detail}" if detail else "")
    return Verdict(holds=True, at=at, began_at=at, summary=summary)


# --- offline -----------------------------------------------------------------------------

_ALIVE = {CameraState.ONLINE, CameraState.DEGRADED}


def observe_status(rule: OfflineRule, state: RuleState, status: CameraStatus) -> Verdict:
    at = status.checked_at
    if status.state in _ALIVE:
        if state.last_seen is None or at > state.last_seen:
            state.last_seen = at
        state.breach_since = None
        return Verdict(holds=False, at=at)
    if state.breach_since is None:
        state.breach_since = at
    return judge_offline(rule, state, at)


def judge_offline(rule: OfflineRule, state: RuleState, now: datetime) -> Verdict:
    down_since = state.last_seen or state.breach_since
    if down_since is None:
        return no_verdict(now)
    down_s = (now - down_since).total_seconds()
    if down_s < rule.after_s:
        return no_verdict(now)
    return Verdict(
        holds=True,
        at=now,
        began_at=down_since + timedelta(seconds=rule.after_s),
        measurement=round(down_s, 1),
        threshold=rule.after_s,
        summary=f"no sign of life for {down_s:.0f} s",
    )

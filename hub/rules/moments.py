"""The next moment time alone can change a rule state, so timers skip states that are not due.

Every time-driven transition of a rule (a threshold held ``for_s``, a window bucket leaving the
window, a dwell passing ``min_s``, a quiet alert resolving, a cooldown ending, a held-back update)
happens when the time since one of the state's timestamps reaches one of the rule's durations
(or the sum of two). The earliest such candidate after now is when to look again; anything not
of that form (a schedule's time-of-day limit) is caught by looking at least every
``RECHECK_CAP_S`` for rules with a schedule; other rules are looked at least every
``UNSCHEDULED_CAP_S`` as a safety net.
"""

from __future__ import annotations

from datetime import datetime

from hub.due import RECHECK_CAP_S
from hub.rules.lifecycle import Timing
from hub.rules.model import Rule, WindowRule
from hub.rules.state import RuleState

UNSCHEDULED_CAP_S = 600.0
_RULE_DURATIONS = ("for_s", "window_s", "min_s", "absent_after_s", "after_s")


def durations(rule: Rule, timing: Timing) -> tuple[float, ...]:
    """The rule's durations and their pairwise sums, ascending."""
    single = {0.0, timing.resolve_after_s, timing.cooldown_s, timing.update_every_s}
    for name in _RULE_DURATIONS:
        value = getattr(rule, name, None)
        if value:
            single.add(float(value))
    if isinstance(rule, WindowRule):
        single.add(rule.bucket_s)
    return tuple(sorted({a + b for a in single for b in single}))


def marks(state: RuleState) -> list[float]:
    """The state's timestamps, as epoch seconds."""
    found = [
        moment.timestamp()
        for moment in (
            state.resolved_at,
            state.last_event_at,
            state.breach_since,
            state.last_seen,
            state.first_sample_at,
        )
        if moment is not None
    ]
    if state.open is not None:
        found += [
            state.open.opened_at.timestamp(),
            state.open.last_emitted_at.timestamp(),
            state.open.last_active_at.timestamp(),
        ]
    for presence in state.presence.values():
        found += [presence.since.timestamp(), presence.last_seen.timestamp()]
    found += [bucket.start for bucket in state.buckets]
    return found


def cap_s(rule: Rule) -> float:
    """How long a state of this rule may go unlooked-at, whatever its timestamps say."""
    scheduled = rule.schedule.days or rule.schedule.times
    return RECHECK_CAP_S if scheduled else UNSCHEDULED_CAP_S


def next_check(spans: tuple[float, ...], state: RuleState, now: datetime, cap: float) -> float:
    """Epoch seconds of the earliest candidate after ``now``, at most ``cap`` seconds away."""
    current = now.timestamp()
    best = current + cap
    for mark in marks(state):
        for span in spans:
            at = mark + span
            if at > best:
                break
            if at > current:
                best = at
                break
    return best

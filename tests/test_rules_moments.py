"""Timers skip rule states until ``next_check``: that moment must never be after a real change."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.due import RECHECK_CAP_S, DueIndex
from hub.rules import RuleEngine, RuleState, load_rules
from hub.rules.moments import UNSCHEDULED_CAP_S
from hub.rules.testing import camera, event
from topics.models import DeviceEvent, EventKind, ObjectClass, SiteType

JKT = ZoneInfo("Asia/Jakarta")
T0 = datetime(2026, 11, 25, 10, 0, 3, tzinfo=JKT)

RULES = """
version: 1
defaults: {resolve_after_s: 300, cooldown_s: 120, update_every_s: 45}
rules:
  - {id: crowd, kind: threshold, category: crowd, title: Crowd, events: [people_count],
     measure: count, threshold: 100, clear_at: 80, for_s: 90}
  - {id: traffic, kind: window, category: traffic, title: Traffic, events: [vehicle_count],
     measure: count, aggregate: sum, threshold: 50, window_s: 600, buckets: 10, min_samples: 2}
  - {id: quiet-road, kind: window, category: traffic, title: Quiet, events: [vehicle_count],
     measure: count, aggregate: sum, direction: below, threshold: 5, window_s: 300, buckets: 5}
  - {id: parking, kind: dwell, category: illegal_parking, title: Parking,
     events: [parking_violation], min_s: 240, absent_after_s: 100}
  - {id: tamper, kind: instant, category: tamper, title: Tamper, events: [tamper]}
"""


def random_events(rng: random.Random, cam, count: int) -> list[DeviceEvent]:
    at = T0
    events = []
    for _ in range(count):
        at += timedelta(seconds=rng.choice([1, 5, 20, 60, 200]))
        kind = rng.choice(["people", "vehicles", "parking", "tamper"])
        if kind == "people":
            events.append(event(cam, EventKind.PEOPLE_COUNT, at, count=rng.choice([50, 90, 150])))
        elif kind == "vehicles":
            events.append(
                event(
                    cam,
                    EventKind.VEHICLE_COUNT,
                    at,
                    count=rng.randint(0, 30),
                    object_class=ObjectClass.CAR,
                )
            )
        elif kind == "parking":
            events.append(
                event(cam, EventKind.PARKING_VIOLATION, at, active=rng.random() < 0.7, plate="H 1")
            )
        else:
            events.append(event(cam, EventKind.TAMPER, at))
    return events


def changes(engine: RuleEngine, rule, camera_id, state: RuleState, at: datetime) -> bool:
    updated, alerts = engine.tick(rule, camera_id, state, None, at)
    return bool(alerts) or updated != state


def first_change(engine: RuleEngine, rule, camera_id, state: RuleState, start: datetime) -> float:
    """Seconds after ``start`` at which a tick first changes the state (second by second, 60 s)."""
    for second in range(1, int(RECHECK_CAP_S) + 1):
        if changes(engine, rule, camera_id, state, start + timedelta(seconds=second)):
            return float(second)
    return float("inf")


@pytest.mark.parametrize("seed", range(6))
def test_next_check_is_never_after_the_first_time_driven_change(seed: int) -> None:
    rng = random.Random(seed)
    engine = RuleEngine(load_rules(RULES))
    cam = camera("MKT-1", site_type=SiteType.MARKET, at=T0)
    states: dict[str, RuleState] = {}
    checked = 0
    for evt in random_events(rng, cam, 60):
        for rule in engine.rules_for(evt, cam):
            state, _ = engine.apply(rule, evt, cam, states.get(rule.id), now=evt.received_at)
            states[rule.id] = state
        # Look from a few moments after this event, as a timer would.
        for rule_id, state in states.items():
            rule = engine.rule(rule_id)
            assert rule is not None
            for offset in (0.0, rng.uniform(0, 30)):
                now = evt.received_at + timedelta(seconds=offset)
                quiet, alerts = engine.tick(rule, cam.camera_id, state, None, now)
                if alerts or quiet != state:
                    continue  # due already: the timer sends a tick now
                due_in = engine.next_check(rule, state, now) - now.timestamp()
                change_in = first_change(engine, rule, cam.camera_id, state, now)
                assert 0 < due_in <= UNSCHEDULED_CAP_S
                assert due_in <= change_in, (rule_id, state, now, due_in, change_in)
                # Time-driven changes of a rule without a schedule only ever switch on, so no
                # change just before the due moment means none anywhere before it.
                just_before = now + timedelta(seconds=due_in - 0.001)
                assert not changes(engine, rule, cam.camera_id, state, just_before), (
                    rule_id,
                    state,
                    now,
                    due_in,
                )
                checked += 1
    assert checked > 50


def test_due_index_pops_due_keys_once_and_respects_later_touches() -> None:
    due = DueIndex()
    due.sync(["a", "b"])
    assert sorted(key for key, _ in due.pop_due(0.0)) == ["a", "b"]
    due.schedule("a", 10.0, version=1)
    due.schedule("b", 20.0, version=1)
    assert due.pop_due(5.0) == []
    [(key, version)] = due.pop_due(10.0)
    assert key == "a"
    due.touch("a")  # written while the timer was looking: the schedule below is stale
    due.schedule("a", 100.0, version)
    [(key, version)] = due.pop_due(11.0)
    due.schedule(key, 500.0, version)
    due.sync(["a"])  # b was deleted from the table
    assert len(due) == 1
    assert due.pop_due(499.0) == []
    assert [k for k, _ in due.pop_due(1000.0)] == ["a"]

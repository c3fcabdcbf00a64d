"""Any sequence of events, health results and ticks keeps rule state bounded and the lifecycle consistent."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.harness import RuleHarness
from hub.rules import RuleEngine, load_rules
from hub.rules.state import MAX_EVENT_IDS
from hub.rules.testing import camera, event, status
from topics.models import AlertStatus, CameraState, EventKind, ObjectClass

T0 = datetime(2026, 11, 25, 21, 0, tzinfo=ZoneInfo("Asia/Jakarta"))

RULES = """
version: 1
defaults: {resolve_after_s: 120, cooldown_s: 60, update_every_s: 10}
rules:
  - id: crowd
    kind: threshold
    category: crowd
    title: Crowd
    events: [people_count]
    measure: count
    threshold: 50
    clear_at: 40
    for_s: 10
  - id: traffic
    kind: window
    category: traffic
    title: Traffic
    events: [vehicle_count, object_count]
    filter: {object_classes: [vehicle, car]}
    measure: count
    aggregate: sum
    threshold: 100
    window_s: 300
    buckets: 10
  - id: traffic-low
    kind: window
    category: traffic
    title: Traffic low
    events: [vehicle_count]
    measure: count
    aggregate: avg
    direction: below
    threshold: 3
    window_s: 120
    buckets: 4
  - id: parking
    kind: dwell
    category: illegal_parking
    title: Parking
    events: [parking_violation]
    min_s: 30
    absent_after_s: 600
    max_tracked: 4
  - id: tamper
    kind: instant
    category: tamper
    title: Tamper
    events: [tamper]
  - id: night
    kind: instant
    category: line_crossing
    title: Night
    events: [line_crossing]
    schedule: {times: ["22:00-05:00"]}
  - id: offline
    kind: offline
    category: camera_offline
    title: Offline
    after_s: 90
"""

ENGINE = RuleEngine(load_rules(RULES))
CAMS = [camera("P-1", at=T0), camera("P-2", at=T0)]

KINDS = [
    EventKind.PEOPLE_COUNT,
    EventKind.VEHICLE_COUNT,
    EventKind.OBJECT_COUNT,
    EventKind.PARKING_VIOLATION,
    EventKind.TAMPER,
    EventKind.LINE_CROSSING,
    EventKind.MOTION,
]

event_step = st.tuples(
    st.just("event"),
    st.integers(min_value=0, max_value=1),
    st.sampled_from(KINDS),
    st.integers(min_value=-30, max_value=400),  # seconds since the previous step (can go back)
    st.sampled_from([None, True, False]),
    st.fixed_dictionaries(
        {},
        optional={
            "count": st.integers(min_value=0, max_value=200),
            "plate": st.text(alphabet="ABCDEFGH0123", min_size=1, max_size=3),
            "dwell_s": st.floats(min_value=0, max_value=5000, allow_nan=False),
            "object_class": st.sampled_from(
                [ObjectClass.CAR, ObjectClass.HUMAN, ObjectClass.VEHICLE]
            ),
        },
    ),
    st.integers(min_value=-1, max_value=1),  # device clock: on time, far behind, far ahead
)
tick_step = st.tuples(st.just("tick"), st.integers(min_value=0, max_value=900))
health_step = st.tuples(
    st.just("health"),
    st.integers(min_value=0, max_value=1),
    st.sampled_from(list(CameraState)),
    st.integers(min_value=0, max_value=200),
)
steps = st.lists(st.one_of(event_step, tick_step, health_step), max_size=80)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_any_sequence_keeps_state_bounded_and_lifecycle_consistent(script):
    h = RuleHarness(ENGINE, CAMS)
    now = T0
    for step in script:
        if step[0] == "event":
            _, cam_index, kind, delta, active, attrs, clock = step
            now += timedelta(seconds=max(delta, 0))
            device_time = (
                now + timedelta(seconds=delta if delta < 0 else 0) + timedelta(days=3 * clock)
            )
            h.feed(
                event(CAMS[cam_index], kind, device_time, active=active, received_at=now, **attrs),
                now,
            )
        elif step[0] == "tick":
            now += timedelta(seconds=step[1])
            h.tick(now)
        else:
            _, cam_index, state, delta = step
            now += timedelta(seconds=delta)
            h.health(status(CAMS[cam_index], state, now), now)
        for key, text in h.states.items():
            assert len(text) < 4000, key
            state = h.state(*key)
            assert state is not None
            assert len(state.buckets) <= 11
            assert len(state.presence) <= 4
            assert state.open is None or len(state.open.event_ids) <= MAX_EVENT_IDS
    _assert_lifecycles(h.alerts)


def _assert_lifecycles(alerts):
    """Per alert: opened at 0, +1 each state, nothing after resolved; per (camera, rule): one open at a time."""
    by_id: dict[str, list] = {}
    open_now: dict[tuple[str, str], str] = {}
    for alert in alerts:
        history = by_id.setdefault(alert.alert_id, [])
        key = (alert.camera_id, alert.rule_id)
        if alert.status is AlertStatus.OPENED:
            assert not history and alert.sequence == 0
            assert key not in open_now, f"second open alert for {key}"
            open_now[key] = alert.alert_id
        else:
            assert history and history[-1].status is not AlertStatus.RESOLVED
            assert alert.sequence == history[-1].sequence + 1
            assert alert.updated_at >= history[-1].updated_at
            assert open_now.get(key) == alert.alert_id
            if alert.status is AlertStatus.RESOLVED:
                del open_now[key]
        history.append(alert)

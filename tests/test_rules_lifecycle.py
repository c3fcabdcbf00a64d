"""Alert lifecycle shared by every rule kind: dedupe, updates, resolve, cooldown, stable ids, event time."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.harness import RuleHarness
from hub.rules import RuleEngine, RuleState, load_rules
from hub.rules.testing import camera, event
from topics.identity import alert_id
from topics.models import AlertStatus, EventKind, SiteType

JKT = ZoneInfo("Asia/Jakarta")
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=JKT)

RULES = """
version: 1
defaults: {resolve_after_s: 600, cooldown_s: 300, update_every_s: 60}
rules:
  - id: crowd
    kind: threshold
    category: crowd
    title: Crowd
    events: [people_count]
    measure: count
    threshold: 100
  - id: tamper
    kind: instant
    category: tamper
    title: Tamper
    events: [tamper]
    lifecycle: {resolve_after_s: 120, cooldown_s: 600}
"""


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def cam():
    return camera("LC-1", site_type=SiteType.MARKET, at=T0)


@pytest.fixture
def h(cam) -> RuleHarness:
    return RuleHarness(RuleEngine(load_rules(RULES)), [cam])


def statuses(alerts):
    return [(a.status, a.sequence) for a in alerts]


def test_one_open_alert_per_camera_and_rule(h, cam):
    for i in range(20):
        h.feed(event(cam, EventKind.TAMPER, s(i * 5), active=True))
    opened = [a for a in h.alerts if a.status is AlertStatus.OPENED]
    assert len(opened) == 1
    assert {a.alert_id for a in h.alerts} == {opened[0].alert_id}


def test_two_cameras_get_separate_alerts(h, cam):
    other = camera("LC-2", at=T0)
    h.cameras[other.camera_id] = other
    h.feed(event(cam, EventKind.TAMPER, s(0), active=True))
    h.feed(event(other, EventKind.TAMPER, s(0), active=True))
    assert len({a.alert_id for a in h.alerts}) == 2


def test_updates_follow_the_measurement_and_are_rate_limited(h, cam):
    h.feed(event(cam, EventKind.PEOPLE_COUNT, s(0), count=100))
    h.feed(event(cam, EventKind.PEOPLE_COUNT, s(10), count=150))  # changed, but within 60 s
    h.feed(event(cam, EventKind.PEOPLE_COUNT, s(20), count=160))
    assert statuses(h.alerts) == [(AlertStatus.OPENED, 0)]
    update = h.feed(event(cam, EventKind.PEOPLE_COUNT, s(61), count=170))
    assert statuses(update) == [(AlertStatus.UPDATED, 1)]
    assert update[0].measurement == 170
    assert h.feed(event(cam, EventKind.PEOPLE_COUNT, s(130), count=170)) == []  # nothing new


def test_a_held_back_update_is_flushed_by_tick(h, cam):
    h.feed(event(cam, EventKind.PEOPLE_COUNT, s(0), count=100))
    h.feed(event(cam, EventKind.PEOPLE_COUNT, s(10), count=180))
    assert statuses(h.tick(s(30))) == []
    flushed = h.tick(s(61))
    assert statuses(flushed) == [(AlertStatus.UPDATED, 1)] and flushed[0].measurement == 180


def test_resolves_when_the_condition_ends(h, cam):
    h.feed(event(cam, EventKind.PEOPLE_COUNT, s(0), count=120))
    resolved = h.feed(event(cam, EventKind.PEOPLE_COUNT, s(30), count=20))
    assert statuses(resolved) == [(AlertStatus.RESOLVED, 1)]
    assert resolved[0].resolved_at == s(30) and resolved[0].measurement == 20


def test_resolves_after_the_quiet_period(h, cam):
    h.feed(event(cam, EventKind.TAMPER, s(0), active=True))
    h.feed(event(cam, EventKind.TAMPER, s(50), active=True))
    assert h.tick(s(169)) == []
    resolved = h.tick(s(500))
    assert statuses(resolved) == [(AlertStatus.RESOLVED, 1)]
    # resolved at the end of the quiet period, not whenever the timer happened to run
    assert resolved[0].resolved_at == s(170)


def test_cooldown_stops_a_flapping_camera_from_flooding(h, cam):
    for cycle in range(10):  # tamper on/off every 30 s for 5 minutes
        h.feed(event(cam, EventKind.TAMPER, s(cycle * 30), active=True))
        h.feed(event(cam, EventKind.TAMPER, s(cycle * 30 + 10), active=False))
    assert statuses(h.alerts) == [(AlertStatus.OPENED, 0), (AlertStatus.RESOLVED, 1)]
    # after the 600 s cooldown a new alert, with a new id, may open
    again = h.feed(event(cam, EventKind.TAMPER, s(700), active=True))
    assert statuses(again) == [(AlertStatus.OPENED, 0)]
    assert again[0].alert_id != h.alerts[0].alert_id


def test_alert_id_is_stable_and_replay_gives_the_same_alerts(cam):
    events = [event(cam, EventKind.PEOPLE_COUNT, s(i * 20), count=90 + i * 5) for i in range(10)]
    runs = []
    for _ in range(2):
        h = RuleHarness(RuleEngine(load_rules(RULES)), [cam])
        for evt in events:
            h.feed(evt)
        runs.append([a.model_dump() for a in h.alerts])
    assert runs[0] == runs[1]
    first = runs[0][0]
    assert first["alert_id"] == alert_id(camera_id=cam.camera_id, rule_id="crowd", opened_at=s(40))


def test_event_ids_are_carried_and_capped(h, cam):
    for i in range(40):
        h.feed(event(cam, EventKind.TAMPER, s(i), active=True, detail=f"n{i}"))
    state = h.state(cam.camera_id, "tamper")
    assert state is not None and state.open is not None
    assert len(state.open.event_ids) == 20
    h.tick(s(1000))
    assert len(h.alerts[-1].event_ids) == 20


def test_device_clock_far_off_uses_the_receive_time(h, cam):
    wrong = T0 - timedelta(days=400)  # a camera whose clock was never set
    evt = event(cam, EventKind.TAMPER, wrong, active=True, received_at=s(5))
    opened = h.feed(evt, now=s(6))
    assert opened[0].opened_at == s(5)


def test_device_clock_slightly_off_is_trusted(h, cam):
    evt = event(cam, EventKind.TAMPER, s(0), active=True, received_at=s(90))
    assert h.feed(evt, now=s(91))[0].opened_at == s(0)


def test_apply_does_not_change_the_state_it_was_given(cam):
    engine = RuleEngine(load_rules(RULES))
    rule = engine.rule("crowd")
    before = RuleState()
    evt = event(cam, EventKind.PEOPLE_COUNT, s(0), count=500)
    after, alerts = engine.apply(rule, evt, cam, before, s(1))  # type: ignore[arg-type]
    assert before == RuleState() and after.open is not None and len(alerts) == 1


def test_state_survives_a_json_round_trip(h, cam):
    h.feed(event(cam, EventKind.PEOPLE_COUNT, s(0), count=150))
    state = h.state(cam.camera_id, "crowd")
    assert state is not None
    assert RuleState.from_json(state.to_json()) == state
    assert len(state.to_json()) < 2000


def test_state_goes_idle_after_resolve_and_cooldown(h, cam):
    h.feed(event(cam, EventKind.TAMPER, s(0), active=True))
    h.feed(event(cam, EventKind.TAMPER, s(10), active=False))
    h.tick(s(700))
    assert h.state(cam.camera_id, "tamper") is None or h.state(cam.camera_id, "tamper").idle


def test_an_unfinished_breach_is_forgotten_when_readings_stop(h, cam):
    slow = RuleEngine(load_rules(RULES.replace("threshold: 100", "threshold: 100\n    for_s: 300")))
    rule = slow.rule("crowd")
    state, _ = slow.apply(
        rule, event(cam, EventKind.PEOPLE_COUNT, s(0), count=500), cam, None, s(1)
    )  # type: ignore[arg-type]
    assert state.breach_since is not None and not state.idle
    state, alerts = slow.tick(rule, cam.camera_id, state, cam, s(1000))  # type: ignore[arg-type]
    assert alerts == [] and state.idle


def test_removed_rule_resolves_its_open_alert(h, cam):
    h.feed(event(cam, EventKind.TAMPER, s(0), active=True))
    state = h.state(cam.camera_id, "tamper")
    [resolved] = RuleEngine.retire("tamper", cam.camera_id, state, cam, s(30))
    assert (resolved.status, resolved.sequence, resolved.rule_id) == (
        AlertStatus.RESOLVED,
        1,
        "tamper",
    )
    assert resolved.alert_id == h.alerts[0].alert_id and resolved.title == "Tamper"
    assert "rule was removed" in (resolved.summary or "")
    assert RuleEngine.retire("tamper", cam.camera_id, None, cam, s(30)) == []


def test_open_alert_keeps_what_its_rule_said_when_it_opened(h, cam):
    h.feed(event(cam, EventKind.PEOPLE_COUNT, s(0), count=150))
    stricter = RuleEngine(
        load_rules(
            RULES.replace("    title: Crowd\n", "    title: Big crowd\n    severity: critical\n")
        )
    )
    rule = stricter.rule("crowd")
    _, [resolved] = stricter.apply(  # type: ignore[arg-type]
        rule,
        event(cam, EventKind.PEOPLE_COUNT, s(30), count=10),
        cam,
        h.state(cam.camera_id, "crowd"),
        s(31),
    )
    assert resolved.status is AlertStatus.RESOLVED
    assert (resolved.title, resolved.severity.value) == ("Crowd", "warning")

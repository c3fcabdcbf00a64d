"""Which rules an event concerns: schedules in Asia/Jakarta (overnight, days of week), areas, site types."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.harness import RuleHarness
from hub.rules import RuleEngine, load_rules
from hub.rules.schedule import Schedule
from hub.rules.testing import camera, event
from topics.models import EventKind, OwnerKind, SiteType

JKT = ZoneInfo("Asia/Jakarta")


def jkt(day: int, hour: int, minute: int = 0) -> datetime:
    """November 2026 in Jakarta: the 23rd is a Monday, the 27th a Friday, the 28th a Saturday."""
    return datetime(2026, 11, day, hour, minute, tzinfo=JKT)


NIGHT = """
version: 1
rules:
  - id: night-crossing
    kind: instant
    category: line_crossing
    title: Night crossing
    events: [line_crossing]
    schedule:
      times: ["22:00-05:00"]
"""


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (jkt(25, 21, 59), False),
        (jkt(25, 22, 0), True),
        (jkt(25, 23, 30), True),
        (jkt(26, 0, 0), True),
        (jkt(26, 4, 59), True),
        (jkt(26, 5, 0), False),
        (jkt(26, 12, 0), False),
    ],
)
def test_overnight_schedule(at, expected):
    engine = RuleEngine(load_rules(NIGHT))
    cam = camera(at=at)
    assert bool(engine.rules_for(event(cam, EventKind.LINE_CROSSING, at), cam)) is expected


def test_schedule_is_evaluated_in_jakarta_not_utc():
    engine = RuleEngine(load_rules(NIGHT))
    cam = camera(at=jkt(25, 0))
    # 16:00 UTC is 23:00 in Jakarta (UTC+7): inside the night window
    at_utc = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
    assert engine.rules_for(event(cam, EventKind.LINE_CROSSING, at_utc), cam)
    # 22:30 UTC is 05:30 the next morning in Jakarta: outside, although 22:30 "looks" inside
    at_utc = datetime(2026, 11, 25, 22, 30, tzinfo=UTC)
    assert not engine.rules_for(event(cam, EventKind.LINE_CROSSING, at_utc), cam)


def test_overnight_range_belongs_to_the_day_it_starts():
    weekend_nights = Schedule.model_validate({"days": ["fri", "sat"], "times": ["22:00-05:00"]})
    assert weekend_nights.in_force(jkt(27, 23), JKT)  # Friday night
    assert weekend_nights.in_force(jkt(28, 3), JKT)  # small hours of Saturday: Friday's night
    assert weekend_nights.in_force(jkt(29, 3), JKT)  # small hours of Sunday: Saturday's night
    assert not weekend_nights.in_force(jkt(30, 3), JKT)  # small hours of Monday: Sunday's night
    assert not weekend_nights.in_force(jkt(26, 23), JKT)  # Thursday night


def test_days_of_week_in_jakarta():
    weekdays = Schedule.model_validate({"days": ["mon", "tue", "wed", "thu", "fri"]})
    assert weekdays.in_force(jkt(27, 12), JKT)
    assert not weekdays.in_force(jkt(28, 12), JKT)
    # Friday 20:00 UTC is already Saturday 03:00 in Jakarta
    assert not weekdays.in_force(datetime(2026, 11, 27, 20, 0, tzinfo=UTC), JKT)


def test_day_and_time_ranges_combine():
    peaks = Schedule.model_validate({"days": ["mon"], "times": ["06:00-09:00", "16:00-19:00"]})
    assert peaks.in_force(jkt(23, 7), JKT)
    assert peaks.in_force(jkt(23, 18, 59), JKT)
    assert not peaks.in_force(jkt(23, 12), JKT)
    assert not peaks.in_force(jkt(24, 7), JKT)


def test_an_alert_outside_its_schedule_is_not_raised_by_a_timer():
    text = """
version: 1
rules:
  - id: parking
    kind: dwell
    category: illegal_parking
    title: Parking
    events: [parking_violation]
    min_s: 600
    schedule: {times: ["07:00-18:00"]}
"""
    cam = camera(at=jkt(25, 0))
    h = RuleHarness(RuleEngine(load_rules(text)), [cam])
    h.feed(event(cam, EventKind.PARKING_VIOLATION, jkt(25, 17, 55), active=True, plate="H 1"))
    # the vehicle crossed 10 minutes at 18:05, after the schedule ended
    assert h.tick(jkt(25, 18, 30)) == []


SCOPED = """
version: 1
rules:
  - id: market-crowd
    kind: threshold
    category: crowd
    title: Crowd
    events: [people_count]
    measure: count
    threshold: 10
    scope:
      site_types: [market, tourist_site]
      kecamatan: [Semarang Tengah, Semarang Utara]
      kelurahan: [Sekayu, Kuningan]
      owner_kinds: [municipal]
"""


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({}, None),
        ({"site_type": SiteType.RT_POST}, "site type rt_post"),
        ({"kecamatan": "Tembalang"}, "kecamatan 'Tembalang'"),
        ({"kelurahan": "Pekunden"}, "kelurahan 'Pekunden'"),
        ({"owner_kind": OwnerKind.PRIVATE}, "owner kind private"),
        ({"kecamatan": "  semarang   TENGAH "}, None),
    ],
)
def test_scope_by_site_type_area_and_owner(changes, reason):
    engine = RuleEngine(load_rules(SCOPED))
    args = {"site_type": SiteType.MARKET, "kecamatan": "Semarang Tengah", "kelurahan": "Sekayu"}
    args.update(changes)
    cam = camera(at=jkt(25, 0), **args)
    evt = event(cam, EventKind.PEOPLE_COUNT, jkt(25, 10), count=50)
    matched = engine.rules_for(evt, cam)
    [(_, reasons)] = engine.explain(evt, cam)
    if reason is None:
        assert matched and reasons == []
    else:
        assert not matched
        assert any(reason in r for r in reasons), reasons


def test_scoped_rule_needs_a_known_camera():
    engine = RuleEngine(load_rules(SCOPED))
    cam = camera(at=jkt(25, 0))
    evt = event(cam, EventKind.PEOPLE_COUNT, jkt(25, 10), count=50)
    assert engine.rules_for(evt, None) == []
    [(_, reasons)] = engine.explain(evt, None)
    assert "not in the registry" in reasons[0]


def test_disabled_rule_never_matches():
    engine = RuleEngine(load_rules(NIGHT.replace("    title:", "    enabled: false\n    title:")))
    cam = camera(at=jkt(25, 0))
    evt = event(cam, EventKind.LINE_CROSSING, jkt(25, 23))
    assert engine.rules_for(evt, cam) == []
    assert "rule is disabled" in engine.explain(evt, cam)[0][1]


def test_explain_says_why_the_schedule_does_not_apply():
    engine = RuleEngine(load_rules(NIGHT))
    cam = camera(at=jkt(25, 0))
    [(_, reasons)] = engine.explain(event(cam, EventKind.LINE_CROSSING, jkt(25, 12)), cam)
    assert reasons == ["Wed 12:00 Asia/Jakarta is outside the schedule (every day 22:00-05:00)"]


def test_event_kind_must_be_listed():
    engine = RuleEngine(load_rules(NIGHT))
    cam = camera(at=jkt(25, 0))
    evt = event(cam, EventKind.INTRUSION, jkt(25, 23))
    assert engine.rules_for(evt, cam) == []
    assert "not one of line_crossing" in engine.explain(evt, cam)[0][1][0]


def test_offline_rules_are_selected_by_scope():
    text = """
version: 1
rules:
  - id: offline-roads
    kind: offline
    category: camera_offline
    title: Offline
    after_s: 300
    scope: {site_types: [main_road]}
"""
    engine = RuleEngine(load_rules(text))
    road = camera("R", site_type=SiteType.MAIN_ROAD, at=jkt(25, 0))
    shop = camera("S", site_type=SiteType.SHOP, at=jkt(25, 0))
    assert [r.id for r in engine.offline_rules(road)] == ["offline-roads"]
    assert engine.offline_rules(shop) == []


def test_future_device_time_is_clamped_to_now():
    engine = RuleEngine(load_rules(NIGHT))
    cam = camera(at=jkt(25, 0))
    now = jkt(25, 23)
    evt = event(cam, EventKind.LINE_CROSSING, now + timedelta(seconds=120), received_at=now)
    [rule] = engine.rules_for(evt, cam)
    _, alerts = engine.apply(rule, evt, cam, None, now)
    assert alerts[0].opened_at == now

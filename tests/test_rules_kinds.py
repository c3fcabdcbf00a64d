"""Each rule kind fires when it should and stays quiet when it should not."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.harness import RuleHarness
from hub.rules import RuleEngine, load_rules
from hub.rules.testing import camera, event, status
from topics.models import AlertCategory, AlertStatus, CameraState, EventKind, ObjectClass, SiteType

JKT = ZoneInfo("Asia/Jakarta")
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=JKT)  # a Wednesday morning


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def harness(rules_yaml: str, *cams) -> RuleHarness:
    text = "version: 1\ndefaults: {resolve_after_s: 600, cooldown_s: 300, update_every_s: 60}\nrules:\n"
    return RuleHarness(RuleEngine(load_rules(text + rules_yaml)), list(cams))


CROWD = """
  - id: crowd
    kind: threshold
    category: crowd
    severity: warning
    title: Crowd
    events: [people_count]
    measure: count
    threshold: 100
    for_s: 120
"""


@pytest.fixture
def market():
    return camera("MKT-1", site_type=SiteType.MARKET, at=T0)


def test_threshold_opens_once_the_level_is_held_long_enough(market):
    h = harness(CROWD, market)
    assert h.feed(event(market, EventKind.PEOPLE_COUNT, s(0), count=120)) == []
    assert h.feed(event(market, EventKind.PEOPLE_COUNT, s(60), count=130)) == []
    opened = h.feed(event(market, EventKind.PEOPLE_COUNT, s(120), count=140))
    assert [a.status for a in opened] == [AlertStatus.OPENED]
    alert = opened[0]
    assert alert.category is AlertCategory.CROWD
    assert alert.measurement == 140 and alert.threshold == 100
    assert alert.opened_at == s(120)
    assert alert.camera_name == market.name and alert.location == market.location


def test_threshold_stays_quiet_below_the_level(market):
    h = harness(CROWD, market)
    for i in range(10):
        h.feed(event(market, EventKind.PEOPLE_COUNT, s(i * 60), count=99))
    assert h.alerts == []


def test_threshold_stays_quiet_when_the_breach_is_too_short(market):
    h = harness(CROWD, market)
    h.feed(event(market, EventKind.PEOPLE_COUNT, s(0), count=150))
    h.feed(event(market, EventKind.PEOPLE_COUNT, s(60), count=150))
    h.feed(event(market, EventKind.PEOPLE_COUNT, s(90), count=50))  # dips: the clock restarts
    h.feed(event(market, EventKind.PEOPLE_COUNT, s(150), count=150))
    h.feed(event(market, EventKind.PEOPLE_COUNT, s(200), count=150))
    assert h.alerts == []


def test_threshold_after_a_silence_does_not_count_as_sustained(market):
    h = harness(CROWD, market)
    h.feed(event(market, EventKind.PEOPLE_COUNT, s(0), count=150))
    # 20 minutes without readings (longer than resolve_after_s): no evidence it held throughout
    assert h.feed(event(market, EventKind.PEOPLE_COUNT, s(1200), count=150)) == []
    assert len(h.feed(event(market, EventKind.PEOPLE_COUNT, s(1320), count=150))) == 1


def test_threshold_with_hysteresis_stays_open_until_the_clear_level(market):
    h = harness(CROWD.replace("for_s: 120", "for_s: 0\n    clear_at: 80"), market)
    assert (
        h.feed(event(market, EventKind.PEOPLE_COUNT, s(0), count=100))[0].status
        is AlertStatus.OPENED
    )
    assert h.feed(event(market, EventKind.PEOPLE_COUNT, s(30), count=90)) == []  # still >= 80
    resolved = h.feed(event(market, EventKind.PEOPLE_COUNT, s(60), count=70))
    assert [a.status for a in resolved] == [AlertStatus.RESOLVED]


def test_crowd_density_threshold(market):
    h = harness(
        """
  - id: density
    kind: threshold
    category: crowd
    title: Dense
    events: [crowd_density]
    measure: crowd_density
    threshold: 4
    for_s: 60
""",
        market,
    )
    h.feed(event(market, EventKind.CROWD_DENSITY, s(0), crowd_density=4.5))
    assert h.feed(event(market, EventKind.CROWD_DENSITY, s(30), crowd_density=3.9)) == []
    h.feed(event(market, EventKind.CROWD_DENSITY, s(40), crowd_density=4.2))
    assert (
        h.feed(event(market, EventKind.CROWD_DENSITY, s(100), crowd_density=4.1))[0].measurement
        == 4.1
    )


def test_flood_level_fires_at_the_level_and_not_below(market):
    h = harness(
        """
  - id: flood
    kind: threshold
    category: flood
    severity: critical
    title: Flood
    events: [flood_level]
    measure: flood_level_cm
    threshold: 60
""",
        market,
    )
    assert h.feed(event(market, EventKind.FLOOD_LEVEL, s(0), flood_level_cm=59.9)) == []
    opened = h.feed(event(market, EventKind.FLOOD_LEVEL, s(60), flood_level_cm=60))
    assert opened[0].severity.value == "critical"


TRAFFIC = """
  - id: traffic
    kind: window
    category: traffic
    title: Heavy traffic
    events: [vehicle_count, object_count]
    filter:
      object_classes: [vehicle, car, motorcycle, bus, truck]
    measure: count
    aggregate: sum
    threshold: 100
    window_s: 600
    buckets: 10
    min_samples: 2
"""


def test_window_sum_fires_when_the_window_total_reaches_the_level(market):
    h = harness(TRAFFIC, market)
    assert h.feed(event(market, EventKind.VEHICLE_COUNT, s(0), count=60)) == []  # one sample
    opened = h.feed(
        event(market, EventKind.OBJECT_COUNT, s(60), count=40, object_class=ObjectClass.CAR)
    )
    assert opened[0].status is AlertStatus.OPENED and opened[0].measurement == 100


def test_window_ignores_other_object_classes(market):
    h = harness(TRAFFIC, market)
    h.feed(event(market, EventKind.VEHICLE_COUNT, s(0), count=60))
    h.feed(event(market, EventKind.OBJECT_COUNT, s(60), count=500, object_class=ObjectClass.HUMAN))
    h.feed(event(market, EventKind.OBJECT_COUNT, s(70), count=30))  # no class: not a vehicle
    assert h.alerts == []


def test_window_forgets_readings_older_than_the_window(market):
    h = harness(TRAFFIC, market)
    h.feed(event(market, EventKind.VEHICLE_COUNT, s(0), count=60))
    h.feed(event(market, EventKind.VEHICLE_COUNT, s(300), count=30))
    # the 60 from t=0 has left the 10-minute window by t=700
    assert h.feed(event(market, EventKind.VEHICLE_COUNT, s(700), count=30)) == []


def test_window_below_waits_for_a_full_window_before_judging(market):
    h = harness(
        TRAFFIC.replace("threshold: 100", "threshold: 20\n    direction: below").replace(
            "min_samples: 2", "min_samples: 3"
        ),
        market,
    )
    for minute in range(10):  # only one car a minute: but the first judgement needs 10 minutes
        assert h.feed(event(market, EventKind.VEHICLE_COUNT, s(minute * 60), count=1)) == []
    opened = h.feed(event(market, EventKind.VEHICLE_COUNT, s(600), count=1))
    assert opened[0].status is AlertStatus.OPENED


def test_window_alert_resolves_when_the_window_empties(market):
    h = harness(TRAFFIC, market)
    h.feed(event(market, EventKind.VEHICLE_COUNT, s(0), count=60))
    h.feed(event(market, EventKind.VEHICLE_COUNT, s(30), count=60))
    assert h.tick(s(300)) == []
    resolved = h.tick(s(700))
    assert [a.status for a in resolved] == [AlertStatus.RESOLVED]


def test_mask_compliance_average_below_level(market):
    h = harness(
        """
  - id: masks
    kind: window
    category: mask_compliance
    title: Masks
    events: [mask_compliance]
    measure: mask_compliance_pct
    aggregate: avg
    direction: below
    threshold: 60
    window_s: 1800
    min_samples: 3
    require_full_window: false
""",
        market,
    )
    h.feed(event(market, EventKind.MASK_COMPLIANCE, s(0), mask_compliance_pct=50))
    h.feed(event(market, EventKind.MASK_COMPLIANCE, s(60), mask_compliance_pct=90))
    assert h.feed(event(market, EventKind.MASK_COMPLIANCE, s(120), mask_compliance_pct=70)) == []
    opened = h.feed(event(market, EventKind.MASK_COMPLIANCE, s(180), mask_compliance_pct=10))
    assert opened[0].measurement == pytest.approx(55.0)


PARKING = """
  - id: parking
    kind: dwell
    category: illegal_parking
    title: Illegal parking
    events: [parking_violation]
    min_s: 600
"""


def test_dwell_opens_on_tick_once_a_started_vehicle_stays_too_long(market):
    h = harness(PARKING, market)
    h.feed(event(market, EventKind.PARKING_VIOLATION, s(0), active=True, plate="H 1234 AB"))
    assert h.tick(s(599)) == []
    opened = h.tick(s(700))
    assert opened[0].status is AlertStatus.OPENED
    assert opened[0].opened_at == s(600)  # the moment it crossed the limit, not the tick
    resolved = h.feed(
        event(market, EventKind.PARKING_VIOLATION, s(900), active=False, plate="H 1234 AB")
    )
    assert [a.status for a in resolved] == [AlertStatus.RESOLVED]


def test_dwell_vehicle_leaving_in_time_raises_nothing(market):
    h = harness(PARKING, market)
    h.feed(event(market, EventKind.PARKING_VIOLATION, s(0), active=True, plate="H 1"))
    h.feed(event(market, EventKind.PARKING_VIOLATION, s(300), active=False, plate="H 1"))
    assert h.tick(s(1000)) == []
    assert h.alerts == []


def test_dwell_reported_by_the_device_opens_at_once(market):
    h = harness(PARKING, market)
    assert h.feed(event(market, EventKind.PARKING_VIOLATION, s(0), dwell_s=300)) == []
    opened = h.feed(event(market, EventKind.PARKING_VIOLATION, s(60), dwell_s=700))
    assert opened[0].measurement == 700


def test_garbage_present_too_long(market):
    h = harness(
        """
  - id: garbage
    kind: dwell
    category: garbage
    title: Garbage
    events: [garbage]
    min_s: 7200
    absent_after_s: 3600
""",
        market,
    )
    for minute in range(0, 120, 30):  # garbage seen every half hour (pulses, no active flag)
        h.feed(event(market, EventKind.GARBAGE, s(minute * 60)))
    assert h.alerts == []
    opened = h.feed(event(market, EventKind.GARBAGE, s(7200)))
    assert opened[0].category is AlertCategory.GARBAGE
    # no more sightings: forgotten after absent_after_s, which resolves the alert
    assert [a.status for a in h.tick(s(7200 + 3601))] == [AlertStatus.RESOLVED]


def test_instant_tamper_opens_and_resolves_on_the_end_event(market):
    h = harness(
        """
  - id: tamper
    kind: instant
    category: tamper
    severity: critical
    title: Tamper
    events: [tamper]
""",
        market,
    )
    assert h.feed(event(market, EventKind.MOTION, s(0))) == []
    assert (
        h.feed(event(market, EventKind.TAMPER, s(10), active=True))[0].status is AlertStatus.OPENED
    )
    assert (
        h.feed(event(market, EventKind.TAMPER, s(20), active=False))[0].status
        is AlertStatus.RESOLVED
    )


def test_storage_failure_filter_on_detail(market):
    h = harness(
        """
  - id: storage
    kind: instant
    category: storage_failure
    title: Storage
    events: [storage_failure]
    filter: {details: [disk_full, disk_error]}
""",
        market,
    )
    assert h.feed(event(market, EventKind.STORAGE_FAILURE, s(0), detail="disk_almost_full")) == []
    assert len(h.feed(event(market, EventKind.STORAGE_FAILURE, s(5), detail="disk_full"))) == 1


def test_intrusion_below_min_confidence_is_ignored(market):
    h = harness(
        """
  - id: intrusion
    kind: instant
    category: intrusion
    title: Intrusion
    events: [intrusion]
    filter: {min_confidence: 0.6}
""",
        market,
    )
    assert h.feed(event(market, EventKind.INTRUSION, s(0), confidence=0.3)) == []
    assert len(h.feed(event(market, EventKind.INTRUSION, s(5), confidence=0.9))) == 1


OFFLINE = """
  - id: offline
    kind: offline
    category: camera_offline
    title: Camera offline
    after_s: 600
"""


def test_offline_after_silence_and_back_online(market):
    h = harness(OFFLINE, market)
    h.health(status(market, CameraState.ONLINE, s(0)))
    assert h.tick(s(599)) == []
    opened = h.tick(s(650))
    assert opened[0].category is AlertCategory.CAMERA_OFFLINE
    assert opened[0].opened_at == s(600)
    assert [a.status for a in h.health(status(market, CameraState.ONLINE, s(900)))] == [
        AlertStatus.RESOLVED
    ]


def test_offline_reported_by_health_checks(market):
    h = harness(OFFLINE, market)
    h.health(status(market, CameraState.OFFLINE, s(0)))
    assert h.health(status(market, CameraState.OFFLINE, s(300))) == []
    assert len(h.health(status(market, CameraState.OFFLINE, s(600)))) == 1
    assert h.health(status(market, CameraState.OFFLINE, s(660))) == []  # still one open alert


def test_offline_is_not_resolved_by_quiet(market):
    h = harness(OFFLINE, market)
    h.health(status(market, CameraState.OFFLINE, s(0)))
    h.tick(s(700))
    assert [a.status for a in h.tick(s(100_000))] == []

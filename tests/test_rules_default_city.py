"""The shipped rules and routes together: a day of events in Semarang ends at the right agencies."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hub.harness import RuleHarness
from hub.routing import load_default_routes, make_dispatch
from hub.rules import RuleEngine, load_default_rules
from hub.rules.testing import camera, event, status
from topics.models import AlertStatus, CameraState, EventKind, ObjectClass, SiteType

JKT = ZoneInfo("Asia/Jakarta")
MONDAY = datetime(2026, 11, 23, 0, 0, tzinfo=JKT)


def at(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return MONDAY + timedelta(hours=hour, minutes=minute, seconds=second)


def agencies_for(alerts) -> list[tuple[str, str, str]]:
    routing = load_default_routes()
    out = []
    for alert in alerts:
        for decision in routing.route(alert):
            dispatch = make_dispatch(alert, decision, alert.updated_at)
            out.append((alert.rule_id, alert.status.value, dispatch.agency))
    return out


def test_a_day_in_semarang():
    market = camera("JOHAR-1", site_type=SiteType.MARKET, kecamatan="Semarang Tengah", at=MONDAY)
    road = camera(
        "PANDANARAN-1", site_type=SiteType.MAIN_ROAD, kecamatan="Semarang Selatan", at=MONDAY
    )
    river = camera(
        "BANJIR-KANAL-1", site_type=SiteType.RIVER, kecamatan="Semarang Utara", at=MONDAY
    )
    h = RuleHarness(RuleEngine(load_default_rules()), [market, road, river])

    # morning peak on a main road: 80 vehicles a minute for 15 minutes
    for minute in range(16):
        h.feed(
            event(
                road, EventKind.VEHICLE_COUNT, at(7, minute), count=80, object_class=ObjectClass.CAR
            )
        )
    # midday crowd at the market, held for more than two minutes
    for second in range(0, 200, 20):
        h.feed(
            event(
                market, EventKind.PEOPLE_COUNT, at(12, 0, 0) + timedelta(seconds=second), count=180
            )
        )
    # evening tidal flood in the north
    for minute in range(3):
        h.feed(event(river, EventKind.FLOOD_LEVEL, at(18, minute), flood_level_cm=65))
    # someone climbs into the closed market at night
    h.feed(event(market, EventKind.LINE_CROSSING, at(23, 15)))
    # the river camera drops off the network
    h.health(status(river, CameraState.ONLINE, at(23, 30)))
    h.tick(at(23, 45))

    sent = agencies_for(h.alerts)
    opened = {(rule, agency) for rule, state, agency in sent if state == AlertStatus.OPENED.value}
    assert ("traffic-heavy-peak", "dishub") in opened
    assert ("crowd-count-public-space", "satpol-pp") in opened
    assert ("flood-warning", "bpbd") in opened
    assert ("flood-critical", "bpbd") in opened
    assert ("flood-critical", "dishub") in opened  # coastal kecamatan: roads close
    assert ("line-crossing-night", "polisi") in opened
    assert ("camera-offline", "diskominfo") in opened
    # the same line crossing at noon is not an alert
    before = len(h.alerts)
    h.feed(event(market, EventKind.LINE_CROSSING, at(12, 30) + timedelta(days=1)))
    assert len(h.alerts) == before


def test_fire_alarm_inputs_left_objects_and_fights_reach_their_agencies():
    market = camera("JOHAR-2", site_type=SiteType.MARKET, at=MONDAY)
    pump = camera("POMPA-1", site_type=SiteType.INFRASTRUCTURE, at=MONDAY)
    h = RuleHarness(RuleEngine(load_default_rules()), [market, pump])

    h.feed(event(market, EventKind.FIRE, at(10), active=True, detail="smoke"))
    h.feed(event(pump, EventKind.TEMPERATURE_ALARM, at(10, 5), active=True, temperature_c=92.3))
    h.feed(event(pump, EventKind.ALARM_INPUT, at(10, 10), active=True, alarm_input="1"))
    h.feed(event(market, EventKind.OBJECT_ABANDONED, at(10, 15), active=True))
    h.feed(event(pump, EventKind.OBJECT_REMOVED, at(10, 20), active=True))
    h.feed(event(market, EventKind.FIGHT, at(10, 25), active=True))

    opened = {
        (rule, agency)
        for rule, state, agency in agencies_for(h.alerts)
        if state == AlertStatus.OPENED.value
    }
    assert opened == {
        ("fire-detected", "bpbd"),
        ("alarm-input", "satpol-pp"),
        ("abandoned-object-public-space", "polisi"),
        ("object-removed-infrastructure", "polisi"),
        ("fight", "polisi"),
    }
    # the fire rule took both the smoke and the heat alarm (two cameras, two alerts)
    assert sum(alert.rule_id == "fire-detected" for alert in h.alerts) == 2

"""The simulated city behind `tilik demo`: placements and analytics readings are valid and reach
every rule; its cameras are split over processes, and its children's ports never collide."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from hub.rules.testing import camera
from tilik.analytics_sim import SCENARIOS, AnalyticsEngine
from tilik.city import place_cameras
from tilik.demo import free_port, shares
from topics.gazetteer import semarang
from topics.models import DeviceEvent, EventKind, SiteType

AT = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


def test_placements_are_deterministic_and_spread_over_every_kecamatan_within_its_area():
    first = place_cameras(64, seed=3)
    assert first == place_cameras(64, seed=3)
    assert first != place_cameras(64, seed=4)
    city = semarang()
    assert {p.location.area.kecamatan for p in first} == {k.name for k in city.kecamatan}
    for place in first:
        district = city.named(place.location.area.kecamatan)
        assert district is not None and place.location.area.kelurahan in district.kelurahan
        # On the map, in its own kecamatan: nearer its centre than any other's.
        point = place.location.point
        assert point is not None and city.nearest(point.lat, point.lon) is district


def test_every_scenario_with_a_camera_has_an_incident_and_readings_validate():
    cameras = [
        camera(f"CAM-{i}", site_type=site, at=AT)
        for i, site in enumerate(
            [
                SiteType.MARKET,
                SiteType.RIVER,
                SiteType.HOSPITAL,
                SiteType.MAIN_ROAD,
                SiteType.RT_POST,
            ]
            * 3
        )
    ]
    engine = AnalyticsEngine(cameras, seed=1, incident_share=0.0)
    incidents = Counter(s.kind for s, _, incident in engine.assignments if incident)
    assert set(incidents) == {s.kind for s in SCENARIOS}

    readings = engine.readings(AT)
    assert len(readings) == len(engine.assignments)
    for event in readings:
        DeviceEvent.model_validate_json(event.model_dump_json())
        assert event.device_time == AT
    # Readings of one round are distinct events, each with its own id.
    assert len({e.event_id for e in readings}) == len(readings)


def test_incident_readings_cross_the_default_thresholds():
    cameras = [
        camera("CAM-M", site_type=SiteType.MARKET, at=AT),
        camera("CAM-R", site_type=SiteType.RIVER, at=AT),
    ]
    engine = AnalyticsEngine(cameras, seed=2, incident_share=1.0)
    readings = {e.kind: e for e in engine.readings()}
    assert readings[EventKind.CROWD_DENSITY].attributes.crowd_density >= 4.0
    assert readings[EventKind.FLOOD_LEVEL].attributes.flood_level_cm >= 60
    assert readings[EventKind.PARKING_VIOLATION].attributes.dwell_s >= 600


def test_cameras_are_split_into_processes_of_at_most_8000() -> None:
    assert shares(48) == [48]
    assert shares(8000) == [8000]
    assert shares(8001) == [4001, 4000]
    assert shares(20_000) == [6667, 6667, 6666]
    assert shares(5, 2) == [2, 2, 1]
    assert all(sum(shares(n)) == n and max(shares(n)) <= 8000 for n in (1, 7999, 16_001, 50_000))


def test_a_port_handed_to_one_child_is_never_handed_to_another() -> None:
    # The system hands a port just released out again often: the hub worker's web port and the
    # map's would collide before either child binds it.
    ports = [free_port() for _ in range(1000)]
    assert len(set(ports)) == len(ports)

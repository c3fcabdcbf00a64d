"""The pure parts of the command-center map: the bundled gazetteer, the areas drawn from it, the
view assembled for operators and for the public, and open alerts merged across agencies."""

from __future__ import annotations

import math

from api.areas import Frame, polygon_area, semarang_map
from api.cameras import PlacedCamera
from api.cityalerts import AlertChange, CityAlerts
from api.citymap import map_view
from api.inbox import InboxEntry, InboxStatus
from topics.examples import example
from topics.gazetteer import semarang
from topics.models import (
    AdminArea,
    AlertStatus,
    CameraRecord,
    Dispatch,
    GeoPoint,
    Location,
    SharingLevel,
    utcnow,
)

# BPS Kota Semarang: the city's land area, the sum of its 16 kecamatan.
CITY_KM2 = 373.70


def test_the_gazetteer_has_semarangs_16_kecamatan_with_their_bps_areas_and_a_named_source() -> None:
    city = semarang()
    assert len(city.kecamatan) == 16 == len({k.name for k in city.kecamatan})
    assert math.isclose(sum(k.area_km2 for k in city.kecamatan), CITY_KM2, abs_tol=0.05)
    assert "BPS" in city.source and "approximate" in city.source.lower()
    for district in city.kecamatan:
        assert city.nearest(*district.centre) is district
        assert city.named(district.name.upper()) is district
    assert city.named("Atlantis") is None and city.named(None) is None


def test_the_areas_share_out_the_whole_outline_and_each_holds_its_centre() -> None:
    drawn = semarang_map()
    whole = polygon_area(list(drawn.outline))
    cells = [polygon_area(list(area.cell)) for area in drawn.areas]
    assert math.isclose(sum(cells), whole, rel_tol=1e-9)
    assert all(cell > 0 for cell in cells)
    for area in drawn.areas:
        xs, ys = [p[0] for p in area.cell], [p[1] for p in area.cell]
        assert min(xs) <= area.centre[0] <= max(xs) and min(ys) <= area.centre[1] <= max(ys)
        assert area.svg_path.startswith("M") and area.svg_path.endswith("Z")
    # The outline is the city's size to within the roughness of its 21 points.
    frame = drawn.frame
    km_per_unit = 111.32 * math.cos(math.radians(-7.03)) / frame.per_lon
    assert abs(whole * km_per_unit**2 / CITY_KM2 - 1) < 0.2


def test_the_frame_puts_north_up_and_east_right_inside_the_map() -> None:
    frame = Frame.around(semarang().outline)
    west, east = frame.project(-7.0, 110.28), frame.project(-7.0, 110.49)
    north, south = frame.project(-6.95, 110.4), frame.project(-7.1, 110.4)
    assert west[0] < east[0] and north[1] < south[1]
    for x, y in (west, east, north, south):
        assert 0 < x < frame.width and 0 < y < frame.height


def placed(seed: str, sharing: SharingLevel, kecamatan: str | None, point: GeoPoint | None):
    record = example(CameraRecord, seed).model_copy(
        update={
            "sharing": sharing,
            "location": Location(area=AdminArea(kecamatan=kecamatan), point=point),
        }
    )
    return PlacedCamera.of(record)


def test_the_view_counts_coverage_per_kecamatan_and_the_public_one_shows_only_public_cameras() -> (
    None
):
    city = semarang()
    tembalang = GeoPoint(lat=-7.053, lon=110.452)
    cameras = [
        (placed("a", SharingLevel.PUBLIC, "Tembalang", tembalang), "online"),
        (placed("b", SharingLevel.LIVE, "tembalang", tembalang), "offline"),
        # No kecamatan of the gazetteer: counted where its coordinates are nearest.
        (placed("c", SharingLevel.LIVE, "Nowhere", tembalang), "unknown"),
        (placed("d", SharingLevel.REGISTRY_ONLY, None, None), "online"),
    ]
    operator = map_view(cameras, [], city, public=False, at=utcnow())
    by_area = {c.kecamatan: c for c in operator.coverage}
    assert len(by_area) == 16
    assert (by_area["Tembalang"].registered, by_area["Tembalang"].online) == (3, 1)
    assert by_area["Tembalang"].percent == 33.3 and by_area["Mijen"].percent is None
    assert operator.unplaced == 1 and len(operator.cameras) == 4
    assert {c.owner_id for c in operator.cameras} == {cameras[0][0].owner_id}

    public = map_view([(c, s) for c, s in cameras if c.public], [], city, public=True, at=utcnow())
    assert [c.camera_id for c in public.cameras] == [cameras[0][0].camera_id]
    assert all(c.owner_id is None and c.sharing is None for c in public.cameras)
    assert {c.kecamatan: c.registered for c in public.coverage}["Tembalang"] == 1


def entry(dispatch: Dispatch, status: AlertStatus, sequence: int) -> InboxEntry:
    alert = dispatch.alert.model_copy(update={"status": status, "sequence": sequence})
    return InboxEntry(
        status=InboxStatus.RESOLVED if status is AlertStatus.RESOLVED else InboxStatus.OPEN,
        dispatch=dispatch.model_copy(update={"alert": alert}),
    )


def test_an_alert_is_open_until_resolved_with_every_agency_it_went_to() -> None:
    city = CityAlerts(inboxes=None, agencies=list)  # type: ignore[arg-type]
    told: list[AlertChange] = []
    city.changes.listen(told.append)
    dispatch = example(Dispatch, "x")
    city.apply("dishub", entry(dispatch, AlertStatus.OPENED, 0))
    city.apply("polisi", entry(dispatch, AlertStatus.OPENED, 0))
    [open_alert] = city.open_alerts()
    assert open_alert.agencies == ["dishub", "polisi"] and open_alert.point is not None
    assert [c.alert.agencies for c in told if c.alert] == [["dishub"], ["dishub", "polisi"]]

    city.apply("dishub", entry(dispatch, AlertStatus.RESOLVED, 1))
    assert city.open_alerts() == []
    assert told[-1].resolved == dispatch.alert.alert_id
    # Another agency's dispatch of an older state, read later, does not open it again.
    city.apply("polisi", entry(dispatch, AlertStatus.UPDATED, 0))
    assert city.open_alerts() == [] and len(told) == 3

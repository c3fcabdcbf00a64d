"""The kecamatan as areas on the map: each one the part of the city's outline nearer its centre
than any other's (a Voronoi cell of the centres, clipped to the outline), in the map's plane.

The gazetteer holds centres and land areas, not boundaries, so the cells are an approximation of
the real kecamatan: they follow the city's coast and borders, and meet halfway between centres.
A camera belongs to the kecamatan its record names, else to the one whose centre is nearest: the
same rule the cells are drawn by.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from topics.gazetteer import Gazetteer, LatLon, semarang

#: a point in the map's plane (x to the east, y to the south), in map units
Point = tuple[float, float]

#: the map's width in its own units (the height follows from the city's shape)
MAP_WIDTH = 1000.0
# Room around the outline, as a share of the width.
MARGIN = 0.02


@dataclass(frozen=True)
class Frame:
    """An equirectangular projection of the city onto ``width`` by ``height`` map units: at a
    city's size the earth is flat enough, once a degree of longitude is shortened by cos(lat)."""

    west: float
    north: float
    #: map units per degree of longitude and of latitude
    per_lon: float
    per_lat: float
    width: float
    height: float

    @classmethod
    def around(cls, outline: tuple[LatLon, ...], width: float = MAP_WIDTH) -> Frame:
        lats = [p[0] for p in outline]
        lons = [p[1] for p in outline]
        shrink = math.cos(math.radians((min(lats) + max(lats)) / 2))
        span_lon = max(lons) - min(lons)
        pad = span_lon * MARGIN
        per_lon = width / (span_lon + 2 * pad)
        per_lat = per_lon / shrink
        return cls(
            west=min(lons) - pad,
            north=max(lats) + pad * shrink,
            per_lon=per_lon,
            per_lat=per_lat,
            width=width,
            height=round((max(lats) - min(lats) + 2 * pad * shrink) * per_lat, 1),
        )

    def project(self, lat: float, lon: float) -> Point:
        return ((lon - self.west) * self.per_lon, (self.north - lat) * self.per_lat)


def _clip(polygon: list[Point], keep: Point, other: Point) -> list[Point]:
    """The part of ``polygon`` at least as near ``keep`` as ``other`` (Sutherland-Hodgman
    against the bisector: one half-plane at a time works for any polygon)."""
    (ax, ay), (bx, by) = keep, other
    nx, ny = bx - ax, by - ay
    limit = (bx * bx + by * by - ax * ax - ay * ay) / 2

    def inside(p: Point) -> float:
        return limit - (p[0] * nx + p[1] * ny)  # >= 0: on keep's side

    clipped: list[Point] = []
    for index, current in enumerate(polygon):
        previous = polygon[index - 1]
        now, before = inside(current), inside(previous)
        if (now >= 0) != (before >= 0):
            t = before / (before - now)
            clipped.append(
                (
                    previous[0] + t * (current[0] - previous[0]),
                    previous[1] + t * (current[1] - previous[1]),
                )
            )
        if now >= 0:
            clipped.append(current)
    return clipped


def polygon_area(polygon: list[Point]) -> float:
    """The shoelace area, in square map units."""
    return (
        abs(sum(polygon[i - 1][0] * p[1] - p[0] * polygon[i - 1][1] for i, p in enumerate(polygon)))
        / 2
    )


@dataclass(frozen=True)
class Area:
    name: str
    centre: Point
    cell: tuple[Point, ...]
    area_km2: float

    @property
    def svg_path(self) -> str:
        return "M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in self.cell) + "Z"


@dataclass(frozen=True)
class CityMap:
    name: str
    frame: Frame
    outline: tuple[Point, ...]
    areas: tuple[Area, ...]
    source: str


def city_map(gazetteer: Gazetteer) -> CityMap:
    frame = Frame.around(gazetteer.outline)
    outline = [frame.project(*p) for p in gazetteer.outline]
    centres = {k.name: frame.project(*k.centre) for k in gazetteer.kecamatan}
    areas = []
    for district in gazetteer.kecamatan:
        cell = outline
        for other, centre in centres.items():
            if other != district.name:
                cell = _clip(cell, centres[district.name], centre)
        areas.append(Area(district.name, centres[district.name], tuple(cell), district.area_km2))
    return CityMap(gazetteer.city, frame, tuple(outline), tuple(areas), gazetteer.source)


@cache
def semarang_map() -> CityMap:
    return city_map(semarang())

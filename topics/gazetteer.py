"""Semarang's 16 kecamatan (name, approximate centre, land area, a few kelurahan) and the city's
outline: the one copy of the city's geography, read from ``semarang_kecamatan.json``, which
names where its figures come from. Simulated cities place cameras by it; the map draws it."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources

#: (lat, lon) in degrees
LatLon = tuple[float, float]


@dataclass(frozen=True)
class Kecamatan:
    name: str
    centre: LatLon
    area_km2: float
    kelurahan: tuple[str, ...]


@dataclass(frozen=True)
class Gazetteer:
    city: str
    #: where the figures come from, and how approximate they are
    source: str
    #: the city's boundary, a closed ring of (lat, lon) (the first point is not repeated)
    outline: tuple[LatLon, ...]
    kecamatan: tuple[Kecamatan, ...]

    def named(self, name: str | None) -> Kecamatan | None:
        """The kecamatan called ``name`` (any case), or ``None``."""
        if not name:
            return None
        wanted = name.casefold()
        return next((k for k in self.kecamatan if k.name.casefold() == wanted), None)

    def nearest(self, lat: float, lon: float) -> Kecamatan:
        """The kecamatan whose centre is nearest (distance on the ground, not in degrees)."""
        scale = math.cos(math.radians(lat))
        return min(
            self.kecamatan,
            key=lambda k: (k.centre[0] - lat) ** 2 + ((k.centre[1] - lon) * scale) ** 2,
        )


def _pair(value: list[float]) -> LatLon:
    lat, lon = value
    return (float(lat), float(lon))


@cache
def semarang() -> Gazetteer:
    document = json.loads(
        resources.files(__package__).joinpath("semarang_kecamatan.json").read_text("utf-8")
    )
    return Gazetteer(
        city=document["city"],
        source=document["source"],
        outline=tuple(_pair(p) for p in document["outline"]),
        kecamatan=tuple(
            Kecamatan(k["name"], _pair(k["centre"]), float(k["area_km2"]), tuple(k["kelurahan"]))
            for k in document["kecamatan"]
        ),
    )


#: every kecamatan of the city, by name, in order (what a placement is checked against)
KECAMATAN: tuple[str, ...] = tuple(sorted(k.name for k in semarang().kecamatan))

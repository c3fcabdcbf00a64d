"""Simulated cameras placed over Semarang (``topics.gazetteer``: its kecamatan, their centres and
kelurahan) for demos and benchmarks."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from topics.gazetteer import Kecamatan, semarang
from topics.models import AdminArea, GeoPoint, Location, SiteType

# Near enough at Semarang's latitude, for latitude and longitude alike.
KM_PER_DEGREE = 111.0

# Draws of a point before a camera is put at its kecamatan's centre.
PLACEMENT_TRIES = 20

# Site types of municipal cameras, weighted roughly by how a city deploys them.
MUNICIPAL_SITES: tuple[tuple[SiteType, int], ...] = (
    (SiteType.RT_POST, 35),
    (SiteType.MAIN_ROAD, 18),
    (SiteType.INTERSECTION, 12),
    (SiteType.KELURAHAN_OFFICE, 8),
    (SiteType.KECAMATAN_OFFICE, 3),
    (SiteType.MARKET, 8),
    (SiteType.TOURIST_SITE, 5),
    (SiteType.RIVER, 6),
    (SiteType.INFRASTRUCTURE, 5),
    (SiteType.HOSPITAL, 3),
    (SiteType.SCHOOL, 3),
)


@dataclass(frozen=True)
class Placement:
    location: Location
    site_type: SiteType


def _near(district: Kecamatan, rng: random.Random) -> GeoPoint:
    """A point around the kecamatan's centre, over a square of about half its area, nearer its
    centre than any other's (so it lies in the kecamatan the map draws)."""
    city = semarang()
    spread = math.sqrt(district.area_km2 / 2) / KM_PER_DEGREE / 2
    lat, lon = district.centre
    for _ in range(PLACEMENT_TRIES):
        point = (
            round(lat + rng.uniform(-spread, spread), 6),
            round(lon + rng.uniform(-spread, spread), 6),
        )
        if city.nearest(*point) is district:
            break
    else:
        point = district.centre
    return GeoPoint(lat=point[0], lon=point[1])


def place_cameras(count: int, *, seed: int = 7) -> list[Placement]:
    """Spread ``count`` cameras over the city, deterministically for a given seed."""
    rng = random.Random(seed)
    kecamatan = sorted(semarang().kecamatan, key=lambda k: k.name)
    sites = [site for site, _ in MUNICIPAL_SITES]
    weights = [weight for _, weight in MUNICIPAL_SITES]
    placements = []
    for index in range(count):
        district = kecamatan[index % len(kecamatan)]
        area = AdminArea(
            kecamatan=district.name,
            kelurahan=district.kelurahan[rng.randrange(len(district.kelurahan))],
            rw=f"{rng.randint(1, 12):02d}",
            rt=f"{rng.randint(1, 10):02d}",
        )
        point = _near(district, rng)
        site = rng.choices(sites, weights)[0]
        placements.append(Placement(Location(area=area, point=point), site))
    return placements

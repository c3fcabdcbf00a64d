"""Simulated cameras placed over Semarang (``topics.gazetteer``: its kecamatan, their centres and
kelurahan) for demos and benchmarks."""

from __future__ import annotations

import random
from dataclasses import dataclass

from topics.gazetteer import semarang
from topics.models import AdminArea, GeoPoint, Location, SiteType

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


def place_cameras(count: int, *, seed: int = 7) -> list[Placement]:
    """Spread ``count`` cameras over the city, deterministically for a given seed."""
    rng = random.Random(seed)
    kecamatan = sorted(semarang().kecamatan, key=lambda k: k.name)
    sites = [site for site, _ in MUNICIPAL_SITES]
    weights = [weight for _, weight in MUNICIPAL_SITES]
    placements = []
    for index in range(count):
        district = kecamatan[index % len(kecamatan)]
        lat, lon = district.centre
        area = AdminArea(
            kecamatan=district.name,
            kelurahan=district.kelurahan[rng.randrange(len(district.kelurahan))],
            rw=f"{rng.randint(1, 12):02d}",
            rt=f"{rng.randint(1, 10):02d}",
        )
        point = GeoPoint(
            lat=round(lat + rng.uniform(-0.01, 0.01), 6),
            lon=round(lon + rng.uniform(-0.01, 0.01), 6),
        )
        site = rng.choices(sites, weights)[0]
        placements.append(Placement(Location(area=area, point=point), site))
    return placements

"""A gazetteer of Semarang (kecamatan → kelurahan with approximate centres) for simulated cities and demos."""

from __future__ import annotations

import random
from dataclasses import dataclass

from topics.models import AdminArea, GeoPoint, Location, SiteType

# Approximate centre (lat, lon) of each kecamatan and a few of its kelurahan.
SEMARANG: dict[str, tuple[tuple[float, float], tuple[str, ...]]] = {
    "Semarang Tengah": (
        (-6.9826, 110.4160),
        ("Pekunden", "Sekayu", "Kembangsari", "Pindrikan Kidul"),
    ),
    "Semarang Utara": (
        (-6.9620, 110.4170),
        ("Tanjung Mas", "Bandarharjo", "Kuningan", "Dadapsari"),
    ),
    "Semarang Timur": ((-6.9780, 110.4330), ("Rejosari", "Mlatiharjo", "Kebonagung", "Sarirejo")),
    "Semarang Selatan": (
        (-6.9960, 110.4290),
        ("Peterongan", "Lamper Kidul", "Pleburan", "Mugassari"),
    ),
    "Semarang Barat": ((-6.9790, 110.3900), ("Tawangmas", "Krobokan", "Kembangarum", "Bongsari")),
    "Gayamsari": ((-6.9870, 110.4510), ("Sawah Besar", "Kaligawe", "Siwalan", "Tambakrejo")),
    "Genuk": ((-6.9640, 110.4790), ("Terboyo Kulon", "Trimulyo", "Bangetayu Wetan", "Genuksari")),
    "Pedurungan": (
        (-7.0010, 110.4770),
        ("Tlogosari Kulon", "Palebon", "Pedurungan Kidul", "Muktiharjo Kidul"),
    ),
    "Tembalang": ((-7.0560, 110.4380), ("Tembalang", "Bulusan", "Sendangmulyo", "Meteseh")),
    "Banyumanik": ((-7.0660, 110.4170), ("Srondol Wetan", "Pedalangan", "Padangsari", "Sumurboto")),
    "Candisari": ((-7.0090, 110.4230), ("Jatingaleh", "Kaliwiru", "Candi", "Jomblang")),
    "Gajahmungkur": (
        (-7.0100, 110.4060),
        ("Lempongsari", "Bendan Ngisor", "Sampangan", "Petompon"),
    ),
    "Gunungpati": ((-7.0830, 110.3770), ("Sekaran", "Sukorejo", "Patemon", "Gunungpati")),
    "Mijen": ((-7.0620, 110.3150), ("Jatibarang", "Wonolopo", "Mijen", "Bubakan")),
    "Ngaliyan": ((-7.0000, 110.3530), ("Tambakaji", "Bringin", "Purwoyoso", "Ngaliyan")),
    "Tugu": ((-6.9720, 110.3140), ("Mangkang Wetan", "Randugarut", "Karanganyar", "Tugurejo")),
}

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
    kecamatan = sorted(SEMARANG)
    sites = [site for site, _ in MUNICIPAL_SITES]
    weights = [weight for _, weight in MUNICIPAL_SITES]
    placements = []
    for index in range(count):
        name = kecamatan[index % len(kecamatan)]
        (lat, lon), kelurahan = SEMARANG[name]
        area = AdminArea(
            kecamatan=name,
            kelurahan=kelurahan[rng.randrange(len(kelurahan))],
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

"""Coverage per kecamatan and kelurahan: cameras registered, online, and the share online."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, Field, computed_field

from hub.health.state import CameraHealth


class AreaCoverage(BaseModel):
    registered: int = 0
    online: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def percent_online(self) -> float:
        return round(100.0 * self.online / self.registered, 1) if self.registered else 0.0

    def count(self, online: bool) -> None:
        self.registered += 1
        self.online += int(online)

    def absorb(self, other: AreaCoverage) -> None:
        self.registered += other.registered
        self.online += other.online


class KecamatanCoverage(AreaCoverage):
    kelurahan: dict[str, AreaCoverage] = Field(default_factory=dict)

    def absorb_district(self, other: KecamatanCoverage) -> None:
        self.absorb(other)
        for name, area in other.kelurahan.items():
            self.kelurahan.setdefault(name, AreaCoverage()).absorb(area)


class Coverage(BaseModel):
    """The city's coverage; ``partitions`` says which registry partitions it was computed from."""

    at: datetime
    partitions: list[int] = Field(default_factory=list)
    total: AreaCoverage = Field(default_factory=AreaCoverage)
    kecamatan: dict[str, KecamatanCoverage] = Field(default_factory=dict)

    def absorb(self, other: Coverage) -> None:
        self.at = max(self.at, other.at)
        self.partitions = sorted({*self.partitions, *other.partitions})
        self.total.absorb(other.total)
        for name, district in other.kecamatan.items():
            self.kecamatan.setdefault(name, KecamatanCoverage()).absorb_district(district)


def compute_coverage(
    cameras: Iterable[CameraHealth], now: datetime, offline_after_s: float
) -> Coverage:
    coverage = Coverage(at=now)
    partitions: set[int] = set()
    for health in cameras:
        partitions.add(health.partition)
        if not health.registered or health.revoked:
            continue
        online = health.is_online(now, offline_after_s)
        coverage.total.count(online)
        district = coverage.kecamatan.setdefault(health.kecamatan, KecamatanCoverage())
        district.count(online)
        district.kelurahan.setdefault(health.kelurahan, AreaCoverage()).count(online)
    coverage.partitions = sorted(partitions)
    return coverage


def merge_coverage(parts: Iterable[Coverage]) -> Coverage | None:
    """One city-wide coverage from several workers' (each serves the partitions it owns)."""
    merged: Coverage | None = None
    for part in parts:
        if merged is None:
            merged = part.model_copy(deep=True)
        else:
            merged.absorb(part)
    return merged

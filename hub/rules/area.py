"""Limits by administrative area (kecamatan, kelurahan), shared by rule scopes and route jurisdictions."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from topics.models import AdminArea

AreaName = Annotated[str, Field(min_length=1, max_length=128)]


def fold(name: str | None) -> str:
    """Area names compare without case or repeated spaces: ``Semarang  tengah`` is ``Semarang Tengah``."""
    return " ".join((name or "").split()).casefold()


class AreaLimit(BaseModel):
    """Empty lists mean no limit; both set means both must match."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kecamatan: list[AreaName] = Field(default_factory=list)
    kelurahan: list[AreaName] = Field(default_factory=list)

    @property
    def limited(self) -> bool:
        return bool(self.kecamatan or self.kelurahan)

    def outside(self, area: AdminArea) -> list[str]:
        """Why ``area`` is outside this limit (empty: inside)."""
        reasons: list[str] = []
        if self.kecamatan and fold(area.kecamatan) not in {fold(k) for k in self.kecamatan}:
            reasons.append(
                f"kecamatan {area.kecamatan!r} is not one of {', '.join(self.kecamatan)}"
            )
        if self.kelurahan and fold(area.kelurahan) not in {fold(k) for k in self.kelurahan}:
            reasons.append(
                f"kelurahan {area.kelurahan!r} is not one of {', '.join(self.kelurahan)}"
            )
        return reasons

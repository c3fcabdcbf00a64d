"""Inventory import: a city's camera list (CSV or YAML) with address, credential reference and location.

One row per device. Columns / keys: ``address`` (host:port, required), ``credential_ref``
(``admin@env:TILIK_CAMERA_SECRET_CAM``), ``name``, ``kecamatan``, ``kelurahan``, ``rw``, ``rt``, ``lat``, ``lon``,
``street_address``, ``owner_kind`` (municipal/private), ``owner_id``, ``owner_name``,
``site_type``, ``sharing``. YAML is a list of mappings with the same keys (or a mapping with a
``cameras`` list). A bad row is reported with its line/index and never imported half-way.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.sdk.errors import ConfigurationError
from connectors.sdk.secrets import CredentialRef
from topics.models import (
    AdminArea,
    GeoPoint,
    Location,
    Owner,
    OwnerKind,
    SharingLevel,
    SiteType,
)

_HOST_PORT = r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]{1,253}):\d{1,5}$"


class InventoryEntry(BaseModel):
    """One device of an inventory: where it is, whose it is, where its credentials are."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, hide_input_in_errors=True
    )

    address: str = Field(pattern=_HOST_PORT)
    credential_ref: CredentialRef | None = None
    name: str | None = Field(default=None, max_length=256)
    kecamatan: str | None = None
    kelurahan: str | None = None
    rw: str | None = Field(default=None, pattern=r"^\d{1,3}$")
    rt: str | None = Field(default=None, pattern=r"^\d{1,3}$")
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    street_address: str | None = Field(default=None, max_length=4096)
    owner_kind: OwnerKind = OwnerKind.MUNICIPAL
    owner_id: str = "city"
    owner_name: str | None = None
    site_type: SiteType = SiteType.OTHER
    sharing: SharingLevel = SharingLevel.REGISTRY_ONLY

    @property
    def owner(self) -> Owner:
        return Owner(kind=self.owner_kind, id=self.owner_id, name=self.owner_name)

    @property
    def location(self) -> Location:
        point = (
            GeoPoint(lat=self.lat, lon=self.lon)
            if self.lat is not None and self.lon is not None
            else None
        )
        return Location(
            area=AdminArea(
                kecamatan=self.kecamatan, kelurahan=self.kelurahan, rw=self.rw, rt=self.rt
            ),
            point=point,
            address=self.street_address,
        )


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    """Empty cells are absent values; numbers typed in YAML become the strings the model expects."""
    cleaned: dict[str, Any] = {}
    for key, value in row.items():
        if key is None or value is None or (isinstance(value, str) and not value.strip()):
            continue
        name = str(key).strip().lower()
        if name in ("rw", "rt") and isinstance(value, int):
            value = str(value)
        cleaned[name] = value
    return cleaned


def _entries(rows: list[tuple[str, dict[str, Any]]], source: str) -> list[InventoryEntry]:
    entries = []
    for where, row in rows:
        try:
            entries.append(InventoryEntry.model_validate(_clean(row)))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'row'}: {err['msg']}"
                for err in exc.errors(include_input=False, include_url=False)
            )
            raise ConfigurationError(f"{source} {where}: {problems}") from None
    return entries


def parse_inventory(content: str, *, fmt: str, source: str = "inventory") -> list[InventoryEntry]:
    """Entries of a CSV or YAML inventory text; ConfigurationError names the bad row."""
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(content))
        return _entries([(f"line {i + 2}", row) for i, row in enumerate(reader)], source)
    if fmt in ("yaml", "yml"):
        try:
            data = yaml.safe_load(content)
        except yaml.YAMLError as exc:
            raise ConfigurationError(f"{source}: not valid YAML ({exc})") from None
        if isinstance(data, dict):
            data = data.get("cameras")
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise ConfigurationError(f"{source}: expected a list of cameras")
        return _entries([(f"item {i}", row) for i, row in enumerate(data)], source)
    raise ConfigurationError(f"{source}: unknown inventory format {fmt!r} (csv or yaml)")


def load_inventory(path: Path) -> list[InventoryEntry]:
    fmt = path.suffix.lstrip(".").lower()
    try:
        content = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read inventory {path}: {exc.strerror}") from None
    return parse_inventory(content, fmt=fmt, source=str(path))

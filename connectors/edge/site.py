"""The site file of an edge agent (``tilik edge run --config site.yaml``): which tenant, which
site, which devices on the site's own network, and what the business shares of each camera.

```yaml
tenant: toko-sinar                 # the tenant whose principal the client config holds
site: jalan-pemuda                 # this site, one of the tenant's
client_config: toko-sinar.properties   # from `tilik access tenant add` (default: TILIK_CLIENT_CONFIG)
health_interval_s: 60
retry_failed_s: 60                 # devices that could not be read are tried again this often
outbox: {max_records: 100000, max_bytes: 67108864}
devices:
  - connector: hikvision           # any installed connector: onvif, hikvision, dahua, plugins
    address: 192.168.1.64:80       # as the site reaches it
    credential_ref: admin@env:TILIK_CAMERA_SECRET_NVR   # where the password is AT THE SITE
    sharing: registry_only         # every camera of the device, unless an entry says otherwise
    location: {area: {kecamatan: Semarang Tengah}, address: Jl. Pemuda 12}
    site_type: shop
    cameras:
      - {channel: 1, name: Pintu depan, sharing: alarm_live}
      - {channel: 2, name: Kasir}  # the device-wide level: registry_only
    options: {scheme: https, timeout_s: 8}   # the connector's other config fields
```

The owner of every camera is the tenant: a device or camera entry naming another owner is
refused when the file is read. Camera passwords stay at the site: the file holds references
(``env:``/``file:``, confined to the camera secrets namespace), resolved only by the agent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from connectors.edge.outbox import OutboxLimits
from connectors.sdk.placement import CameraPlacement
from connectors.sdk.secrets import CredentialRef
from topics.models import Location, Owner, OwnerKind, SharingLevel, SiteType, TenantId

SiteId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]


class SiteFileError(ValueError):
    """The site file cannot be used; the message says where and why (never a secret's value)."""


class EdgeDevice(BaseModel):
    """One recorder or camera at the site, and what the business decided about its cameras."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    connector: str = Field(min_length=1, max_length=64)
    address: str = Field(min_length=1, max_length=256)
    credential_ref: CredentialRef | None = None
    sharing: SharingLevel = SharingLevel.REGISTRY_ONLY
    location: Location | None = None
    site_type: SiteType | None = None
    cameras: list[CameraPlacement] = Field(default_factory=list, max_length=1024)
    options: dict[str, Any] = Field(
        default_factory=dict, description="The connector's other config fields."
    )

    @model_validator(mode="after")
    def _owned_by_the_tenant(self) -> EdgeDevice:
        if any(camera.owner is not None for camera in self.cameras):
            raise ValueError("a site's cameras are owned by its tenant: leave `owner` out")
        reserved = {"address", "credential_ref", "owner", "sharing", "cameras"} & set(self.options)
        if reserved:
            raise ValueError(f"options may not set {', '.join(sorted(reserved))}")
        return self

    def config_values(self, tenant: str) -> dict[str, Any]:
        """The connector config of this device: its fields, owned by the tenant."""
        values: dict[str, Any] = {
            **self.options,
            "address": self.address,
            "credential_ref": self.credential_ref,
            "owner": Owner(kind=OwnerKind.PRIVATE, id=tenant),
            "sharing": self.sharing,
            "cameras": list(self.cameras),
        }
        if self.location is not None:
            values["location"] = self.location
        if self.site_type is not None:
            values["site_type"] = self.site_type
        return values


class SiteFile(BaseModel):
    """An edge agent's whole configuration (module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant: TenantId
    site: SiteId
    client_config: Path | None = Field(
        default=None, description="The tenant's client config (default: TILIK_CLIENT_CONFIG)."
    )
    health_interval_s: float = Field(default=60.0, gt=0, le=3600)
    report_every_s: float = Field(
        default=60.0, gt=0, description="How often the agent prints what it sent."
    )
    retry_failed_s: float = Field(
        default=60.0, gt=0, description="How often devices that could not be read are tried again."
    )
    outbox: OutboxLimits = Field(default_factory=OutboxLimits)
    devices: list[EdgeDevice] = Field(min_length=1, max_length=1000)

    @classmethod
    def load(cls, path: Path) -> SiteFile:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise SiteFileError(f"{path}: cannot read it: {type(exc).__name__}") from None
        try:
            site = cls.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in error['loc']) or '(file)'}: {error['msg']}"
                for error in exc.errors(include_input=False)
            )
            raise SiteFileError(f"{path}: {problems}") from None
        if site.client_config is not None and not site.client_config.is_absolute():
            # Relative to the site file, as a person writing it expects.
            site = site.model_copy(update={"client_config": path.parent / site.client_config})
        return site

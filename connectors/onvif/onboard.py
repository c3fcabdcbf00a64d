"""ONVIF onboarding's own part: targets from WS-Discovery, host lists, CIDR ranges and inventories,
as connector configs, and the probe that reads each one.

Everything after reading a device is the SDK's one onboarding pipeline
(``connectors.sdk.onboard``): merging with the registry, withholding removed cameras, publishing,
auditing and asking the watching runtime. The registry is compacted and keyed by camera id, and a
camera id is derived from what the device says about itself, so running onboarding again updates
records and never duplicates them, even when a camera's address changed.

An inventory row is the operator's decision about that camera: the fields it gives (name, owner,
location, site type, sharing) are applied to the camera whether the registry knows it or not;
the fields it leaves empty keep what the registry knows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from connectors.onvif.connector import OnvifConfig, config_device, config_records
from connectors.onvif.device import DeviceSnapshot
from connectors.onvif.discovery import DiscoveredDevice
from connectors.onvif.inventory import InventoryEntry
from connectors.onvif.probe import ProbeTarget
from connectors.onvif.probe_workers import ProbeWorkers
from connectors.onvif.soap import SoapTransport
from connectors.sdk.base import ConnectorConfig
from connectors.sdk.boundary import DeviceFailure
from connectors.sdk.errors import ConfigurationError
from connectors.sdk.netpolicy import ProbePolicy
from connectors.sdk.onboard import DeviceReader
from connectors.sdk.placement import CameraPlacement
from topics.models import CameraRecord

_OWNER_COLUMNS = frozenset({"owner_kind", "owner_id", "owner_name"})
_LOCATION_COLUMNS = frozenset(
    {"kecamatan", "kelurahan", "rw", "rt", "lat", "lon", "street_address"}
)


@dataclass
class TargetSet:
    """Targets to probe, one per address (the first source that named an address wins)."""

    policy: ProbePolicy
    targets: dict[str, ProbeTarget] = field(default_factory=dict)
    refused: list[DeviceFailure] = field(default_factory=list)

    def add(
        self,
        address: str,
        *,
        credential_ref: str | None = None,
        entry: InventoryEntry | None = None,
        endpoint_reference: str | None = None,
    ) -> None:
        try:
            address = self.policy.check_address(address)
        except ConfigurationError as exc:
            self.refused.append(DeviceFailure.of(address, exc))
            return
        existing = self.targets.get(address)
        if existing is not None:
            # An inventory row adds placement to an address discovery found, and vice versa.
            self.targets[address] = ProbeTarget(
                address,
                credential_ref=existing.credential_ref or credential_ref,
                entry=existing.entry or entry,
                endpoint_reference=existing.endpoint_reference or endpoint_reference,
            )
            return
        self.targets[address] = ProbeTarget(
            address,
            credential_ref=credential_ref,
            entry=entry,
            endpoint_reference=endpoint_reference,
        )

    def add_discovered(
        self, devices: Sequence[DiscoveredDevice], credential_ref: str | None
    ) -> None:
        for device in devices:
            self.add(
                device.address,
                credential_ref=credential_ref,
                endpoint_reference=device.endpoint_reference,
            )

    def add_inventory(self, entries: Sequence[InventoryEntry], credential_ref: str | None) -> None:
        for entry in entries:
            self.add(entry.address, credential_ref=credential_ref, entry=entry)

    def configs(self, *, timeout_s: float) -> list[OnvifConfig]:
        """One connector config per target: what the pipeline onboards and the registry keeps."""
        return [
            OnvifConfig(
                address=target.address,
                credential_ref=target.effective_credential_ref,
                timeout_s=timeout_s,
                endpoint_reference=target.endpoint_reference,
                cameras=[] if target.entry is None else [inventory_placement(target.entry)],
            )
            for target in self.targets.values()
        ]

    def __len__(self) -> int:
        return len(self.targets)


def inventory_placement(entry: InventoryEntry) -> CameraPlacement:
    """The decisions an inventory row makes about its camera: only the columns it fills."""
    given = entry.model_fields_set
    return CameraPlacement(
        name=entry.name,
        owner=entry.owner if given & _OWNER_COLUMNS else None,
        location=entry.location if given & _LOCATION_COLUMNS else None,
        site_type=entry.site_type if "site_type" in given else None,
        sharing=entry.sharing if "sharing" in given else None,
    )


def probe_reader(
    transport: SoapTransport | ProbeWorkers, snapshots: dict[str, DeviceSnapshot]
) -> DeviceReader:
    """Reads one ONVIF device (the raw SOAP probe) over the shared ``transport``, or in one of
    the ``ProbeWorkers``: its cameras (one per video source).

    Each device's snapshot is kept in ``snapshots`` by camera id (health and events start from
    it in benchmarks and tests).
    """

    async def read(config: ConnectorConfig) -> list[CameraRecord]:
        if not isinstance(config, OnvifConfig):
            raise TypeError(f"an ONVIF probe reads OnvifConfig, not {type(config).__name__}")
        if isinstance(transport, ProbeWorkers):
            snapshot = await transport.snapshot(config)
        else:
            snapshot = await config_device(config, transport).snapshot()
        records = config_records(snapshot, config)
        for record in records:
            snapshots[record.camera_id] = snapshot
        return records

    return read

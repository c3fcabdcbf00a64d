"""Onboarding: collect targets (WS-Discovery, host lists, CIDR ranges, inventory), probe them, publish.

The registry is compacted and keyed by camera id, and a camera id is derived from what the
device says about itself, so running onboarding again updates records and never duplicates
them, even when a camera's address changed. Devices that send unusable data are recorded in
the dead-letter topic; unreachable or unauthorised ones are reported, not published.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel

from connectors.onvif.discovery import DiscoveredDevice
from connectors.onvif.inventory import InventoryEntry
from connectors.onvif.probe import ProbeReport, ProbeTarget
from connectors.sdk.errors import ConfigurationError
from connectors.sdk.netpolicy import ProbePolicy
from connectors.sdk.onboard import DeviceFailure
from topics.catalog import CAMERA_REGISTRY
from topics.client import CatalogProducer
from topics.models import CameraRecord

COMPONENT = "connector.onvif"


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

    def __len__(self) -> int:
        return len(self.targets)


def dedupe(records: Sequence[CameraRecord]) -> list[CameraRecord]:
    """One record per camera id (a device reachable at two addresses is still one camera)."""
    by_id: dict[str, CameraRecord] = {}
    for record in records:
        by_id[record.camera_id] = record
    return list(by_id.values())


def merge_known(record: CameraRecord, known: CameraRecord | None, *, placed: bool) -> CameraRecord:
    """Rediscovery refreshes what the device says about itself and keeps what people decided.

    The first sighting's ``discovered_at`` stays; without an inventory row for it, the camera
    keeps its owner, name, location, site type and sharing level (a scan must never undo an
    owner's sharing choice); a credential reference is only replaced by another one.
    """
    if known is None:
        return record
    update: dict[str, object] = {"discovered_at": known.discovered_at}
    if not placed:
        update.update(
            owner=known.owner,
            name=known.name,
            location=known.location,
            site_type=known.site_type,
            sharing=known.sharing,
        )
    if record.credential_ref is None:
        update["credential_ref"] = known.credential_ref
    return record.model_copy(update=update)


async def publish(
    producer: CatalogProducer,
    report: ProbeReport,
    *,
    known: Mapping[str, BaseModel] | None = None,
) -> int:
    """Publish the report's records (merged with ``known`` registry records) and its bad-data
    failures to the dead letters."""
    known = known or {}
    records = [
        merge_known(
            record,
            existing if isinstance(existing := known.get(record.camera_id), CameraRecord) else None,
            placed=record.camera_id in report.placed,
        )
        for record in dedupe(report.records)
    ]
    await producer.send_batch(CAMERA_REGISTRY, records)
    for failure in report.failures:
        if failure.input_at_fault:
            await producer.dead_letter(failure.dead_letter(COMPONENT))
    return len(records)

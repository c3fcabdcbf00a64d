"""Removing cameras from the registry: what ``tilik connectors remove`` and the HTTP service call.

A removal is three records and an audit record per camera, in this order:

1. a ``CameraRemoval`` on ``tilik.cameras.removed.v1`` (compacted, kept): onboarding and scans
   withhold the camera from then on, so a later scan of the network does not register it again
   behind its owner's back; onboarding with ``readmit`` takes it back (and tombstones this);
2. a tombstone on the registry: every consumer drops the camera, the watching runtime stops at
   once;
3. a tombstone on the watch topic: nobody is told it is watched any more;

and an ``AuditRecord`` (``camera_removed``: who, which camera and device, why).

Cameras are chosen by camera id, by device id (every camera of the device: an NVR's channels),
or by address (every camera registered at it, of one connector when given). A camera id the
registry does not hold is still marked removed (it was tombstoned by hand, or not registered
yet): a scan must not bring it in either.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from connectors.sdk.errors import ConfigurationError
from connectors.sdk.registration import removal_audit
from topics.catalog import AUDIT, CAMERA_REGISTRY, CAMERA_REMOVALS, CAMERA_WATCH
from topics.client import CatalogProducer, read_table
from topics.models import CAMERA_ID_PATTERN, CameraRecord, CameraRemoval, utcnow


@dataclass
class RemovalSummary:
    """Which cameras were removed, and which selectors named nothing."""

    #: camera id -> its device id (None when the registry did not hold it)
    removed: dict[str, str | None] = field(default_factory=dict)
    #: devices and addresses that name no registered camera
    unknown: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.removed) and not self.unknown

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "removed": self.removed, "unknown": self.unknown}


def _select(
    registry: dict[str, CameraRecord],
    cameras: Iterable[str],
    devices: Iterable[str],
    addresses: Iterable[str],
    connector: str | None,
) -> tuple[dict[str, CameraRecord | None], list[str]]:
    chosen: dict[str, CameraRecord | None] = {camera: registry.get(camera) for camera in cameras}
    unknown: list[str] = []
    for key, wanted in (("device_id", devices), ("address", addresses)):
        for value in wanted:
            found = [
                record
                for record in registry.values()
                if getattr(record, key) == value
                and (connector is None or record.connector == connector)
            ]
            if not found:
                unknown.append(value)
            chosen.update({record.camera_id: record for record in found})
    return chosen, unknown


async def remove(
    producer: CatalogProducer,
    *,
    actor: str,
    cameras: Iterable[str] = (),
    devices: Iterable[str] = (),
    addresses: Iterable[str] = (),
    connector: str | None = None,
    reason: str | None = None,
    bootstrap: str | None = None,
) -> RemovalSummary:
    """Remove the chosen cameras (module docstring) and say which; ``actor`` is who asked."""
    cameras = list(cameras)
    malformed = [camera for camera in cameras if not re.fullmatch(CAMERA_ID_PATTERN, camera)]
    if malformed:
        raise ConfigurationError(f"not camera ids (cam- and 20 hex digits): {', '.join(malformed)}")
    table = await read_table(
        CAMERA_REGISTRY, bootstrap=bootstrap, component="connector.remove", producer=producer
    )
    registry = {k: v for k, v in table.items() if isinstance(v, CameraRecord)}
    chosen, unknown = _select(registry, cameras, devices, addresses, connector)
    now = utcnow()
    removals = [
        CameraRemoval.of(camera, record, at=now, actor=actor, reason=reason, connector=connector)
        for camera, record in chosen.items()
    ]
    # The marker first: a scan reading the registry after the tombstone already withholds it.
    await producer.send_batch(CAMERA_REMOVALS, removals)
    await asyncio.gather(
        *[await producer.enqueue(CAMERA_REGISTRY, None, key=camera) for camera in chosen],
        *[await producer.enqueue(CAMERA_WATCH, None, key=camera) for camera in chosen],
    )
    await producer.send_batch(
        AUDIT,
        [removal_audit(r, registered=chosen[r.camera_id] is not None) for r in removals],
    )
    return RemovalSummary(
        removed={camera: record.device_id if record else None for camera, record in chosen.items()},
        unknown=unknown,
    )

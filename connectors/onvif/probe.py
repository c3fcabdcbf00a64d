"""From a probed ONVIF device to a ``CameraRecord``: stable id, scopes, streams without credentials.

``probe_many`` probes a list of targets with bounded concurrency over one shared transport and
returns records and per-target failures; it never raises for one bad device. Each target is
probed through the SDK's onboarding boundary (``connectors.sdk.onboard.isolated``): an overall
deadline, and whatever goes wrong becomes that target's ``DeviceFailure``. Values that do not
fit the registry follow the SDK's policy (``connectors.sdk.records``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import unquote, urlsplit, urlunsplit

from connectors.onvif.channels import source_channels
from connectors.onvif.device import MAX_PROFILES, DeviceSnapshot, MediaProfile, OnvifDevice
from connectors.onvif.inventory import InventoryEntry
from connectors.onvif.soap import SoapTransport
from connectors.sdk.channels import refs_config
from connectors.sdk.errors import ConnectorError
from connectors.sdk.onboard import DeviceFailure, device_deadline_s, isolated
from connectors.sdk.records import registry_record
from connectors.sdk.secrets import Credentials
from topics.identity import camera_id, device_id, normalise_mac
from topics.models import (
    CameraRecord,
    Capabilities,
    Location,
    Owner,
    OwnerKind,
    SharingLevel,
    SiteType,
    utcnow,
)

CONNECTOR_NAME = "onvif"
_SCOPE_PREFIX = "onvif://www.onvif.org/"


@dataclass(frozen=True)
class ProbeTarget:
    """One device to probe: its address, credentials and what the inventory says about it."""

    address: str
    credential_ref: str | None = None
    entry: InventoryEntry | None = None
    endpoint_reference: str | None = None

    @property
    def effective_credential_ref(self) -> str | None:
        """The inventory row's own reference wins over one given for a whole scan."""
        if self.entry is not None and self.entry.credential_ref:
            return self.entry.credential_ref
        return self.credential_ref


@dataclass
class ProbeReport:
    records: list[CameraRecord] = field(default_factory=list)
    failures: list[DeviceFailure] = field(default_factory=list)
    snapshots: dict[str, DeviceSnapshot] = field(default_factory=dict)
    #: camera ids whose placement (owner, location, sharing, …) came from an inventory row
    placed: set[str] = field(default_factory=set)


def parse_scopes(scopes: Sequence[str]) -> dict[str, str]:
    """``onvif://www.onvif.org/name/Pasar%20Johar`` → {"name": "Pasar Johar"}; first value per key wins."""
    found: dict[str, str] = {}
    for scope in scopes:
        if not scope.lower().startswith(_SCOPE_PREFIX):
            continue
        key, _, value = scope[len(_SCOPE_PREFIX) :].partition("/")
        key = key.lower()
        if value and key not in found:
            found[key] = " ".join(unquote(value).replace("_", " ").split())
    return found


def strip_credentials(uri: str | None) -> str | None:
    """A stream URI without user:password@ (some devices embed them) and without a password query."""
    if not uri:
        return None
    parts = urlsplit(uri.strip())
    netloc = parts.netloc.rpartition("@")[2]
    query = "&".join(
        pair
        for pair in parts.query.split("&")
        if pair
        and pair.split("=", 1)[0].lower() not in ("password", "pwd", "pass", "user", "username")
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _analytics(snapshot: DeviceSnapshot) -> list[str]:
    return ["onvif_analytics"] if snapshot.services.analytics else []


@dataclass(frozen=True)
class Placement:
    """Where a camera is and whose it is: from an inventory row or a connector config."""

    owner: Owner
    location: Location
    site_type: SiteType = SiteType.OTHER
    sharing: SharingLevel = SharingLevel.REGISTRY_ONLY
    name: str | None = None

    @classmethod
    def of_entry(cls, entry: InventoryEntry) -> Placement:
        return cls(entry.owner, entry.location, entry.site_type, entry.sharing, entry.name)


def camera_records(
    snapshot: DeviceSnapshot,
    *,
    placement: Placement | None = None,
    credential_ref: str | None = None,
    endpoint_reference: str | None = None,
    discovered_at: datetime | None = None,
) -> list[CameraRecord]:
    """The registry records of a probed device, one per video source; ids never depend on its
    address. A device's first (or only) source keeps the device's camera id, so a camera keeps
    its id whatever its profiles say; an encoder's further sources are channels 2, 3, ….
    Each record keeps the references its events name its source by (``connectors.onvif.channels``)."""
    info = snapshot.info
    mac = None
    if snapshot.mac:
        try:
            mac = normalise_mac(snapshot.mac)
        except ValueError:
            mac = None
    identity = {
        "vendor": info.manufacturer,
        "serial": info.serial,
        "mac": mac,
        "endpoint_reference": endpoint_reference,
    }
    dev_id = device_id(**identity)
    scopes = parse_scopes(snapshot.scopes)
    now = utcnow()
    name = (
        (placement.name if placement else None)
        or scopes.get("name")
        or info.model
        or snapshot.address
    )
    location = placement.location if placement else Location()
    if location.address is None and "location" in scopes:
        location = location.model_copy(update={"address": scopes["location"]})
    sources = source_channels(snapshot.profiles[:MAX_PROFILES])
    several = len(sources) > 1
    records = []
    for number, source in enumerate(sources, start=1):
        record: dict[str, object] = {
            "camera_id": camera_id(**identity, channel=number if number > 1 else None),
            "name": f"{name} ch{number}" if several else name,
            "connector": CONNECTOR_NAME,
            "device_id": dev_id,
            "channel": number if several else None,
            "address": snapshot.address,
            "credential_ref": credential_ref,
            "vendor": info.manufacturer,
            "model": info.model or scopes.get("hardware"),
            "firmware": info.firmware,
            "serial": info.serial,
            "hardware_id": info.hardware_id,
            "mac": mac,
            "streams": [_stream(profile) for profile in source.profiles],
            "capabilities": Capabilities(
                ptz=bool(snapshot.services.ptz) or any(p.has_ptz for p in source.profiles),
                events=bool(snapshot.services.events),
                analytics=_analytics(snapshot),
            ),
            "connector_config": refs_config(source.refs),
            "discovered_at": discovered_at or now,
            "updated_at": now,
        }
        if placement is not None:
            record.update(
                owner=placement.owner, site_type=placement.site_type, sharing=placement.sharing
            )
        else:
            record["owner"] = Owner(kind=OwnerKind.MUNICIPAL, id="city")
        record["location"] = location
        records.append(registry_record(record, device=snapshot.address))
    return records


def _stream(profile: MediaProfile) -> dict[str, object]:
    return {
        "token": profile.token,
        "name": profile.name,
        "rtsp_uri": strip_credentials(profile.stream_uri),
        "snapshot_uri": strip_credentials(profile.snapshot_uri),
        "codec": profile.codec,
        "width": profile.width,
        "height": profile.height,
        "fps": profile.fps,
    }


ProgressCallback = Callable[[int, int], None]


async def probe_many(
    transport: SoapTransport,
    targets: Sequence[ProbeTarget],
    *,
    concurrency: int = 256,
    progress: ProgressCallback | None = None,
    deadline_s: float | None = None,
) -> ProbeReport:
    """Probe every target (bounded concurrency); failures are reported, never raised.

    Each target's whole probe must finish within ``deadline_s`` (default: the SDK's
    ``device_deadline_s`` of the transport's per-call timeout).
    """
    report = ProbeReport()
    gate = asyncio.Semaphore(max(1, concurrency))
    deadline = deadline_s or device_deadline_s(transport.limits.timeout_s)
    done = 0
    last_progress = time.monotonic()

    async def probe(
        target: ProbeTarget, credentials: Credentials | None
    ) -> tuple[list[CameraRecord], DeviceSnapshot]:
        snapshot = await OnvifDevice(transport, target.address, credentials).snapshot()
        records = camera_records(
            snapshot,
            placement=Placement.of_entry(target.entry) if target.entry else None,
            credential_ref=target.effective_credential_ref,
            endpoint_reference=target.endpoint_reference,
        )
        return records, snapshot

    async def one(target: ProbeTarget) -> None:
        nonlocal done, last_progress
        async with gate:
            ref = target.effective_credential_ref
            credentials = None
            try:
                credentials = Credentials.from_ref(ref) if ref else None
                records, snapshot = await isolated(
                    lambda: probe(target, credentials), device=target.address, deadline_s=deadline
                )
            except ConnectorError as exc:
                report.failures.append(
                    DeviceFailure.of(target.address, exc, credentials=credentials)
                )
            else:
                for record in records:
                    report.records.append(record)
                    report.snapshots[record.camera_id] = snapshot
                    if target.entry is not None:
                        report.placed.add(record.camera_id)
            done += 1
            if progress is not None and (
                time.monotonic() - last_progress > 1 or done == len(targets)
            ):
                last_progress = time.monotonic()
                progress(done, len(targets))

    await asyncio.gather(*(one(t) for t in targets))
    return report

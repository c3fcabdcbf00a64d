"""One onboarding run end to end (what ``tilik discover onvif`` does), usable from code and benchmarks."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from connectors.onvif.discovery import ws_discover
from connectors.onvif.inventory import load_inventory
from connectors.onvif.onboard import TargetSet, dedupe, publish
from connectors.onvif.probe import ProbeReport, ProgressCallback, probe_many
from connectors.onvif.soap import SoapTransport
from connectors.sdk.http import HttpLimits
from connectors.sdk.netpolicy import ProbePolicy
from connectors.sdk.onboard import DeviceFailure, device_deadline_s
from topics.catalog import CAMERA_REGISTRY
from topics.client import CatalogProducer, read_table
from topics.models import CameraRecord


@dataclass(frozen=True)
class OnboardRequest:
    policy: ProbePolicy
    ws_discovery: bool = False
    interface: str | None = None
    ws_target: tuple[str, int] | None = None
    ws_timeout_s: float = 3.0
    hosts: list[str] = field(default_factory=list)
    cidr: str | None = None
    port: int = 80
    inventory: Path | None = None
    credential_ref: str | None = None
    concurrency: int = 256
    #: each request's total deadline (connect + send + read)
    timeout_s: float = 10.0
    #: each device's whole probe (default: the SDK's ``device_deadline_s(timeout_s)``)
    device_deadline_s: float | None = None
    bootstrap: str | None = None
    publish: bool = True


@dataclass
class OnboardOutcome:
    records: list[CameraRecord]
    report: ProbeReport
    refused: list[DeviceFailure]
    published: bool


async def collect_targets(request: OnboardRequest) -> TargetSet:
    """Every address to probe; refusals by the policy are kept, not raised (except for a CIDR)."""
    targets = TargetSet(request.policy)
    if request.inventory is not None:
        targets.add_inventory(load_inventory(request.inventory), request.credential_ref)
    for host in request.hosts:
        targets.add(host.strip(), credential_ref=request.credential_ref)
    if request.cidr:
        for address in request.policy.expand(request.cidr, request.port):
            targets.add(address, credential_ref=request.credential_ref)
    if request.ws_discovery or request.ws_target:
        found = await ws_discover(
            policy=request.policy,
            target=request.ws_target,
            interface=request.interface,
            timeout_s=request.ws_timeout_s,
        )
        targets.add_discovered(found, request.credential_ref)
    return targets


async def run_onboarding(
    request: OnboardRequest,
    *,
    progress: ProgressCallback | None = None,
    transport: SoapTransport | None = None,
    producer: CatalogProducer | None = None,
) -> OnboardOutcome:
    targets = await collect_targets(request)
    own_transport = transport is None
    transport = transport or SoapTransport(HttpLimits(timeout_s=request.timeout_s))
    try:
        report = await probe_many(
            transport,
            list(targets.targets.values()),
            concurrency=request.concurrency,
            progress=progress,
            deadline_s=request.device_deadline_s or device_deadline_s(request.timeout_s),
        )
    finally:
        if own_transport:
            await transport.close()
    if request.publish:
        # The current registry, so rediscovery keeps first sightings and people's decisions.
        known = await read_table(CAMERA_REGISTRY, bootstrap=request.bootstrap)
        if producer is not None:
            await publish(producer, report, known=known)
        else:
            async with CatalogProducer(request.bootstrap, client_id="tilik-onvif-onboard") as own:
                await publish(own, report, known=known)
    return OnboardOutcome(
        records=dedupe(report.records),
        report=report,
        refused=targets.refused,
        published=request.publish,
    )

"""One ONVIF onboarding run end to end (what ``tilik discover onvif`` does), usable from code and
benchmarks: collect targets, then the SDK's one onboarding pipeline with the ONVIF probe."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from connectors.onvif.connector import OnvifConnector
from connectors.onvif.discovery import ws_discover
from connectors.onvif.inventory import load_inventory
from connectors.onvif.onboard import TargetSet, probe_reader
from connectors.onvif.probe import ProbeReport
from connectors.onvif.probe_workers import ProbeWorkers
from connectors.onvif.soap import SoapTransport
from connectors.sdk.boundary import DeviceFailure
from connectors.sdk.http import HttpLimits
from connectors.sdk.netpolicy import ProbePolicy
from connectors.sdk.onboard import (
    DeviceReader,
    OnboardOptions,
    OnboardSummary,
    ProgressCallback,
    onboard,
)
from topics.client import CatalogProducer
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
    #: processes probing devices (``connectors.onvif.probe_workers``; 1: this one)
    processes: int = 1
    #: each request's total deadline (connect + send + read)
    timeout_s: float = 10.0
    #: each device's whole probe (default: the SDK's ``device_deadline_s(timeout_s)``)
    device_deadline_s: float | None = None
    bootstrap: str | None = None
    publish: bool = True
    #: who onboards, for the audit topic
    actor: str | None = None
    #: register cameras that were removed instead of withholding them
    readmit: bool = False
    #: seconds to wait for the watching runtime's word (0: do not ask)
    verify_s: float = 0.0
    watch_group: str | None = None


@dataclass
class OnboardOutcome:
    #: the records published (found, in a dry run)
    records: list[CameraRecord]
    #: the same records, every device's failure, and each device's snapshot
    report: ProbeReport
    #: addresses the probe policy refused before any probe
    refused: list[DeviceFailure]
    published: bool
    summary: OnboardSummary


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
    report = ProbeReport()
    options = OnboardOptions(
        concurrency=request.concurrency,
        # A scan meets many addresses where nothing answers: one try each, within the deadline.
        attempts=1,
        deadline_s=request.device_deadline_s,
        actor=request.actor,
        readmit=request.readmit,
        verify_s=request.verify_s,
        watch_group=request.watch_group,
    )

    async def run(reader: DeviceReader, publisher: CatalogProducer | None) -> OnboardSummary:
        return await onboard(
            OnvifConnector,
            targets.configs(timeout_s=request.timeout_s),
            producer=publisher,
            options=options,
            reader=reader,
            policy=request.policy,
            progress=progress,
            bootstrap=request.bootstrap,
        )

    async with contextlib.AsyncExitStack() as stack:
        if own_transport:
            stack.push_async_callback(transport.close)
        prober: SoapTransport | ProbeWorkers = transport
        if request.processes > 1:
            prober = await stack.enter_async_context(
                ProbeWorkers(
                    request.processes, transport.limits, deadline_s=request.device_deadline_s
                )
            )
        reader = probe_reader(prober, report.snapshots)
        publisher = producer
        if request.publish and publisher is None:
            publisher = await stack.enter_async_context(
                CatalogProducer(request.bootstrap, client_id="tilik-onvif-onboard")
            )
        summary = await run(reader, publisher if request.publish else None)
    report.records = list(summary.records.values())
    report.failures = list(summary.failed.values())
    return OnboardOutcome(
        records=report.records,
        report=report,
        refused=targets.refused,
        published=request.publish,
        summary=summary,
    )

"""``tilik drill``: runs the failure drill end to end and exits non-zero on any loss."""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from hub.routing.loader import load_routes
from tilik.demo import Stage
from tilik.drill.cluster import DrillCluster
from tilik.drill.faults import FAULTS, FaultOptions, FaultResult
from tilik.drill.fleet import WEBHOOK_AGENCY, Fleet, FleetOptions
from tilik.drill.ledger import Ledger, account, read_topics
from tilik.drill.report import print_report
from tilik.drill.traffic import Traffic


@dataclass(frozen=True)
class DrillOptions:
    fleet: FleetOptions
    faults: FaultOptions
    fault_names: tuple[str, ...]
    rate: float
    settle_timeout_s: float
    heap_mb: int


@dataclass(frozen=True)
class DrillOutcome:
    faults: list[FaultResult]
    ledger: Ledger
    send_failures: int


async def settle(
    cluster: DrillCluster, fleet: Fleet, traffic: Traffic, since: datetime, timeout_s: float
) -> Ledger:
    """The ledger once nothing missing can still arrive, or as it stands when ``timeout_s`` runs
    out: the hub and the webhook retries catch up after the last fault, and the ledger shows it.
    The edge site's events are accounted up to now (it goes on sending while the hub catches up)."""
    edge_until = datetime.now(UTC)
    routes = load_routes(fleet.run_dir / "routes.yaml")
    agencies = [agency.id for agency in routes.document.agencies]
    deadline = time.monotonic() + timeout_s
    while True:
        tenant = fleet.site.tenant
        read = await read_topics(
            cluster.bootstrap, cluster.operator, since, fleet.app_id, agencies, tenant
        )
        assert fleet.receiver is not None
        ledger = account(
            traffic.produced,
            read,
            routes,
            WEBHOOK_AGENCY,
            fleet.receiver.state,
            tenant,
            (fleet.site.confirmed_at, edge_until),
        )
        if ledger.settled or time.monotonic() > deadline:
            return ledger
        await asyncio.sleep(3.0)


def run_drill(run_dir: Path, options: DrillOptions, stage: Stage) -> DrillOutcome:
    """Cluster, services, traffic, faults, ledger; everything started is stopped at the end."""
    cluster = DrillCluster(run_dir / "cluster", heap_mb=options.heap_mb)
    # Broker timestamps are the cluster's clock: a margin keeps the first record inside.
    since = datetime.now(UTC) - timedelta(seconds=5)
    stage("starting a 3-broker KRaft cluster (replication 3, min in-sync 2, SCRAM and ACLs)")
    fleet: Fleet | None = None
    try:
        # On this thread: the brokers' lives are tied to the thread that starts them.
        cluster.start()
        click.echo(f"cluster: {cluster.bootstrap}")
        fleet = Fleet(cluster, run_dir, options.fleet)
        return asyncio.run(exercise(cluster, fleet, since, options, stage))
    finally:
        stage("stopping the drill's processes and brokers")
        if fleet is not None:
            fleet.stop()
        cluster.stop()


async def exercise(
    cluster: DrillCluster, fleet: Fleet, since: datetime, options: DrillOptions, stage: Stage
) -> DrillOutcome:
    fleet.start_receiver()
    stage(
        f"cameras: {options.fleet.cameras} ONVIF and a {options.fleet.nvr_channels}-channel "
        "NVR, onboarded; their connector runtimes"
    )
    fleet.start_cameras()
    stage(
        f"a tenant's site: {options.fleet.site_cameras} ONVIF cameras behind its edge agent, "
        "which reaches the cluster over a link the drill can cut"
    )
    await fleet.start_site()
    stage(f"{options.fleet.hub_workers} hub workers in group {fleet.app_id}")
    await fleet.start_hub()
    stage(
        "the tenant confirms its site's cameras, shared live (until then the city shares nothing)"
    )
    await fleet.site.confirm_cameras()
    stage(f"traffic: {options.rate:g} planned events/s besides the cameras' own")
    traffic = Traffic(secrets.token_hex(4), cluster.settings_of("connector"), options.rate)
    traffic.start()
    results: list[FaultResult] = []
    try:
        await asyncio.sleep(options.faults.steady_s)
        traffic.check()
        for name in options.fault_names:
            stage(f"fault: {name}")
            results.append(await FAULTS[name](cluster, fleet, options.faults))
            await asyncio.sleep(options.faults.steady_s)
            traffic.check()
    finally:
        traffic.stop()
    stage(f"traffic stopped after {len(traffic.produced)} planned records; settling")
    ledger = await settle(cluster, fleet, traffic, since, options.settle_timeout_s)
    return DrillOutcome(results, ledger, traffic.send_failures)


def fault_names(value: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    unknown = [n for n in names if n not in FAULTS]
    if unknown:
        raise click.BadParameter(f"unknown faults {unknown}; known: {', '.join(FAULTS)}")
    return names


@click.command()
@click.option("--cameras", default=24, show_default=True, help="Simulated ONVIF cameras.")
@click.option("--nvr-channels", default=4, show_default=True, help="Channels of the vendor NVR.")
@click.option("--hub-workers", type=click.IntRange(2), default=2, show_default=True)
@click.option(
    "--rate", default=10.0, show_default=True, help="Planned events a second (ledger traffic)."
)
@click.option(
    "--faults",
    "faults_spec",
    default=",".join(FAULTS),
    show_default=True,
    help="Which faults, in order.",
)
@click.option("--broker-down", default=20.0, show_default=True, help="Seconds a broker stays dead.")
@click.option(
    "--receiver-down", default=30.0, show_default=True, help="Seconds the webhook receiver is down."
)
@click.option(
    "--edge-down", default=30.0, show_default=True, help="Seconds the edge site is cut off."
)
@click.option(
    "--steady", default=10.0, show_default=True, help="Seconds of steady traffic between faults."
)
@click.option(
    "--settle-timeout",
    default=240.0,
    show_default=True,
    help="Seconds the ledger may wait for the hub and the webhook retries to catch up.",
)
@click.option("--heap-mb", default=512, show_default=True, help="Heap of each broker.")
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the cluster, logs and principals go (default: a new temporary directory).",
)
def drill(
    cameras: int,
    nvr_channels: int,
    hub_workers: int,
    rate: float,
    faults_spec: str,
    broker_down: float,
    receiver_down: float,
    edge_down: float,
    steady: float,
    settle_timeout: float,
    heap_mb: int,
    run_dir: Path | None,
) -> None:
    """Kill a broker, a hub worker and a connector, take a webhook receiver down, cut an edge
    site off the network, and prove from the topics that nothing was lost."""
    options = DrillOptions(
        fleet=FleetOptions(cameras=cameras, nvr_channels=nvr_channels, hub_workers=hub_workers),
        faults=FaultOptions(
            broker_down_s=broker_down,
            receiver_down_s=receiver_down,
            edge_down_s=edge_down,
            steady_s=steady,
        ),
        fault_names=fault_names(faults_spec),
        rate=rate,
        settle_timeout_s=settle_timeout,
        heap_mb=heap_mb,
    )
    directory = run_dir or Path(tempfile.mkdtemp(prefix="tilik-drill-"))
    directory.mkdir(parents=True, exist_ok=True)
    stage = Stage()
    started = time.monotonic()
    outcome = run_drill(directory, options, stage)
    print_report(
        outcome.faults,
        outcome.ledger,
        send_failures=outcome.send_failures,
        elapsed_s=time.monotonic() - started,
    )
    click.echo(f"logs: {directory}")
    if not outcome.ledger.ok:
        raise SystemExit(1)

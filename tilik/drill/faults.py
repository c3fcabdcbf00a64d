"""The faults, one after another, each with how long the drill took to see its recovery.

A step kills one part (SIGKILL: no shutdown, no final commit or flush) or cuts it off, brings it
back, and waits on observable state for the recovery: the broker serving again, the worker ready
in its group, the connector's events arriving again, the receiver answering the hub again, the
events the edge site kept in its outbox during the cut reaching the shared topic.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from hub.ingest.stamping import EDGE_CONNECTOR
from tilik.drill.cluster import DrillCluster
from tilik.drill.fleet import Fleet
from topics.admin import admin_client
from topics.catalog import DEVICE_EVENTS
from topics.client import read_records
from topics.models import DeviceEvent


@dataclass(frozen=True)
class FaultOptions:
    broker_down_s: float = 20.0
    worker_down_s: float = 5.0
    connector_down_s: float = 5.0
    receiver_down_s: float = 30.0
    edge_down_s: float = 30.0
    # Steady traffic between two faults, so each one hits a running system.
    steady_s: float = 10.0
    recovery_timeout_s: float = 180.0


@dataclass(frozen=True)
class FaultResult:
    name: str
    detail: str
    down_s: float
    recovered_after_s: float


async def kill_broker(cluster: DrillCluster, fleet: Fleet, options: FaultOptions) -> FaultResult:
    # The node that leads the most device-event partitions: its death moves the most leaders.
    node = await asyncio.to_thread(busiest_leader, cluster)
    pid = cluster.kill_broker(node)
    await asyncio.sleep(options.broker_down_s)
    began = time.monotonic()
    # Called on this (the main) thread: the restarted node's life is tied to the caller's thread.
    cluster.restart_missing()
    return FaultResult(
        "SIGKILL a broker",
        f"node {node} (pid {pid}; it led the most device-event partitions), restarted; 3 brokers serve again",
        options.broker_down_s,
        time.monotonic() - began,
    )


def busiest_leader(cluster: DrillCluster) -> int:
    with admin_client(cluster.bootstrap, settings=cluster.operator) as client:
        (described,) = client.describe_topics([DEVICE_EVENTS.name])
    leaders = Counter(p["leader_id"] for p in described["partitions"] if p["leader_id"] >= 0)
    return leaders.most_common(1)[0][0] if leaders else 2


async def kill_worker(cluster: DrillCluster, fleet: Fleet, options: FaultOptions) -> FaultResult:
    victim = fleet.workers[0]
    pid = victim.process.pid if victim.process is not None else -1
    victim.kill()
    await asyncio.sleep(options.worker_down_s)
    began = time.monotonic()
    await fleet.restart_worker(0)
    return FaultResult(
        "SIGKILL a hub worker",
        f"worker 0 (pid {pid}) of {len(fleet.workers)}, restarted; ready in its group",
        options.worker_down_s,
        time.monotonic() - began,
    )


async def kill_connector(cluster: DrillCluster, fleet: Fleet, options: FaultOptions) -> FaultResult:
    name = "onvif"
    pid = fleet.kill_connector(name)
    await asyncio.sleep(options.connector_down_s)
    began = time.monotonic()
    since = datetime.now(UTC)
    fleet.start_connector(name)
    await events_from(
        cluster,
        since,
        options.recovery_timeout_s,
        lambda event: event.source.connector == name,
        f"no event of connector {name}",
    )
    return FaultResult(
        "SIGKILL a connector",
        f"connector {name} (pid {pid}), restarted; its cameras' events flow again",
        options.connector_down_s,
        time.monotonic() - began,
    )


async def receiver_outage(
    cluster: DrillCluster, fleet: Fleet, options: FaultOptions
) -> FaultResult:
    assert fleet.receiver is not None
    fleet.stop_receiver()
    await asyncio.sleep(options.receiver_down_s)
    began = time.monotonic()
    receiver = fleet.start_receiver()
    deadline = began + options.recovery_timeout_s
    # The hub's retries (and new dispatches) reach the receiver again.
    while receiver.requests == 0:
        if time.monotonic() > deadline:
            raise TimeoutError("the hub did not reach the webhook receiver after it came back")
        await asyncio.sleep(0.2)
    return FaultResult(
        "webhook receiver down",
        f"{fleet.receiver.url} refused connections, then came back on the same port",
        options.receiver_down_s,
        time.monotonic() - began,
    )


async def cut_edge(cluster: DrillCluster, fleet: Fleet, options: FaultOptions) -> FaultResult:
    assert cluster.wan is not None
    cut_at = datetime.now(UTC)
    cluster.wan.cut()
    await asyncio.sleep(options.edge_down_s)
    cluster.wan.restore()
    restored = datetime.now(UTC)
    began = time.monotonic()

    def kept_during_the_cut(event: DeviceEvent) -> bool:
        return event.source.connector == EDGE_CONNECTOR and cut_at <= event.received_at <= restored

    # The site went on receiving its cameras' events; they wait in its outbox and must reach
    # the shared topic (through the hub's ingest) once the link is back.
    await events_from(
        cluster,
        restored,
        options.recovery_timeout_s,
        kept_during_the_cut,
        "no event the edge site received during the cut",
    )
    return FaultResult(
        "edge site cut off",
        f"tenant {fleet.site.tenant}'s edge agent without network; its outbox delivered the "
        "events of the cut once the link came back",
        options.edge_down_s,
        time.monotonic() - began,
    )


async def events_from(
    cluster: DrillCluster,
    since: datetime,
    timeout_s: float,
    matches: Callable[[DeviceEvent], bool],
    what: str,
) -> None:
    """Until a device event that ``matches`` arrives on the topic after ``since``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        records = await read_records(
            DEVICE_EVENTS,
            start=since,
            bootstrap=cluster.bootstrap,
            component="drill",
            dead_letter_invalid=False,
            settings=cluster.operator,
        )
        if any(isinstance(r.value, DeviceEvent) and matches(r.value) for r in records):
            return
        await asyncio.sleep(1.0)
    raise TimeoutError(f"{what} within {timeout_s:g}s")


Fault = Callable[[DrillCluster, Fleet, FaultOptions], Awaitable[FaultResult]]

FAULTS: dict[str, Fault] = {
    "broker": kill_broker,
    "worker": kill_worker,
    "connector": kill_connector,
    "receiver": receiver_outage,
    "edge": cut_edge,
}

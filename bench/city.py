"""The whole city on this machine, a real run: simulated ONVIF cameras onboarded, watched by
connector runtimes, judged by the hub and dispatched, with each figure beside its baseline from
the same run where one exists.

    .venv/bin/python bench/city.py --cameras 20000 --json city.json
    .venv/bin/python bench/city.py --cameras 500 --steady-s 60 --burst 2000     # a quick look

What runs, each in processes of its own (a process may open at most 20,000 files, and a camera
is a listening socket, so at most ``--per-process`` cameras, default 8,000, per simulator and
per connector runtime):

- a fresh single-node Kafka broker (SCRAM and ACLs, as `tilik kafka start`), the catalog and the
  services' principals, as `tilik demo` issues them;
- ``ceil(N / per-process)`` camera simulators, each camera raising ``--event-rate`` events a
  second (0.1: city load is 20,000 x 0.1 = 2,000 events/s);
- as many connector runtimes (``tilik connectors run onvif``, one consumer group, so the
  registry's partitions are shared among them), with ONVIF push, a health round every
  ``--health-interval`` seconds (one status a minute per camera);
- ``--hub-workers`` hub workers with the default rules and routes.

Figures:

- onboarding: ``tilik discover onvif --inventory`` over every camera (the one probe, raw SOAP),
  wall time, against the goal of 120 s for 20,000;
- watching: from onboarding's end until every camera has published a status;
- health cycle: the longest last-round time the runtimes report (``tilik_connector_health_round_s``),
  against the interval and the goal of 60 s;
- sustained rates over the ``--steady-s`` window: device events and statuses a second on the
  topics, against what the simulated cameras were asked to raise (the baseline);
- alert latency, event record -> dispatch record (broker timestamps), p50 and p99: steady (the
  cameras' own tamper reports) and during a ``--burst``-event burst of tamper reports from
  distinct cameras produced as fast as this process can, on top of the city load;
- resident memory of every process, and per watched camera for the runtimes: steady minus the
  same process's empty baseline (sampled before onboarding), against the goal of 20 KB;
- broker disk a day: the log directory's growth over the steady window, scaled to 86,400 s.

Results go to ``--json`` and are printed as the table ``docs/performance.md`` keeps.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hub_throughput import tamper
from onvif_watch_memory import die_with_this_process, healthy, rss_bytes

from core.localkafka import LocalKafka
from core.localkafka.layout import free_ports
from core.settings import Settings, get_settings
from hub.routing.loader import default_routes_text
from hub.testing import WorkerProcess
from tilik.demo import PASSWORD_ENV, service_principals, write_inventory
from topics import codec
from topics.catalog import CAMERA_STATUS, DEVICE_EVENTS, dispatch_spec
from topics.connection import connection_config

TILIK = str(Path(sys.executable).parent / "tilik")
GOALS = {"onboarding_s": 120.0, "health_cycle_s": 60.0, "p99_ms": 250.0, "kb_per_camera": 20.0}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Latencies:
    values_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        return {
            "count": len(self.values_ms),
            "p50_ms": round(percentile(self.values_ms, 0.50), 1),
            "p99_ms": round(percentile(self.values_ms, 0.99), 1),
        }


class Flow:
    """Reads the events, statuses and every agency's dispatches from their ends at ``start``:
    counts per second and the latency from an alert's event record to its dispatch record."""

    def __init__(self, bootstrap: str, agencies: Iterable[str]) -> None:
        self.bootstrap = bootstrap
        self.dispatch_topics = {dispatch_spec(a).name for a in agencies}
        self.event_at: dict[str, int] = {}
        self.kinds: Counter[str] = Counter()
        self.read_to: dict[TopicPartition, int] = {}
        self.events: list[int] = []  # record timestamps, ms
        self.statuses: list[int] = []
        self.status_cameras: set[str] = set()
        # (dispatch record time ms, latency ms, event ids) of first dispatches (alert opened).
        self.dispatches: list[tuple[int, float, list[str]]] = []
        self._pending: list[tuple[int, list[str]]] = []
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self, from_beginning: Iterable[str] = ()) -> None:
        consumer = AIOKafkaConsumer(
            **connection_config(self.bootstrap),
            group_id=None,
            enable_auto_commit=False,
            max_partition_fetch_bytes=4 * 2**20,
        )
        await consumer.start()
        self._consumer = consumer
        topics = [DEVICE_EVENTS.name, CAMERA_STATUS.name, *sorted(self.dispatch_topics)]
        await consumer._client.force_metadata_update()
        tps = [
            TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t))
        ]
        consumer.assign(tps)
        early = set(from_beginning)
        await consumer.seek_to_beginning(*[tp for tp in tps if tp.topic in early])
        await consumer.seek_to_end(*[tp for tp in tps if tp.topic not in early])
        for tp in tps:
            await consumer.position(tp)
        self._task = asyncio.create_task(self._read(consumer))

    async def caught_up(self, timeout_s: float = 120.0) -> None:
        """Until everything on the topics now has been read (a busy machine leaves a backlog)."""
        assert self._consumer is not None
        tps = list(self._consumer.assignment())
        ends = await self._consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout_s
        while any(self.read_to.get(tp, 0) < end for tp, end in ends.items() if end > 0):
            self.check()
            if time.monotonic() > deadline:
                print(f"  (the topics were not read to their end in {timeout_s:g} s)")
                return
            await asyncio.sleep(0.2)

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=20_000)
            for tp, records in batches.items():
                if records:
                    self.read_to[tp] = records[-1].offset + 1
                if tp.topic == DEVICE_EVENTS.name:
                    for record in records:
                        self.events.append(record.timestamp)
                        with contextlib.suppress(ValueError, TypeError, KeyError):
                            event = json.loads(record.value)
                            self.event_at[event["event_id"]] = record.timestamp
                            self.kinds[event["kind"]] += 1
                elif tp.topic == CAMERA_STATUS.name:
                    for record in records:
                        self.statuses.append(record.timestamp)
                        if record.key:
                            self.status_cameras.add(record.key.decode())
                else:
                    for record in records:
                        with contextlib.suppress(ValueError, TypeError, KeyError):
                            alert = json.loads(record.value)["alert"]
                            if alert["sequence"] == 0:
                                self._pending.append((record.timestamp, alert["event_ids"]))
            self._match()

    def _match(self) -> None:
        left = []
        for at, ids in self._pending:
            times = [self.event_at[i] for i in ids if i in self.event_at]
            if times:
                self.dispatches.append((at, float(at - max(times)), ids))
            elif time.time() * 1000 - at < 30_000:
                left.append((at, ids))  # its event may not be read yet
        self._pending = left

    def check(self) -> None:
        if self._task is not None and self._task.done():
            self._task.result()

    def rate(self, times: list[int], since_ms: int, until_ms: int) -> float:
        count = sum(1 for t in times if since_ms <= t < until_ms)
        return count / max(1e-3, (until_ms - since_ms) / 1000)

    def latencies(self, since_ms: int, until_ms: int, ids: set[str] | None = None) -> Latencies:
        chosen = Latencies()
        for at, latency, event_ids in self.dispatches:
            if ids is not None:
                if ids.intersection(event_ids):
                    chosen.values_ms.append(latency)
            elif since_ms <= at < until_ms:
                chosen.values_ms.append(latency)
        return chosen

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()


@dataclass
class Process:
    """A process of the run, sampled for memory (a hub worker has no asyncio child object)."""

    role: str
    pid: int
    child: asyncio.subprocess.Process | None = None
    cameras: int = 0
    metrics_port: int | None = None
    baseline_rss: float | None = None
    rss: list[int] = field(default_factory=list)


# A device onboarding could not take, as ``tilik discover`` reports it: "address: Error: reason".
FAILURE_LINE = re.compile(r"^(?P<address>\S+): (?P<error>\w+Error): (?P<reason>.*)$")


def failure_reasons(report: str) -> dict[str, int]:
    """How many devices failed for each error and reason, most frequent first (a reason naming
    its device's address counts with the others of its kind)."""
    found = Counter(
        f"{m['error']}: {m['reason'].replace(m['address'], '<device>')}"
        for line in report.splitlines()
        if (m := FAILURE_LINE.match(line))
    )
    return dict(found.most_common())


async def spawn(role: str, args: list[str], env: dict[str, str], **kw: object) -> Process:
    child = await asyncio.create_subprocess_exec(
        TILIK,
        *args,
        env=env,
        preexec_fn=die_with_this_process,
        **kw,  # type: ignore[arg-type]
    )
    return Process(role, child.pid, child)


async def read_addresses(process: Process, count: int) -> list[str]:
    assert process.child is not None
    stdout = process.child.stdout
    assert stdout is not None
    addresses: list[str] = []
    while len(addresses) < count:
        line = await asyncio.wait_for(stdout.readline(), 600)
        if not line:
            raise RuntimeError(f"{process.role} exited before listing its cameras")
        text = line.decode().strip()
        if text[:1].isdigit() and ":" in text:
            addresses.append(text)
    # Keep draining its output so it never blocks on a full pipe.
    asyncio.get_running_loop().create_task(drain(stdout))
    return addresses


async def drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


async def sample_all(processes: list[Process], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for process in processes:
            with contextlib.suppress(OSError):
                process.rss.append(rss_bytes(process.pid))
        await asyncio.sleep(1.0)


async def scrape(port: int) -> dict[str, float]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        text = await response.text()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("tilik_connector_") and " " in line:
            name, _, value = line.rpartition(" ")
            values[name.split("{")[0]] = float(value)
    return values


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


async def wait_for(condition: object, timeout_s: float, what: str, every_s: float = 1.0) -> float:
    began = time.monotonic()
    while not condition():  # type: ignore[operator]
        if time.monotonic() - began > timeout_s:
            raise TimeoutError(f"{what} within {timeout_s:g} s")
        await asyncio.sleep(every_s)
    return time.monotonic() - began


async def burst(bootstrap: str, count: int) -> tuple[set[str], float]:
    """``count`` tamper reports of distinct cameras, as fast as one producer goes; their ids and
    how long sending took."""
    tag = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    payloads = [tamper(tag, index, now) for index in range(count)]
    ids = {json.loads(p.value)["event_id"] for p in payloads}
    producer = AIOKafkaProducer(**connection_config(bootstrap), linger_ms=5, acks="all")
    await producer.start()
    try:
        headers = codec.headers_for(DEVICE_EVENTS)
        began = time.monotonic()
        futures = [
            await producer.send(DEVICE_EVENTS.name, p.value, key=p.key, headers=headers)
            for p in payloads
        ]
        await asyncio.gather(*futures)
        return ids, time.monotonic() - began
    finally:
        await producer.stop()


@dataclass(frozen=True)
class Broker:
    """The run's broker and the services' principals (started on the main thread: the broker's
    life is tied to the thread that starts it)."""

    kafka: LocalKafka
    bootstrap: str
    work: Path
    principals: dict[str, dict[str, str]]

    @classmethod
    def start(cls, work: Path, heap_mb: int) -> Broker:
        kafka = LocalKafka(work, port=0, heap_mb=heap_mb, stop_with_this_process=True)
        bootstrap = kafka.start()
        # This process's own clients (topic readers, the burst's producer) connect as the admin.
        os.environ["TILIK_CLIENT_CONFIG"] = str(kafka.admin_file)
        get_settings.cache_clear()
        operator = Settings(bootstrap=bootstrap, state_dir=work, client_config=kafka.admin_file)
        principals = service_principals(bootstrap, operator, work / "principals", own_broker=True)
        return cls(kafka, bootstrap, work, principals)


async def run(args: argparse.Namespace, broker: Broker) -> dict[str, object]:
    work, bootstrap, principals = broker.work, broker.bootstrap, broker.principals
    password = uuid.uuid4().hex
    base_env = {
        **os.environ,
        "TILIK_BOOTSTRAP": bootstrap,
        "TILIK_STATE_DIR": str(work),
        "TILIK_LOG_LEVEL": "warning",
        PASSWORD_ENV: password,
        "TILIK_SIM_PASSWORD": password,
    }
    connector_env = {**base_env, **principals["connector"]}
    agencies = [a["id"] for a in yaml.safe_load(default_routes_text())["agencies"]]
    results: dict[str, object] = {"cameras": args.cameras, "started": datetime.now(UTC).isoformat()}
    processes: list[Process] = []
    workers: list[WorkerProcess] = []
    flow = Flow(bootstrap, agencies)
    try:
        shares = [
            min(args.per_process, args.cameras - start)
            for start in range(0, args.cameras, args.per_process)
        ]
        print(f"simulators: {len(shares)} processes {shares}")
        began = time.monotonic()
        simulators = []
        for index, share in enumerate(shares):
            simulator = await spawn(
                "simulator",
                ["simulate", "onvif", "--cameras", str(share), "--seed", str(100 + index),
                 "--event-rate", str(args.event_rate)],
                base_env,
                stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            simulator.cameras = share
            simulators.append(simulator)
        processes += simulators
        addresses = [a for s in simulators for a in await read_addresses(s, s.cameras)]
        print(f"  {len(addresses)} cameras listening after {time.monotonic() - began:.0f} s")

        runtimes = []
        # Ports below the ephemeral range: no outgoing connection can take one before it binds.
        for port in free_ports(len(shares)):
            runtime = await spawn(
                "connector runtime",
                ["connectors", "run", "onvif", "--health-interval", str(args.health_interval),
                 "--concurrency", "256", "--metrics-port", str(port)],
                {**connector_env, "TILIK_ONVIF_PUSH_URL": "http://127.0.0.1:0"},
            )  # fmt: skip
            runtime.metrics_port = port
            runtimes.append(runtime)
        processes += runtimes
        for runtime in runtimes:
            assert runtime.metrics_port is not None and runtime.child is not None
            await healthy(runtime.metrics_port, 180, runtime.child)
        app_id = f"tilik-hub-city-{uuid.uuid4().hex[:6]}"
        for index in range(args.hub_workers):
            log_dir = work / f"hub-{index}"
            log_dir.mkdir(exist_ok=True)
            worker = WorkerProcess(
                bootstrap,
                app_id,
                log_dir / "worker.log",
                client_config=Path(principals["hub"]["TILIK_CLIENT_CONFIG"]),
                env={"TILIK_LOG_LEVEL": "warning"},
            )
            worker.start()
            workers.append(worker)
        for worker in workers:
            await worker.wait_ready(300)
            assert worker.process is not None
            processes.append(Process("hub worker", worker.process.pid))
        print(f"{len(runtimes)} connector runtimes and {len(workers)} hub worker(s) ready")
        await sample_all(runtimes, 10)
        for runtime in runtimes:
            runtime.baseline_rss = statistics.fmean(runtime.rss)
            runtime.rss.clear()

        await flow.start(from_beginning=[CAMERA_STATUS.name])
        inventory = work / "inventory.yaml"
        write_inventory(inventory, addresses, seed=7)
        began = time.monotonic()
        onboard = await asyncio.create_subprocess_exec(
            TILIK, "discover", "onvif", "--inventory", str(inventory), "--verify-timeout", "0",
            "--concurrency", str(args.onboard_concurrency), "--bootstrap", bootstrap,
            env=connector_env, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, preexec_fn=die_with_this_process,
        )  # fmt: skip
        _, stderr = await onboard.communicate()
        onboarding_s = time.monotonic() - began
        if onboard.returncode != 0:
            raise RuntimeError(f"onboarding failed: {stderr.decode()[-2000:]}")
        summary = [line for line in stderr.decode().splitlines() if "published" in line]
        print(f"onboarding: {onboarding_s:.1f} s ({summary[-1] if summary else ''})")
        results["onboarding_s"] = round(onboarding_s, 1)
        failures = failure_reasons(stderr.decode())
        results["onboarding_failures"] = failures
        for reason, count in failures.items():
            print(f"  failed: {count} x {reason}")

        # Cameras whose probe failed (a busy machine times some out) are not registered: wait
        # for the ones onboarding published.
        published = (
            int(m.group(1))
            if (m := re.search(r"(\d+) cameras published", "\n".join(summary)))
            else args.cameras
        )
        results["onboarded"] = published

        def watched() -> bool:
            flow.check()
            return len(flow.status_cameras) >= published

        watching_s = await wait_for(
            watched, args.health_interval * 3 + 300, "every camera publishing a status"
        )
        print(f"watching: every camera reported a status {watching_s:.0f} s after onboarding")
        results["watching_s"] = round(watching_s, 1)

        # Let subscriptions and the first rounds settle, then the steady window.
        await asyncio.sleep(args.settle_s)
        disk_before = disk_bytes(work / "kafka")
        since_ms = int(time.time() * 1000)
        await sample_all(processes, args.steady_s)
        until_ms = int(time.time() * 1000)
        disk_after = disk_bytes(work / "kafka")
        await flow.caught_up()
        offered_events = args.cameras * args.event_rate
        offered_statuses = args.cameras / args.health_interval
        events_s = flow.rate(flow.events, since_ms, until_ms)
        statuses_s = flow.rate(flow.statuses, since_ms, until_ms)
        steady = flow.latencies(since_ms, until_ms)
        rounds = [await scrape(r.metrics_port) for r in runtimes if r.metrics_port]
        health_round = max(m.get("tilik_connector_health_round_s", math.nan) for m in rounds)
        results["steady"] = {
            "window_s": args.steady_s,
            "events_per_s": round(events_s, 1),
            "events_offered_per_s": offered_events,
            "statuses_per_s": round(statuses_s, 1),
            "statuses_offered_per_s": round(offered_statuses, 1),
            "alert_latency": steady.summary(),
        }
        results["health_cycle_s"] = round(health_round, 1)
        results["broker_disk_gb_per_day"] = round(
            (disk_after - disk_before) / ((until_ms - since_ms) / 1000) * 86_400 / 1e9, 1
        )
        await per_camera(runtimes)
        results["memory"] = memory(processes)
        results["event_kinds"] = dict(flow.kinds.most_common())

        print(f"burst: {args.burst} tamper reports on top of the city load")
        burst_ids, send_s = await burst(bootstrap, args.burst)

        def dispatched() -> bool:
            flow.check()
            return len(flow.latencies(0, 0, burst_ids).values_ms) >= len(burst_ids)

        with contextlib.suppress(TimeoutError):
            await wait_for(dispatched, 300, "the burst's dispatches", 0.5)
        burst_latency = flow.latencies(0, 0, burst_ids)
        results["burst"] = {
            "events": args.burst,
            "send_s": round(send_s, 1),
            "dispatched": len(burst_latency.values_ms),
            "alert_latency": burst_latency.summary(),
        }
        return results
    finally:
        await flow.stop()
        for worker in workers:
            worker.stop()
        for process in reversed(processes):
            if process.child is not None and process.child.returncode is None:
                process.child.terminate()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(process.child.wait(), 20)


def memory(processes: list[Process]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for process in processes:
        if not process.rss:
            continue
        steady = statistics.fmean(process.rss[len(process.rss) // 2 :])
        row: dict[str, object] = {"role": process.role, "rss_mib": round(steady / 2**20, 1)}
        if process.cameras:
            row["cameras"] = process.cameras
        if process.role == "connector runtime" and process.metrics_port is not None:
            row["baseline_mib"] = round((process.baseline_rss or 0) / 2**20, 1)
        rows.append(row)
    return rows


async def per_camera(runtimes: list[Process]) -> None:
    for runtime in runtimes:
        if runtime.metrics_port is None:
            continue
        metrics = await scrape(runtime.metrics_port)
        runtime.cameras = int(metrics.get("tilik_connector_cameras", 0))
        print(
            f"  runtime pid {runtime.pid}: {metrics.get('tilik_connector_devices', 0):.0f} devices, "
            f"{runtime.cameras} cameras watched, "
            f"{metrics.get('tilik_connector_events_total', 0):.0f} events published"
        )


def table(results: dict[str, object]) -> str:
    steady = results["steady"]
    burst = results["burst"]
    assert isinstance(steady, dict) and isinstance(burst, dict)
    n = results["cameras"]
    failures = results.get("onboarding_failures") or {}
    assert isinstance(failures, dict)
    lines = [
        "| figure | measured | baseline (same run) | goal |",
        "|---|---|---|---|",
        f"| onboarding of {n} cameras | {results['onboarding_s']} s; {results['onboarded']} cameras published, {sum(failures.values())} devices failed | - | <= 120 s (20,000) |",
        f"| every camera watched (a status each) after onboarding | {results['watching_s']} s | - | - |",
        f"| health cycle (longest last round) | {results['health_cycle_s']} s | interval {results.get('health_interval_s')} s | <= 60 s |",
        f"| device events a second | {steady['events_per_s']} | {steady['events_offered_per_s']} raised | - |",
        f"| statuses a second | {steady['statuses_per_s']} | {steady['statuses_offered_per_s']} due | - |",
        f"| alert latency, steady, p50 / p99 | {steady['alert_latency']['p50_ms']} / {steady['alert_latency']['p99_ms']} ms ({steady['alert_latency']['count']} alerts) | - | p99 <= 250 ms |",
        f"| alert latency, {burst['events']}-event burst, p50 / p99 | {burst['alert_latency']['p50_ms']} / {burst['alert_latency']['p99_ms']} ms ({burst['dispatched']} dispatched) | sent in {burst['send_s']} s | - |",
        f"| broker disk a day | {results['broker_disk_gb_per_day']} GB | - | - |",
    ]
    memory_rows = results["memory"]
    assert isinstance(memory_rows, list)
    for row in memory_rows:
        extra = ""
        if "baseline_mib" in row and row.get("cameras"):
            per = (row["rss_mib"] - row["baseline_mib"]) * 1024 / row["cameras"]
            extra = f"; {per:.1f} KiB per watched camera"
            lines.append(
                f"| resident memory, {row['role']} ({row['cameras']} cameras) | {row['rss_mib']} MiB{extra} | {row['baseline_mib']} MiB empty | <= 20 KB per camera |"
            )
        else:
            cams = f" ({row['cameras']} cameras)" if row.get("cameras") else ""
            lines.append(f"| resident memory, {row['role']}{cams} | {row['rss_mib']} MiB | - | - |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=20_000)
    parser.add_argument("--per-process", type=int, default=8_000)
    parser.add_argument("--event-rate", type=float, default=0.1)
    parser.add_argument("--health-interval", type=float, default=60.0)
    parser.add_argument("--hub-workers", type=int, default=1)
    parser.add_argument("--onboard-concurrency", type=int, default=256)
    parser.add_argument("--settle-s", type=float, default=30.0)
    parser.add_argument("--steady-s", type=float, default=180.0)
    parser.add_argument("--burst", type=int, default=10_000)
    parser.add_argument("--broker-heap-mb", type=int, default=1024)
    parser.add_argument("--work-dir", default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.per_process > 8_000:
        parser.error("at most 8,000 cameras per process (the open-file limit is 20,000)")
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="tilik-city-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work dir: {work}")
    broker = Broker.start(work, args.broker_heap_mb)
    try:
        results = asyncio.run(run(args, broker))
    finally:
        broker.kafka.stop()
    results["health_interval_s"] = args.health_interval
    print()
    print(table(results))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"\nwritten to {args.json}")


if __name__ == "__main__":
    main()

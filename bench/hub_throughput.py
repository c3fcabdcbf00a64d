"""Benchmark: device events through the hub (rules -> alerts -> routing -> dispatch) on this machine.

Measures, on the same broker and in the same run, a baseline (a bare aiokafka consume -> produce
passthrough, no validation, no state) and real ``tilik hub worker`` processes, taking turns:

- burst capacity: events offered as fast as the producer goes, timed from the first send to the
  last output record. A burst is sized to last at least ``--burst-seconds`` (10 s) for the
  target measured, from that target's warm-up throughput, and never less than ``--events``
  (10,000), so one slow second cannot swing the ratio;
- latency, event produced -> output produced (record timestamps), p50/p99: for the burst's
  alerting events, and at city load: ``--cameras`` cameras each reporting an analytics event
  every ``--per-camera-interval`` seconds (20,000 x 0.1/s = 2,000 events/s) and a health result
  every ``--health-interval`` seconds (another 333/s, read by the hub's health agents), together
  about 2,300 records/s, for ``--duration`` seconds;
- CPU per burst event of the workers (the baseline: this benchmark's own process).

Two event mixes: ``worst`` (every event is a tamper report from a distinct camera: each opens an
alert and yields one dispatch) and ``typical`` (``--alerting-percent``, default 5: the rest are
vehicle counts, which the benchmark's one rule does not take: decoded, matched and passed over,
with no state and no output; each partition's last event of a burst alerts, so
its dispatch shows that everything before it was handled; latency is that of the alerts).

Everything is repeated ``--runs`` times (default 3); the summary gives the median and range of
the runs, and each ratio is of the same run's hub and baseline. ``--workers 2`` runs two workers
of one app id (their capacity together); ``--workers 1,2`` measures each count in every run and
gives the capacity of each against the first. ``--worker-cpus 0.5`` caps each worker at half a
core (``cpu_caps.py``), so every count gets the same CPU per worker and the capacity ratio is
the hub's scaling, not what the broker and the load generator leave of the machine's cores.
``--duration 0`` measures bursts only. Each run, mix and count is measured on fresh workers (a
new app id), so no measurement includes work left from an earlier one.

    TILIK_BOOTSTRAP=127.0.0.1:9092 python bench/hub_throughput.py [--runs 3] [--workers 1]
    TILIK_BOOTSTRAP=127.0.0.1:9092 python bench/hub_throughput.py --workers 1,2 \
        --worker-cpus 0.5 --duration 0

Every client connects as the operator (``topics.connection``: the local admin, or an
``--insecure`` broker); the catalog is applied first, as a hub worker expects. The baseline reads
a topic of its own (``tilik-bench-passthrough-in``, partitioned like the events topic), so an
idle worker never sees the baseline's input and the baseline never sees the worker's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from cpu_caps import CpuCaps
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from hub.config import HubConfig
from hub.testing import WorkerProcess
from topics import codec, identity
from topics.admin import admin_client, apply_catalog
from topics.catalog import CAMERA_STATUS, DEVICE_EVENTS, all_topics, dispatch_spec
from topics.connection import connection_config
from topics.models import (
    Agency,
    CameraState,
    CameraStatus,
    DeviceEvent,
    EventAttributes,
    EventKind,
    EventSource,
)

AGENCY = "bench"
PASSTHROUGH_INPUT = "tilik-bench-passthrough-in"
PASSTHROUGH_TOPIC = "tilik-bench-passthrough"

RULES = """
version: 1
defaults: {resolve_after_s: 600, cooldown_s: 0, update_every_s: 0}
rules:
  - id: bench-tamper
    kind: instant
    category: tamper
    severity: critical
    title: Tamper (benchmark)
    events: [tamper]
"""

ROUTES = f"""
version: 1
agencies:
  - id: {AGENCY}
    name: Benchmark agency
fallback_agency: {AGENCY}
routes:
  - id: bench-security
    categories: [tamper]
    agency: {AGENCY}
"""


@dataclass
class Run:
    """One phase: send times of its alerting events (by camera id) and the outputs seen for them."""

    sent: dict[bytes, float] = field(default_factory=dict)
    seen: dict[bytes, float] = field(default_factory=dict)
    # Every event offered, alerting or not, and when the first one was sent.
    events: int = 0
    first_sent: float | None = None
    # CPU used by the process under test while it handled the run (burst only).
    cpu_s: float = 0.0

    def complete(self) -> bool:
        return len(self.seen) >= len(self.sent)

    def latencies_ms(self) -> list[float]:
        return [1000 * (self.seen[k] - self.sent[k]) for k in self.sent if k in self.seen]

    def throughput(self) -> float:
        if not self.seen or self.first_sent is None:
            return 0.0
        return self.events / (max(self.seen.values()) - self.first_sent)


class Output:
    """Collects output records (key -> append time) from the end offsets it had at start."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.runs: list[Run] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(**connection_config(self.bootstrap), group_id=None)
        await consumer.start()
        await consumer._client.force_metadata_update()
        tps = [
            TopicPartition(self.topic, p) for p in consumer.partitions_for_topic(self.topic) or ()
        ]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)
        self._task = asyncio.create_task(self._collect(consumer))

    async def _collect(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=100, max_records=5000)
                for records in batches.values():
                    for record in records:
                        for run in self.runs:
                            if record.key in run.sent and record.key not in run.seen:
                                run.seen[record.key] = record.timestamp / 1000
        finally:
            await consumer.stop()

    async def wait(self, run: Run, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not run.complete() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@dataclass(frozen=True)
class Payload:
    key: bytes
    value: bytes
    alerting: bool


def event(camera: str, kind: EventKind, at: datetime, vendor_topic: str, **attrs: object) -> bytes:
    device_event = DeviceEvent(
        event_id=identity.event_id(camera_id=camera, vendor_topic=vendor_topic, device_time=at),
        camera_id=camera,
        kind=kind,
        device_time=at,
        received_at=at,
        source=EventSource(connector="bench", device_id="dev-bench", vendor_topic=vendor_topic),
        attributes=EventAttributes.model_validate(attrs),
    )
    return codec.encode(DEVICE_EVENTS, device_event)


def tamper(tag: str, index: int, at: datetime) -> Payload:
    camera = identity.camera_id(vendor="bench", serial=f"{tag}-t{index}")
    return Payload(camera.encode(), event(camera, EventKind.TAMPER, at, "tamper"), True)


def payloads(
    count: int, tag: str, alerting_percent: float, sentinels: bool = True
) -> list[Payload]:
    """``count`` events, ``alerting_percent`` of them tamper reports, the rest vehicle counts.

    Vehicle counts come from a tenth as many cameras as events, so window state accumulates per
    camera. With a mix and ``sentinels``, each partition ends with a tamper report (see the module
    docstring): a burst needs them to show it was handled whole. Paced load goes without: sent
    together as the load stops, they would be a twentieth of the typical mix's alerts, and their
    wait for a consumer's next fetch round would be its p99.
    """
    now = datetime.now(UTC)
    every = round(100 / alerting_percent) if alerting_percent > 0 else 0
    cameras = [
        identity.camera_id(vendor="bench", serial=f"{tag}-v{i}") for i in range(max(1, count // 10))
    ]
    out: list[Payload] = []
    for i in range(count):
        if every and i % every == every - 1:
            out.append(tamper(tag, i, now))
        else:
            camera = cameras[i % len(cameras)]
            at = now + timedelta(microseconds=i)
            value = event(camera, EventKind.VEHICLE_COUNT, at, "vehicle", count=3 + i % 7)
            out.append(Payload(camera.encode(), value, False))
    if sentinels and alerting_percent < 100:
        out += partition_sentinels(tag, now)
    return out


def partition_sentinels(tag: str, at: datetime) -> list[Payload]:
    """One tamper report per events partition, keyed so the producer puts it there."""
    partitions = list(range(DEVICE_EVENTS.partitions))
    missing = set(partitions)
    sentinels: list[Payload] = []
    index = 0
    while missing:
        candidate = tamper(f"{tag}-end", index, at)
        partition = DefaultPartitioner()(candidate.key, partitions, partitions)
        if partition in missing:
            missing.discard(partition)
            sentinels.append(candidate)
        index += 1
    return sentinels


async def offer(
    producer: AIOKafkaProducer, topic: str, batch: list[Payload], run: Run, rate: float | None
) -> None:
    """Send the events: as fast as possible (``rate`` None) or paced at ``rate`` per second."""
    headers = codec.headers_for(DEVICE_EVENTS)
    futures = []
    start = time.monotonic()
    run.first_sent = time.time()
    run.events += len(batch)
    for index, payload in enumerate(batch):
        if rate is not None:
            due = start + index / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        if payload.alerting:
            run.sent[payload.key] = time.time()
        futures.append(await producer.send(topic, payload.value, key=payload.key, headers=headers))
    await asyncio.gather(*futures)


async def offer_statuses(
    producer: AIOKafkaProducer, cameras: int, rate: float, duration_s: float, tag: str
) -> int:
    """Health results of ``cameras`` cameras in turn, paced at ``rate`` per second."""
    headers = codec.headers_for(CAMERA_STATUS)
    ids = [identity.camera_id(vendor="bench", serial=f"{tag}-s{i}") for i in range(cameras)]
    futures = []
    start = time.monotonic()
    total = int(rate * duration_s)
    for index in range(total):
        delay = start + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        camera = ids[index % cameras]
        status = CameraStatus(
            camera_id=camera,
            state=CameraState.ONLINE,
            checked_at=datetime.now(UTC),
            latency_ms=12.0,
            connector="bench",
        )
        futures.append(
            await producer.send(
                CAMERA_STATUS.name,
                codec.encode(CAMERA_STATUS, status),
                key=camera.encode(),
                headers=headers,
            )
        )
    await asyncio.gather(*futures)
    return total


def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system) a process has used so far; 0 where /proc is not available."""
    path = Path(f"/proc/{pid if pid is not None else 'self'}/stat")
    if not path.exists():
        return 0.0
    fields = path.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Measured:
    """One target's figures for one mix in one run."""

    burst: Run
    paced: Run

    @property
    def throughput(self) -> float:
        return self.burst.throughput()

    @property
    def cpu_ms_per_event(self) -> float:
        return 1000 * self.burst.cpu_s / max(1, self.burst.events)


async def measure(
    bootstrap: str,
    input_topic: str,
    output_topic: str,
    options: argparse.Namespace,
    tag: str,
    alerting_percent: float,
    pids: list[int | None] | None = None,
    status_rate: float = 0.0,
) -> Measured:
    output = Output(bootstrap, output_topic)
    await output.start()
    producer = AIOKafkaProducer(**connection_config(bootstrap), acks="all", linger_ms=5)
    await producer.start()
    rate = options.cameras / options.per_camera_interval
    try:
        warm = Run()
        output.runs.append(warm)
        warm_events = payloads(options.warm_events, f"{tag}-warm", alerting_percent)
        await offer(producer, input_topic, warm_events, warm, None)
        await output.wait(warm, 120)
        # Long enough to last burst_seconds at the warm-up's pace (which a long burst rarely beats).
        size = max(options.events, int(1.2 * warm.throughput() * options.burst_seconds))
        burst_run, paced_run = Run(), Run()
        output.runs += [burst_run, paced_run]
        burst_events = payloads(size, f"{tag}-burst", alerting_percent)
        # CPU of the workers, or of this process (which runs the baseline).
        measured = pids or [None]
        cpu_before = sum(cpu_seconds(pid) for pid in measured)
        await offer(producer, input_topic, burst_events, burst_run, None)
        await output.wait(burst_run, 600)
        burst_run.cpu_s = sum(cpu_seconds(pid) for pid in measured) - cpu_before
        if options.duration <= 0:
            return Measured(burst_run, paced_run)  # bursts only: capacity, not city load
        paced_events = payloads(
            int(rate * options.duration), f"{tag}-paced", alerting_percent, sentinels=False
        )
        statuses = (
            asyncio.create_task(
                offer_statuses(
                    producer, options.cameras, status_rate, options.duration, f"{tag}-health"
                )
            )
            if status_rate > 0
            else None
        )
        await offer(producer, input_topic, paced_events, paced_run, rate)
        if statuses is not None:
            await statuses
        # A target slower than city load works off its backlog here, before the next phase.
        await output.wait(paced_run, 600)
        return Measured(burst_run, paced_run)
    finally:
        await producer.stop()
        await output.stop()


async def passthrough(bootstrap: str, ready: asyncio.Event) -> None:
    """The baseline: consume its input topic, produce each record unchanged to its output topic.

    It fetches as a worker does (``HubConfig``'s fetch batching), so neither waits on the broker
    longer than the other.
    """
    fetching = HubConfig.model_fields
    consumer = AIOKafkaConsumer(
        PASSTHROUGH_INPUT,
        **connection_config(bootstrap),
        group_id=f"bench-passthrough-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="latest",
        fetch_min_bytes=fetching["fetch_min_bytes"].default,
        fetch_max_wait_ms=fetching["fetch_max_wait_ms"].default,
    )
    producer = AIOKafkaProducer(**connection_config(bootstrap), acks="all", linger_ms=5)
    await consumer.start()
    await producer.start()
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)
        for tp in consumer.assignment():
            await consumer.position(tp)
        ready.set()
        while True:
            batches = await consumer.getmany(timeout_ms=100, max_records=5000)
            for records in batches.values():
                for record in records:
                    await producer.send(PASSTHROUGH_TOPIC, record.value, key=record.key)
    finally:
        await consumer.stop()
        await producer.stop()


@contextlib.asynccontextmanager
async def fresh_workers(
    bootstrap: str, app_id: str, count: int, tmp: Path, cpus: float = 0.0
) -> AsyncIterator[list[int | None]]:
    """``count`` workers of a new app id for one measurement (their pids), stopped after it.

    Fresh for each run and mix: workers kept from phase to phase spent later measurements on
    earlier phases' state (the worst mix's tens of thousands of open alerts, re-checked every
    minute and resolving ten minutes later). With ``cpus``, each worker is capped at that many
    cores (``cpu_caps.py``).
    """
    caps = CpuCaps.find() if cpus > 0 else None
    groups: list[Path] = []
    workers = [
        WorkerProcess(
            bootstrap,
            app_id,
            Path(tmp, f"{app_id}-{index}.log"),
            rules=Path(tmp, "rules.yaml"),
            routes=Path(tmp, "routes.yaml"),
            extra_args=["--from-latest"],
        )
        for index in range(count)
    ]
    try:
        for worker in workers:
            worker.start()
            if caps is not None and worker.process is not None:
                pid = worker.process.pid
                groups.append(caps.cap(pid, cpus, f"tilik-bench-{app_id}-{pid}"))
        for worker in workers:
            await worker.wait_ready(180)
        yield [w.process.pid for w in workers if w.process is not None]
    finally:
        for worker in workers:
            worker.stop()
        for group in groups:
            CpuCaps.release(group)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass(frozen=True)
class Figures:
    """What one target did in one run, for the summary."""

    throughput: float
    burst_p50: float
    burst_p99: float
    paced_p50: float
    paced_p99: float
    cpu_ms: float
    missing: int

    @classmethod
    def of(cls, measured: Measured) -> Figures:
        burst, paced = measured.burst.latencies_ms(), measured.paced.latencies_ms()
        return cls(
            throughput=measured.throughput,
            burst_p50=percentile(burst, 0.5),
            burst_p99=percentile(burst, 0.99),
            paced_p50=percentile(paced, 0.5),
            paced_p99=percentile(paced, 0.99),
            cpu_ms=measured.cpu_ms_per_event,
            missing=len(measured.paced.sent) - len(paced) + len(measured.burst.sent) - len(burst),
        )


def spread(values: list[float], digits: int = 0) -> str:
    """Median and range: ``3,208 (1,967-3,478)``; ``-`` where nothing was measured (no samples)."""
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "-"
    fmt = f"{{:,.{digits}f}}"
    median = statistics.median(values)
    return f"{fmt.format(median)} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def report(name: str, base: list[Figures], hub: list[Figures], rate: float, workers: int) -> None:
    ratios = [h.throughput / b.throughput for h, b in zip(hub, base, strict=True)]
    print(f"-- {name} mix, {len(hub)} runs, {workers} worker(s): median (range)")
    for label, runs in (("passthrough", base), ("hub", hub)):
        print(
            f"{label:<12} burst {spread([r.throughput for r in runs])} events/s"
            f" | burst p50 {spread([r.burst_p50 for r in runs])} ms"
            f" p99 {spread([r.burst_p99 for r in runs])} ms"
            f" | {rate:,.0f}/s p50 {spread([r.paced_p50 for r in runs])} ms"
            f" p99 {spread([r.paced_p99 for r in runs])} ms"
            f" | CPU {spread([r.cpu_ms for r in runs], 3)} ms/event"
            f" | missing {sum(r.missing for r in runs)}"
        )
    print(f"ratio hub/passthrough burst: {spread(ratios, 2)}")
    print(
        f"| {name} | {workers} | {spread([h.throughput for h in hub])} "
        f"| {spread([b.throughput for b in base])} | {spread(ratios, 2)} "
        f"| {spread([h.burst_p50 for h in hub])} / {spread([h.burst_p99 for h in hub])} "
        f"| {spread([h.paced_p50 for h in hub])} / {spread([h.paced_p99 for h in hub])} "
        f"| {spread([h.cpu_ms for h in hub], 2)} |"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default=os.environ.get("TILIK_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--events", type=int, default=10_000, help="Smallest burst.")
    parser.add_argument(
        "--burst-seconds",
        type=float,
        default=10.0,
        help="Each burst is sized to last at least this long for the target measured.",
    )
    parser.add_argument("--warm-events", type=int, default=3000)
    parser.add_argument("--cameras", type=int, default=20_000)
    parser.add_argument(
        "--per-camera-interval",
        type=float,
        default=10.0,
        help="Seconds between one camera's analytics events (city load: 10).",
    )
    parser.add_argument(
        "--duration", type=float, default=15.0, help="Seconds of paced load (0: bursts only)."
    )
    parser.add_argument(
        "--alerting-percent",
        type=float,
        default=5.0,
        help="Share of alerting events in the typical mix.",
    )
    parser.add_argument("--mixes", default="typical,worst", help="Comma-separated: worst, typical.")
    parser.add_argument(
        "--health-interval",
        type=float,
        default=60.0,
        help="While paced, every camera also reports a health result this often (0: none).",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--workers",
        default="1",
        help="Hub workers of one app id; comma-separated counts (1,2) measure each in every run,"
        " and the summary gives each count's capacity against the first's.",
    )
    parser.add_argument(
        "--worker-cpus",
        type=float,
        default=0.0,
        help="Cap each worker at this many cores (a cgroup each; Linux, needs root): the same"
        " CPU per worker whatever the count, so the counts compare the hub's scaling.",
    )
    args = parser.parse_args()
    counts = [int(c) for c in args.workers.split(",")]
    rate = args.cameras / args.per_camera_interval
    status_rate = args.cameras / args.health_interval if args.health_interval > 0 else 0.0
    tag = uuid.uuid4().hex[:8]
    mixes = {"worst": 100.0, "typical": args.alerting_percent}
    chosen = {name: mixes[name] for name in args.mixes.split(",")}

    # The catalog, and the benchmark agency's dispatch and acknowledgement topics.
    apply_catalog(all_topics([a.value for a in Agency] + [AGENCY]), bootstrap=args.bootstrap)
    with admin_client(args.bootstrap) as admin:
        for name in (PASSTHROUGH_INPUT, PASSTHROUGH_TOPIC):
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics([NewTopic(name, DEVICE_EVENTS.partitions, 1)])

    print(
        f"city load: {args.cameras} cameras x 1 event / {args.per_camera_interval:g} s"
        f" = {rate:,.0f} events/s, plus {status_rate:,.0f} health results/s"
        f" ({rate + status_rate:,.0f} records/s) for {args.duration:g} s"
    )
    print(
        f"bursts: at least {args.events:,} events and {args.burst_seconds:g} s; runs: {args.runs};"
        f" workers: {args.workers}"
        + (f" (each capped at {args.worker_cpus:g} cores)" if args.worker_cpus > 0 else "")
        + "; mixes: "
        + ", ".join(f"{name} ({percent:g}% of events alert)" for name, percent in chosen.items())
    )

    base: dict[str, list[Figures]] = {name: [] for name in chosen}
    hub: dict[tuple[str, int], list[Figures]] = {(n, c): [] for n in chosen for c in counts}
    ready = asyncio.Event()
    baseline_task = asyncio.create_task(passthrough(args.bootstrap, ready))
    await asyncio.wait_for(ready.wait(), 60)
    with tempfile.TemporaryDirectory() as tmp:
        rules, routes = Path(tmp, "rules.yaml"), Path(tmp, "routes.yaml")
        rules.write_text(RULES)
        routes.write_text(ROUTES)
        for run in range(args.runs):
            for name, percent in chosen.items():
                measured_base = await measure(
                    args.bootstrap,
                    PASSTHROUGH_INPUT,
                    PASSTHROUGH_TOPIC,
                    args,
                    f"{tag}-base-{name}-{run}",
                    percent,
                )
                base[name].append(Figures.of(measured_base))
                b = base[name][-1]
                for count in counts:
                    app_id = f"tilik-hub-bench-{tag}-{name}-{run}-{count}"
                    async with fresh_workers(
                        args.bootstrap, app_id, count, Path(tmp), args.worker_cpus
                    ) as pids:
                        measured_hub = await measure(
                            args.bootstrap,
                            DEVICE_EVENTS.name,
                            dispatch_spec(AGENCY).name,
                            args,
                            f"{tag}-hub-{name}-{run}-{count}",
                            percent,
                            pids=pids,
                            status_rate=status_rate,
                        )
                    hub[name, count].append(Figures.of(measured_hub))
                    h = hub[name, count][-1]
                    print(
                        f"run {run + 1} {name}: passthrough {b.throughput:,.0f}/s"
                        f" ({measured_base.burst.events:,} events), {count} worker(s)"
                        f" {h.throughput:,.0f}/s ({measured_hub.burst.events:,} events), ratio"
                        f" {h.throughput / b.throughput:.2f}; hub burst p50/p99"
                        f" {h.burst_p50:,.0f}/{h.burst_p99:,.0f} ms, {rate + status_rate:,.0f}/s"
                        f" p50/p99 {h.paced_p50:,.0f}/{h.paced_p99:,.0f} ms"
                        f" (passthrough {b.paced_p50:,.0f}/{b.paced_p99:,.0f} ms),"
                        f" CPU {h.cpu_ms:.3f} ms/event, missing {h.missing}",
                        flush=True,
                    )
    baseline_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await baseline_task

    print(
        "| mix | workers | hub burst /s | passthrough burst /s | ratio | burst p50 / p99 ms "
        "| city-load p50 / p99 ms | CPU ms/event |"
    )
    for name in chosen:
        for count in counts:
            report(name, base[name], hub[name, count], rate + status_rate, count)
    for name in chosen:
        first = hub[name, counts[0]]
        for count in counts[1:]:
            scaling = [
                more.throughput / fewer.throughput
                for more, fewer in zip(hub[name, count], first, strict=True)
            ]
            print(
                f"capacity of {count} workers / {counts[0]} ({name} mix, same runs):"
                f" {spread(scaling, 2)} (linear: {count / counts[0]:g})"
            )


if __name__ == "__main__":
    asyncio.run(main())

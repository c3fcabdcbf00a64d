"""Benchmark: device events through the hub (rules -> alerts -> routing -> dispatch) on this machine.

Measures, on the same broker and input topic, first a baseline (a bare aiokafka consume -> produce
passthrough, no validation, no state), then a real ``tilik hub worker`` process:

- throughput: a burst of events, timed from the first send to the last output record;
- latency: event produced -> output produced (record timestamps), p50/p99, at a fixed offered rate.
- CPU per burst event of the process under test (the hub worker; for the baseline, this
  benchmark's own process, which runs the passthrough): steadier than throughput on a shared machine.

Two event mixes, each measured for both the baseline and the hub:

- ``worst``: every event is a tamper report from a distinct camera, so each one opens an alert and
  yields one dispatch (state written, output confirmed before state);
- ``typical`` (``--alerting-percent``, default 5): most events are vehicle counts that a
  window rule keeps state for without alerting, as a city's cameras mostly report; the rest are
  tamper reports. Throughput counts every event: each partition's last event is an alerting one,
  so its dispatch shows that everything before it was handled. Latency is that of the alerts.

Offered rate for the latency phase: ``--cameras`` cameras, each reporting one analytics event
every ``--per-camera-interval`` seconds (default 20,000 cameras, one event a minute: 333 events/s)
and one health result every ``--health-interval`` seconds (default a minute: another 333/s, which
the hub's health agents consume; the passthrough does not read them).

    TILIK_BOOTSTRAP=127.0.0.1:9092 python bench/hub_throughput.py [--events 3000] [--duration 15]

Every client connects as the operator (``topics.connection``: the local admin, or an
``--insecure`` broker); the catalog is applied first, as a hub worker expects.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from hub.testing import WorkerProcess
from topics import codec, identity
from topics.admin import admin_client, apply_catalog
from topics.catalog import CAMERA_STATUS, DEVICE_EVENTS, dispatch_spec
from topics.connection import connection_config
from topics.models import (
    CameraState,
    CameraStatus,
    DeviceEvent,
    EventAttributes,
    EventKind,
    EventSource,
)

AGENCY = "bench"
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


def payloads(count: int, tag: str, alerting_percent: float) -> list[Payload]:
    """``count`` events, ``alerting_percent`` of them tamper reports, the rest vehicle counts.

    Vehicle counts come from a tenth as many cameras as events, so window state accumulates per
    camera. With a mix, each partition ends with a tamper report (see the module docstring).
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
    if alerting_percent < 100:
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
    producer: AIOKafkaProducer, batch: list[Payload], run: Run, rate: float | None
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
        futures.append(
            await producer.send(DEVICE_EVENTS.name, payload.value, key=payload.key, headers=headers)
        )
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


async def measure(
    bootstrap: str,
    output_topic: str,
    burst: int,
    rate: float,
    duration_s: float,
    tag: str,
    alerting_percent: float,
    pid: int | None = None,
    status_rate: float = 0.0,
    cameras: int = 1,
) -> tuple[Run, Run]:
    output = Output(bootstrap, output_topic)
    await output.start()
    producer = AIOKafkaProducer(**connection_config(bootstrap), acks="all", linger_ms=5)
    await producer.start()
    try:
        warm = Run()
        output.runs.append(warm)
        await offer(producer, payloads(200, f"{tag}-warm", alerting_percent), warm, None)
        await output.wait(warm, 60)
        burst_run, paced_run = Run(), Run()
        output.runs += [burst_run, paced_run]
        burst_events = payloads(burst, f"{tag}-burst", alerting_percent)
        cpu_before = cpu_seconds(pid)
        await offer(producer, burst_events, burst_run, None)
        await output.wait(burst_run, 120)
        burst_run.cpu_s = cpu_seconds(pid) - cpu_before
        paced_events = payloads(int(rate * duration_s), f"{tag}-paced", alerting_percent)
        statuses = (
            asyncio.create_task(
                offer_statuses(producer, cameras, status_rate, duration_s, f"{tag}-health")
            )
            if status_rate > 0
            else None
        )
        await offer(producer, paced_events, paced_run, rate)
        if statuses is not None:
            await statuses
        await output.wait(paced_run, 60)
        return burst_run, paced_run
    finally:
        await producer.stop()
        await output.stop()


async def passthrough(bootstrap: str, ready: asyncio.Event) -> None:
    """The baseline: consume the events topic, produce each record unchanged to the output topic."""
    consumer = AIOKafkaConsumer(
        DEVICE_EVENTS.name,
        **connection_config(bootstrap),
        group_id=f"bench-passthrough-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="latest",
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


def summary(name: str, burst: Run, paced: Run) -> tuple[float, float, float]:
    latencies = sorted(paced.latencies_ms())
    p50 = statistics.median(latencies) if latencies else float("nan")
    p99 = (
        latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        if latencies
        else float("nan")
    )
    lost = len(paced.sent) - len(latencies) + len(burst.sent) - len(burst.seen)
    print(
        f"{name:<12} burst {burst.throughput():8.0f} events/s   "
        f"paced p50 {p50:7.1f} ms  p99 {p99:7.1f} ms   missing {lost}   "
        f"burst CPU {1000 * burst.cpu_s / max(1, burst.events):.3f} ms/event"
    )
    if paced.first_sent is not None and latencies:
        slowest = sorted(
            (
                (1000 * (paced.seen[k] - paced.sent[k]), paced.sent[k] - paced.first_sent)
                for k in paced.sent
                if k in paced.seen
            ),
            reverse=True,
        )[:5]
        print(f"{'':<12} slowest: " + ", ".join(f"{ms:.0f} ms at {at:.1f} s" for ms, at in slowest))
    return burst.throughput(), p50, p99


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default=os.environ.get("TILIK_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--events", type=int, default=3000, help="Burst size for throughput.")
    parser.add_argument("--cameras", type=int, default=20_000)
    parser.add_argument(
        "--per-camera-interval",
        type=float,
        default=60.0,
        help="Seconds between one camera's events.",
    )
    parser.add_argument("--duration", type=float, default=15.0, help="Seconds of paced load.")
    parser.add_argument(
        "--alerting-percent",
        type=float,
        default=5.0,
        help="Share of alerting events in the typical mix.",
    )
    parser.add_argument("--mixes", default="worst,typical", help="Comma-separated: worst, typical.")
    parser.add_argument(
        "--health-interval",
        type=float,
        default=60.0,
        help="While paced, every camera also reports a health result this often (0: none).",
    )
    args = parser.parse_args()
    rate = args.cameras / args.per_camera_interval
    status_rate = args.cameras / args.health_interval if args.health_interval > 0 else 0.0
    tag = uuid.uuid4().hex[:8]
    mixes = {"worst": 100.0, "typical": args.alerting_percent}
    chosen = {name: mixes[name] for name in args.mixes.split(",")}

    apply_catalog(bootstrap=args.bootstrap)
    with admin_client(args.bootstrap) as admin, contextlib.suppress(TopicAlreadyExistsError):
        admin.create_topics([NewTopic(PASSTHROUGH_TOPIC, dispatch_spec(AGENCY).partitions, 1)])

    print(
        f"offered load: {args.cameras} cameras x 1 event / {args.per_camera_interval:g} s"
        f" = {rate:.0f} events/s, plus {status_rate:.0f} health results/s while paced"
    )
    print(
        f"burst: {args.events} events; paced: {args.duration:g} s; mixes: "
        + ", ".join(f"{name} ({percent:g}% of events alert)" for name, percent in chosen.items())
    )

    base: dict[str, tuple[Run, Run]] = {}
    ready = asyncio.Event()
    baseline_task = asyncio.create_task(passthrough(args.bootstrap, ready))
    await asyncio.wait_for(ready.wait(), 60)
    for name, percent in chosen.items():
        base[name] = await measure(
            args.bootstrap,
            PASSTHROUGH_TOPIC,
            args.events,
            rate,
            args.duration,
            f"{tag}-base-{name}",
            percent,
            status_rate=status_rate,
            cameras=args.cameras,
        )
    baseline_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await baseline_task

    hub: dict[str, tuple[Run, Run]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        rules, routes = Path(tmp, "rules.yaml"), Path(tmp, "routes.yaml")
        rules.write_text(RULES)
        routes.write_text(ROUTES)
        worker = WorkerProcess(
            args.bootstrap,
            f"tilik-hub-bench-{tag}",
            Path(tmp, "worker.log"),
            rules=rules,
            routes=routes,
            extra_args=["--from-latest"],
        )
        worker.start()
        try:
            await worker.wait_ready(120)
            for name, percent in chosen.items():
                hub[name] = await measure(
                    args.bootstrap,
                    dispatch_spec(AGENCY).name,
                    args.events,
                    rate,
                    args.duration,
                    f"{tag}-hub-{name}",
                    percent,
                    pid=worker.process.pid if worker.process is not None else None,
                    status_rate=status_rate,
                    cameras=args.cameras,
                )
        finally:
            worker.stop()

    for name in chosen:
        print(f"-- {name} mix")
        base_tp, _, _ = summary("passthrough", *base[name])
        hub_tp, _, hub_p99 = summary("hub", *hub[name])
        ratio = hub_tp / base_tp if base_tp else float("nan")
        print(f"ratio hub/passthrough throughput: {ratio:.2f} (goal >= 0.50)")
        print(f"hub alert p99 at {rate:.0f} events/s: {hub_p99:.1f} ms (goal < 250 ms)")


if __name__ == "__main__":
    asyncio.run(main())

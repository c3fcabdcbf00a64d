"""ONVIF connector at fleet scale: onboarding, one health cycle and event parsing, each against a
sequential baseline (the same work one camera at a time) measured in the same run.

The simulated fleet runs in a separate process (``tilik simulate onvif``), so the simulator and
the connector share the machine's cores as a real deployment's hub and network would not; the
numbers are a floor. Rerun:

    .venv/bin/python bench/onvif_onboard.py --cameras 2000      # a fresh local broker
    .venv/bin/python bench/onvif_onboard.py --cameras 2000 --bootstrap 127.0.0.1:9092

Phases (N cameras):
1. onboarding: probe every camera with the one probe, raw SOAP (clock, identity, services, scopes,
   MAC, profiles, stream and snapshot URIs), with bounded concurrency, and register them through
   the onboarding pipeline of ``tilik discover onvif`` (read the registry, merge, publish, audit),
   against the same pipeline one camera at a time (on ``--baseline-sample`` cameras, as a rate);
   the 20,000-camera projection is the concurrent rate's (aim: 120 s).
2. health: one cycle of authenticated checks over every camera, against one at a time.
3. events: PullPoint subscriptions on ``--event-cameras`` cameras pulled concurrently for a few
   seconds, against the same subscriptions pulled one after another; plus the parser alone on
   captured PullMessages replies (CPU only).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

from connectors.onvif.device import OnvifDevice
from connectors.onvif.event_topics import TopicParser, notifications
from connectors.onvif.health import HealthTarget, check_fleet
from connectors.onvif.onboard_run import OnboardRequest, run_onboarding
from connectors.onvif.probe import ProbeReport
from connectors.onvif.pullpoint import PullPointSettings, PullPointSubscription
from connectors.onvif.soap import SoapTransport
from connectors.sdk.http import HttpLimits
from connectors.sdk.netpolicy import ProbePolicy
from connectors.sdk.secrets import Credentials
from connectors.sdk.xmlsafe import parse_device_xml
from core.logconfig import configure_logging
from topics.admin import apply_catalog
from topics.catalog import AUDIT, CAMERA_REGISTRY, CAMERA_REMOVALS, DEAD_LETTERS
from topics.client import CatalogProducer
from topics.models import CameraState

PASSWORD = "bench-onvif-password"
PASSWORD_ENV = "TILIK_CAMERA_SECRET_BENCH_ONVIF"
REF = f"admin@env:{PASSWORD_ENV}"


async def start_simulator(
    cameras: int, event_rate: float, latency_ms: float = 0.0
) -> tuple[asyncio.subprocess.Process, list[str]]:
    tilik = str(Path(sys.executable).parent / "tilik")
    process = await asyncio.create_subprocess_exec(
        tilik, "simulate", "onvif", "--cameras", str(cameras), "--event-rate", str(event_rate),
        "--seed", "7",
        # Every answer delayed by the given round trip: cameras sit behind real networks.
        *(["--faults", f"slow=1,slow_seconds={latency_ms / 1000}"] if latency_ms else []),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "TILIK_SIM_ONVIF_PASSWORD": PASSWORD, "TILIK_LOG_LEVEL": "warning"},
    )  # fmt: skip
    assert process.stdout is not None
    addresses: list[str] = []
    while len(addresses) < cameras:
        line = await asyncio.wait_for(process.stdout.readline(), 300)
        if not line:
            raise RuntimeError("the simulator exited before listing its cameras")
        text = line.decode().strip()
        if text and ":" in text and text[0].isdigit():
            addresses.append(text)
    return process, addresses


def fresh_broker(stack: contextlib.ExitStack) -> str:
    """A local single-node broker without authentication for this run, stopped with ``stack``
    (and with this process, however it ends); its bootstrap address."""
    from core.localkafka import LocalKafka
    from core.settings import get_settings

    scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tilik-bench-")))
    broker = LocalKafka(scratch, nodes=1, port=0, insecure=True, stop_with_this_process=True)
    bootstrap = broker.start()
    stack.callback(broker.stop)
    os.environ.pop("TILIK_CLIENT_CONFIG", None)
    os.environ["TILIK_BOOTSTRAP"] = bootstrap
    get_settings.cache_clear()
    return bootstrap


def cpu_seconds(pid: int | None = None, *, children: bool = False) -> float:
    """User+system CPU of this process, or of ``pid`` (Linux /proc), to show which side is the limit.

    ``children``: of this process's children that ended (the probe workers of a run with
    ``--processes``; the simulator and the broker end only after the measurements)."""
    if pid is None:
        times = os.times()
        if children:
            return times.children_user + times.children_system
        return times.user + times.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    def __init__(self, simulator_pid: int) -> None:
        self.simulator_pid = simulator_pid
        self.mark()

    def mark(self) -> None:
        self._ours, self._workers, self._theirs, self._wall = (
            cpu_seconds(),
            cpu_seconds(children=True),
            cpu_seconds(self.simulator_pid),
            time.perf_counter(),
        )

    def taken(self) -> tuple[float, float]:
        """CPU seconds of the connector (this process and its probe workers) and of the
        simulator since the mark."""
        return self.connector() + self.workers(), cpu_seconds(self.simulator_pid) - self._theirs

    def connector(self) -> float:
        return cpu_seconds() - self._ours

    def workers(self) -> float:
        return cpu_seconds(children=True) - self._workers

    def report(self) -> None:
        wall = time.perf_counter() - self._wall
        ours, theirs = self.taken()
        print(
            f"  CPU over the phase: connector {ours / wall:.0%} of a core, simulator {theirs / wall:.0%}"
        )
        self.mark()


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def line(label: str, count: int, seconds: float, unit: str = "cameras") -> None:
    print(
        f"  {label:<34} {count:6d} {unit:<8} {seconds:8.2f} s  {rate(count, seconds):9.1f} {unit}/s"
    )


def cpu_projection(
    cameras: int, main_s: float, workers_s: float, processes: int, simulator_s: float, count: int
) -> None:
    """What the CPU the concurrent onboarding took projects to, whatever else the machine runs:
    each process is one thread, so 20,000 cameras take at least the busiest process's CPU (the
    onboarding process, a probe worker, the simulator), and at least all of their CPU spread
    over the machine's cores."""
    main, theirs = main_s / count, simulator_s / count
    worker = workers_s / count / processes if processes > 1 else 0.0
    ours = main + worker * processes
    floor = max(main, worker, theirs, (ours + theirs) / (os.cpu_count() or 1))
    split = (
        f" ({main * 1000:.2f} ms onboarding process, {worker * 1000:.2f} ms each of "
        f"{processes} probe workers)"
        if processes > 1
        else ""
    )
    print(
        f"  CPU per camera: connector {ours * 1000:.2f} ms{split}, simulator "
        f"{theirs * 1000:.2f} ms; 20,000 cameras projected from CPU alone (an otherwise idle "
        f"{os.cpu_count()}-core machine): {cameras * floor:.0f} s"
    )


async def onboarding(
    transport: SoapTransport,
    producer: CatalogProducer,
    addresses: list[str],
    concurrency: int,
    sample: int,
    bootstrap: str,
    meter: CpuMeter,
    processes: int = 1,
) -> tuple[ProbeReport, float, float]:
    """The onboarding pipeline of ``tilik discover onvif`` (probe, merge, publish, audit)."""

    def request(hosts: list[str], limit: int, processes: int) -> OnboardRequest:
        return OnboardRequest(
            policy=ProbePolicy.default(),
            hosts=hosts,
            credential_ref=REF,
            concurrency=limit,
            processes=processes,
            timeout_s=transport.limits.timeout_s,
            bootstrap=bootstrap,
            actor="bench",
        )

    started = time.perf_counter()
    before = meter.connector(), meter.workers(), meter.taken()[1]
    outcome = await run_onboarding(
        request(addresses, concurrency, processes), transport=transport, producer=producer
    )
    report = outcome.report
    concurrent_s = time.perf_counter() - started
    after = meter.connector(), meter.workers(), meter.taken()[1]
    line(
        f"concurrent (limit {concurrency}, {processes} process(es))",
        len(report.records),
        concurrent_s,
    )
    cpu_projection(
        20000,
        after[0] - before[0],
        after[1] - before[1],
        processes,
        after[2] - before[2],
        len(addresses),
    )

    started = time.perf_counter()
    await run_onboarding(request(addresses[:sample], 1, 1), transport=transport, producer=producer)
    sequential_s = time.perf_counter() - started
    line("sequential baseline", sample, sequential_s)
    if report.failures:
        print(f"  ({len(report.failures)} failures, first: {report.failures[0].reason})")
    return report, rate(len(report.records), concurrent_s), rate(sample, sequential_s)


async def health(
    transport: SoapTransport, report: ProbeReport, concurrency: int, sample: int
) -> tuple[float, float, float]:
    credentials = Credentials.from_ref(REF)
    targets = [
        HealthTarget(
            r.camera_id, r.address, credentials, report.snapshots[r.camera_id].clock_offset
        )
        for r in report.records
    ]
    started = time.perf_counter()
    statuses = await check_fleet(transport, targets, concurrency=concurrency)
    cycle_s = time.perf_counter() - started
    online = sum(s.state is CameraState.ONLINE for s in statuses)
    line(f"concurrent cycle (limit {concurrency})", len(targets), cycle_s)
    print(f"  ({online} online of {len(statuses)})")
    started = time.perf_counter()
    await check_fleet(transport, targets[:sample], concurrency=1)
    sequential_s = time.perf_counter() - started
    line("sequential baseline", sample, sequential_s)
    return cycle_s, rate(len(targets), cycle_s), rate(sample, sequential_s)


async def pull_for(
    subscriptions: list[PullPointSubscription],
    parsers: list[TopicParser],
    seconds: float,
    together: bool,
) -> int:
    parsed = 0
    deadline = time.perf_counter() + seconds

    async def drain(index: int) -> None:
        nonlocal parsed
        batch = await subscriptions[index].pull()
        for message in batch.messages:
            parsers[index].parse(message)
            parsed += 1

    while time.perf_counter() < deadline:
        if together:
            await asyncio.gather(*(drain(i) for i in range(len(subscriptions))))
        else:
            for i in range(len(subscriptions)):
                await drain(i)
                if time.perf_counter() >= deadline:
                    break
    return parsed


async def events(
    transport: SoapTransport, report: ProbeReport, cameras: int, seconds: float
) -> tuple[float, float]:
    credentials = Credentials.from_ref(REF)
    records = report.records[:cameras]
    subscriptions, parsers = [], []
    for record in records:
        snapshot = report.snapshots[record.camera_id]
        device = OnvifDevice(
            transport, record.address, credentials, clock_offset=snapshot.clock_offset
        )
        assert snapshot.services.events is not None
        subscription = PullPointSubscription(
            device, snapshot.services.events, PullPointSettings(pull_timeout_s=1)
        )
        subscriptions.append(subscription)
        parsers.append(TopicParser(camera_id=record.camera_id, device_id=record.device_id))
    await asyncio.gather(*(s.create() for s in subscriptions))
    await pull_for(subscriptions, parsers, 0.5, together=True)  # drop the Initialized backlog
    together = await pull_for(subscriptions, parsers, seconds, together=True)
    line(f"concurrent pulls ({len(records)} cameras)", together, seconds, "events")
    await pull_for(subscriptions, parsers, 0.5, together=True)
    alone = await pull_for(subscriptions, parsers, seconds, together=False)
    line("sequential baseline", alone, seconds, "events")
    await asyncio.gather(*(s.close() for s in subscriptions))
    return rate(together, seconds), rate(alone, seconds)


def parser_only(report: ProbeReport) -> float:
    record = report.records[0]
    parser = TopicParser(camera_id=record.camera_id, device_id=record.device_id)
    message = (
        '<wsnt:NotificationMessage xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:tt="http://www.onvif.org/ver10/schema">'
        "<wsnt:Topic>tns1:RuleEngine/CellMotionDetector/Motion</wsnt:Topic><wsnt:Message>"
        '<tt:Message UtcTime="2026-11-28T01:02:{s:02d}Z" PropertyOperation="Changed"><tt:Source>'
        '<tt:SimpleItem Name="VideoSourceConfigurationToken" Value="VideoSourceToken"/>'
        '<tt:SimpleItem Name="Rule" Value="MyMotionDetectorRule"/></tt:Source><tt:Data>'
        '<tt:SimpleItem Name="IsMotion" Value="true"/></tt:Data></tt:Message></wsnt:Message>'
        "</wsnt:NotificationMessage>"
    )
    reply = (
        '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><PullMessagesResponse>'
        + "".join(message.replace("{s:02d}", f"{i % 60:02d}") for i in range(100))
        + "</PullMessagesResponse></env:Body></env:Envelope>"
    ).encode()
    started = time.perf_counter()
    parsed = 0
    while time.perf_counter() - started < 2.0:
        for notification in notifications(parse_device_xml(reply)):
            parser.parse(notification)
            parsed += 1
    elapsed = time.perf_counter() - started
    line("parser only (CPU, 100-message replies)", parsed, elapsed, "events")
    return rate(parsed, elapsed)


async def main(args: argparse.Namespace) -> None:
    with contextlib.ExitStack() as stack:
        if args.bootstrap is None:
            args.bootstrap = fresh_broker(stack)
        await measure(args)


async def measure(args: argparse.Namespace) -> None:
    os.environ[PASSWORD_ENV] = PASSWORD
    configure_logging(level="warning", force=True)
    sample = min(args.cameras, args.baseline_sample)
    print(f"ONVIF connector benchmark: {args.cameras} simulated cameras in a separate process")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    if args.latency_ms:
        print(f"every simulated camera answers after {args.latency_ms:g} ms (network round trip)")
    started = time.perf_counter()
    simulator, addresses = await start_simulator(args.cameras, args.event_rate, args.latency_ms)
    print(f"simulator up in {time.perf_counter() - started:.1f} s")
    apply_catalog(
        [CAMERA_REGISTRY, CAMERA_REMOVALS, AUDIT, DEAD_LETTERS],
        bootstrap=args.bootstrap,
        replication_factor=1,
    )
    limits = HttpLimits(timeout_s=30, max_connections=args.concurrency * 2)
    try:
        async with (
            SoapTransport(limits) as transport,
            CatalogProducer(args.bootstrap, client_id="bench-onvif") as producer,
        ):
            meter = CpuMeter(simulator.pid)
            print("1. onboarding: probing (raw SOAP) + registering")
            report, fast, slow = await onboarding(
                transport,
                producer,
                addresses,
                args.concurrency,
                sample,
                args.bootstrap,
                meter,
                args.processes,
            )
            print(
                f"  ratio concurrent/sequential: {fast / slow:.1f}x; 20,000 cameras projected at "
                f"{20000 / fast:.0f} s (sequential baseline: {20000 / slow:.0f} s; aim: 120 s)"
            )
            meter.report()
            print("2. health: one cycle")
            _, fast, slow = await health(transport, report, args.health_concurrency, sample)
            print(
                f"  ratio concurrent/sequential: {fast / slow:.1f}x; a 20,000-camera cycle would take {20000 / fast:.1f} s (aim: 60 s)"
            )
            meter.report()
            print("3. events")
            fast, slow = await events(
                transport, report, min(args.event_cameras, len(report.records)), args.event_seconds
            )
            print(f"  ratio concurrent/sequential: {fast / slow:.1f}x")
            meter.report()
            parser_only(report)
            if not args.keep:
                # The simulated cameras vanish with this run: revoke them, so no watcher of the
                # registry keeps checking thousands of dead addresses.
                revoked = [
                    await producer.enqueue(CAMERA_REGISTRY, None, key=r.camera_id)
                    for r in report.records
                ]
                await asyncio.gather(*revoked)
    finally:
        simulator.terminate()
        await simulator.wait()
    print(f"load average {os.getloadavg()[0]:.1f} at the end (other processes share these cores)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=2000)
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("TILIK_BOOTSTRAP"),
        help="a running broker (default: TILIK_BOOTSTRAP, else a fresh local one)",
    )
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument(
        "--processes", type=int, default=1, help="processes probing devices (onboarding)"
    )
    parser.add_argument("--health-concurrency", type=int, default=512)
    parser.add_argument(
        "--baseline-sample",
        type=int,
        default=200,
        help="cameras the sequential baselines cover (compared as rates)",
    )
    parser.add_argument("--event-cameras", type=int, default=100)
    parser.add_argument(
        "--event-rate", type=float, default=20.0, help="events/s per subscribed simulated camera"
    )
    parser.add_argument("--event-seconds", type=float, default=5.0)
    parser.add_argument(
        "--keep", action="store_true", help="leave the simulated cameras in the registry"
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="delay every simulated answer (network RTT)"
    )
    asyncio.run(main(parser.parse_args()))

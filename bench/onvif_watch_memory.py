"""Memory and sockets per watched ONVIF camera: ``tilik connectors run onvif`` at 2,000 and 8,000
cameras, against the same process's empty baseline measured in the same run.

    .venv/bin/python bench/onvif_watch_memory.py --cameras 2000,8000
    .venv/bin/python bench/onvif_watch_memory.py --cameras 2000 --delivery pull   # PullPoint
    .venv/bin/python bench/onvif_watch_memory.py --cameras 2000 --tracemalloc 8   # where it goes

What runs, each in its own process:

- a Kafka broker (a fresh local one, unless ``--bootstrap`` names one);
- the simulated cameras, ``tilik simulate onvif`` with at most ``--per-simulator`` cameras per
  process (a process may open at most 20,000 files; a camera is a listening socket);
- the watcher, ``tilik connectors run onvif``, the process measured. With ``--delivery push``
  (the default) it is given ``TILIK_ONVIF_PUSH_URL`` and the cameras push their events to it;
  with ``pull`` every camera is watched through a PullPoint subscription.

Steps: every camera is probed and its record kept (by this process, before the watcher starts,
so none of that is in the watcher); the watcher starts with an empty registry and its resident
memory is sampled for ``--settle-s`` seconds: the baseline. Then the registry receives the first
step's cameras; once every one of them has published a status and an event (its subscription is
live) the watcher runs ``--steady-s`` more seconds through health rounds, renewals and events,
sampled every second: its steady memory is the mean of the second half of that window. The next
step adds cameras up to its count. Reported per step: steady resident memory, the increase over
the baseline per camera (aim: at most 20 KB), and the sockets the watcher holds (minimum, median,
maximum over the window, and over its baseline).

``--tracemalloc N`` traces the watcher's allocations (N frames) from the baseline on and prints,
per step, the largest allocation sites still alive, as bytes per camera (tracing makes the
watcher slower and bigger; its memory numbers are then not the ones to quote). Tracing starts at
the baseline, not at the watcher's start: the imports' million allocations would make every
snapshot minutes long on a busy machine, and only what came after the baseline is per camera.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiokafka import AIOKafkaConsumer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent))

from onvif_onboard import PASSWORD, PASSWORD_ENV, REF, fresh_broker

from connectors.onvif.probe import ProbeTarget, probe_many
from connectors.onvif.soap import SoapTransport
from connectors.sdk.http import HttpLimits
from core.logconfig import configure_logging
from core.orphans import ends_with_parent
from topics.admin import apply_catalog
from topics.catalog import CAMERA_REGISTRY, CAMERA_STATUS, DEVICE_EVENTS, all_topics
from topics.client import CatalogProducer
from topics.connection import connection_config
from topics.models import CameraRecord

TILIK = str(Path(sys.executable).parent / "tilik")
_PAGE = os.sysconf("SC_PAGE_SIZE")
TRACE_DIR_ENV = "TILIK_BENCH_TRACE_DIR"


# In a child: the kernel kills it when the benchmark dies, however the benchmark dies.
die_with_this_process = ends_with_parent(signal.SIGKILL)


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE


def sockets(pid: int) -> int:
    held = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            held += os.readlink(fd).startswith("socket:")
    return held


@dataclass
class Window:
    """Resident memory, sockets and watched devices sampled over a window."""

    rss: list[int]
    socks: list[int]
    devices: list[int]

    @property
    def steady_rss(self) -> float:
        return statistics.fmean(self.rss[len(self.rss) // 2 :])

    def socket_range(self) -> tuple[int, float, int]:
        return min(self.socks), statistics.median(self.socks), max(self.socks)


async def watched_devices(session: aiohttp.ClientSession, port: int) -> int:
    """The watcher's ``tilik_connector_devices`` gauge (-1 when it does not answer)."""
    try:
        async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
            for line in (await response.text()).splitlines():
                if line.startswith("tilik_connector_devices{"):
                    return int(float(line.rsplit(" ", 1)[1]))
    except aiohttp.ClientError:
        pass
    return -1


async def sample(pid: int, port: int, seconds: float) -> Window:
    window = Window([], [], [])
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            window.rss.append(rss_bytes(pid))
            window.socks.append(sockets(pid))
            window.devices.append(await watched_devices(session, port))
            await asyncio.sleep(1.0)
    return window


async def start_simulators(
    processes: list[asyncio.subprocess.Process], cameras: int, per_process: int, event_rate: float
) -> list[str]:
    addresses = []
    env = {**os.environ, "TILIK_SIM_ONVIF_PASSWORD": PASSWORD, "TILIK_LOG_LEVEL": "warning"}
    for index, start in enumerate(range(0, cameras, per_process)):
        count = min(per_process, cameras - start)
        process = await asyncio.create_subprocess_exec(
            TILIK, "simulate", "onvif", "--cameras", str(count), "--seed", str(70 + index),
            "--event-rate", str(event_rate),
            stdout=asyncio.subprocess.PIPE, env=env, preexec_fn=die_with_this_process,
        )  # fmt: skip
        processes.append(process)
        assert process.stdout is not None
        found = 0
        while found < count:
            line = await asyncio.wait_for(process.stdout.readline(), 300)
            if not line:
                raise RuntimeError("a simulator exited before listing its cameras")
            text = line.decode().strip()
            if text and text[0].isdigit() and ":" in text:
                addresses.append(text)
                found += 1
    return addresses


async def probe_all(addresses: list[str], rounds: int = 4) -> list[CameraRecord]:
    """Every camera's record; cameras that time out on a busy machine are probed again."""
    records: list[CameraRecord] = []
    left = addresses
    async with SoapTransport(HttpLimits(timeout_s=30)) as transport:
        for _ in range(rounds):
            report = await probe_many(
                transport, [ProbeTarget(a, credential_ref=REF) for a in left], concurrency=128
            )
            records.extend(report.records)
            left = [failure.address for failure in report.failures]
            if not left:
                return records
            print(f"  {len(left)} cameras failed the probe ({report.failures[0].reason}): again")
    raise RuntimeError(f"{len(left)} cameras failed the probe {rounds} times")


class Seen:
    """Camera ids that have published a status and an event (read from the topics' start)."""

    def __init__(self, bootstrap: str) -> None:
        self._consumer = AIOKafkaConsumer(**connection_config(bootstrap), enable_auto_commit=False)
        self.statuses: set[str] = set()
        self.events: set[str] = set()
        self.event_count = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._consumer.assign(
            [
                TopicPartition(spec.name, partition)
                for spec in (CAMERA_STATUS, DEVICE_EVENTS)
                for partition in range(spec.partitions)
            ]
        )
        await self._consumer.seek_to_beginning()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=500, max_records=10_000)
            for tp, records in batches.items():
                keys = {r.key.decode() for r in records if r.key}
                if tp.topic == CAMERA_STATUS.name:
                    self.statuses |= keys
                else:
                    self.events |= keys
                    self.event_count += len(records)

    def live(self, cameras: set[str]) -> int:
        if self._task is not None and self._task.done():
            self._task.result()  # the reader failed: say why
        return len(cameras & self.statuses & self.events)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()


async def healthy(port: int, timeout_s: float, process: asyncio.subprocess.Process) -> None:
    """Wait for the watcher's /healthz (it starts slowly on a busy machine, more so traced)."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"the watcher exited with {process.returncode} before serving")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.5)
    raise RuntimeError(f"the watcher was not healthy within {timeout_s:g} s")


async def until_live(seen: Seen, wanted: set[str], pid: int, port: int, timeout_s: float) -> None:
    """Until every wanted camera published a status and an event; progress every 30 s (a fall
    in the devices watched is the watcher stopping devices: a rebalance of its group)."""
    began = time.perf_counter()
    said = began
    async with aiohttp.ClientSession() as session:
        while (live := seen.live(wanted)) < len(wanted):
            now = time.perf_counter()
            if now - began > timeout_s:
                raise RuntimeError(
                    f"only {live} of {len(wanted)} cameras live after {timeout_s:g} s"
                )
            if now - said >= 30:
                said = now
                devices = await watched_devices(session, port)
                print(
                    f"         {now - began:4.0f} s: {live} of {len(wanted)} live, "
                    f"{devices} devices watched, {mib(rss_bytes(pid))} resident"
                )
            await asyncio.sleep(1.0)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mib(value: float) -> str:
    return f"{value / 2**20:7.1f} MiB"


async def trace_report(watcher: asyncio.subprocess.Process, trace_dir: Path, label: str) -> Path:
    """Ask the traced watcher for its next step (SIGUSR1: start tracing, then a snapshot each
    time) and wait until it is done."""
    path = trace_dir / f"{label}.snapshot"
    watcher.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if (trace_dir / f"{label}.done").exists():
            return path
        await asyncio.sleep(0.5)
    raise RuntimeError("the traced watcher wrote no snapshot within 600 s")


def _project_frames(traceback: tracemalloc.Traceback) -> list[tracemalloc.Frame]:
    """The traceback's frames in this project's code, most recent first."""
    return [f for f in reversed(traceback) if "site-packages" not in f.filename]


def _site(frame: tracemalloc.Frame) -> str:
    return f"{Path(frame.filename).parent.name}/{Path(frame.filename).name}:{frame.lineno}"


def print_trace(step: Path, cameras: int, top: int = 25) -> None:
    """What the snapshot holds (allocated since the baseline and alive), per camera."""
    stats = tracemalloc.Snapshot.load(str(step)).statistics("traceback")
    total = sum(s.size for s in stats)
    print(f"  traced Python allocations: {total / cameras:,.0f} B per camera; largest sites:")
    for stat in stats[:top]:
        # Where it was allocated (a library's line, often), then the project's lines that led there.
        frames = [stat.traceback[-1], *_project_frames(stat.traceback)[:3]]
        where = " <- ".join(_site(f) for f in dict.fromkeys(frames))
        print(
            f"    {stat.size / cameras:8,.0f} B/camera  {stat.count / cameras:5.1f} blocks  {where}"
        )
    # The same, summed by the most recent line of the project's own code.
    by_line: dict[str, int] = {}
    for stat in stats:
        frames = _project_frames(stat.traceback)
        key = _site(frames[0]) if frames else "(library only)"
        by_line[key] = by_line.get(key, 0) + stat.size
    print("  by the project's line that led to them:")
    for key, size in sorted(by_line.items(), key=lambda item: -item[1])[:top]:
        print(f"    {size / cameras:8,.0f} B/camera  {key}")


async def main(args: argparse.Namespace) -> None:
    steps = sorted({int(n) for n in args.cameras.split(",")})
    total = steps[-1]
    os.environ[PASSWORD_ENV] = PASSWORD
    configure_logging(level="warning", force=True)
    # A terminated benchmark still stops its watcher and simulators (their finally blocks).
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    print(f"ONVIF watch memory: {', '.join(map(str, steps))} cameras, delivery {args.delivery}")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    with contextlib.ExitStack() as stack:
        bootstrap = args.bootstrap or fresh_broker(stack)
        os.environ["TILIK_BOOTSTRAP"] = bootstrap
        await run(args, steps, total, bootstrap)


async def run(args: argparse.Namespace, steps: list[int], total: int, bootstrap: str) -> None:
    from core.settings import get_settings

    get_settings.cache_clear()
    apply_catalog(
        all_topics(),  # what the runtime reads and writes (watch reports, removals, audit, ...)
        bootstrap=bootstrap,
        replication_factor=1,
    )
    started = time.perf_counter()
    simulators: list[asyncio.subprocess.Process] = []
    watcher: asyncio.subprocess.Process | None = None
    seen = Seen(bootstrap)
    published: list[CameraRecord] = []
    try:
        addresses = await start_simulators(simulators, total, args.per_simulator, args.event_rate)
        print(f"{len(simulators)} simulator processes up in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        records = await probe_all(addresses)
        print(f"probed {len(records)} cameras in {time.perf_counter() - started:.1f} s")
        # The watcher reads the registry from its start: on a shared broker (--bootstrap) the
        # onvif records already there are watched too and counted in the steps.
        name = "onvif"
        port = free_port()
        env = {
            **os.environ,
            "TILIK_LOG_LEVEL": "warning",
            "TILIK_ONVIF_EVENT_DELIVERY": args.delivery,
        }
        if args.delivery == "push":
            env["TILIK_ONVIF_PUSH_URL"] = "http://127.0.0.1:0"
        command = [
            "connectors", "run", name, "--group", f"bench-mem-{uuid.uuid4().hex[:8]}",
            "--health-interval", str(args.health_interval), "--concurrency", "256",
            "--metrics-port", str(port),
        ]  # fmt: skip
        trace_dir = None
        if args.tracemalloc:
            trace_dir = Path(tempfile.mkdtemp(prefix="tilik-mem-trace-"))
            env[TRACE_DIR_ENV] = str(trace_dir)
            program = [sys.executable, __file__, "--traced-watcher", str(args.tracemalloc)]
        else:
            program = [TILIK]
        watcher = await asyncio.create_subprocess_exec(
            *program, *command, env=env, preexec_fn=die_with_this_process
        )
        await healthy(port, args.live_timeout_s, watcher)
        await seen.start()
        await asyncio.sleep(args.settle_s / 2)
        baseline = await sample(watcher.pid, port, args.settle_s / 2)
        base_rss = statistics.fmean(baseline.rss)
        base_socks = statistics.median(baseline.socks)
        print(f"empty baseline: {mib(base_rss)} resident, {base_socks:.0f} sockets")
        if trace_dir is not None:
            await trace_report(watcher, trace_dir, "baseline")
        print(
            f"{'cameras':>8} {'steady RSS':>12} {'over baseline':>14} {'per camera':>11} "
            f"{'sockets min/median/max':>24} {'events/s':>9}"
        )
        async with CatalogProducer(bootstrap, client_id="bench-onvif-memory") as producer:
            for count in steps:
                batch = records[len(published) : count]
                await producer.send_batch(CAMERA_REGISTRY, batch)
                published.extend(batch)
                wanted = {r.camera_id for r in published}
                began = time.perf_counter()
                await until_live(seen, wanted, watcher.pid, port, args.live_timeout_s)
                live_s = time.perf_counter() - began
                events_before = seen.event_count
                window = await sample(watcher.pid, port, args.steady_s)
                rate = (seen.event_count - events_before) / args.steady_s
                over = window.steady_rss - base_rss
                low, median, high = window.socket_range()
                print(
                    f"{count:8d} {mib(window.steady_rss)} {mib(over)}   "
                    f"{over / count / 1024:6.1f} KiB "
                    f"{low:7d} / {median:6.0f} / {high:6d} ({median - base_socks:+.0f}) "
                    f"{rate:9.1f}"
                )
                print(
                    f"         (all {count} live {live_s:.0f} s after their records; devices "
                    f"watched over the window: {min(window.devices)} to {max(window.devices)})"
                )
                if trace_dir is not None:
                    print_trace(await trace_report(watcher, trace_dir, f"cameras-{count}"), count)
            if not args.keep:
                await asyncio.gather(
                    *[
                        await producer.enqueue(CAMERA_REGISTRY, None, key=r.camera_id)
                        for r in published
                    ]
                )
    finally:
        await seen.stop()
        if watcher is not None and watcher.returncode is None:
            watcher.terminate()
            await watcher.wait()
        for simulator in simulators:
            if simulator.returncode is None:
                simulator.terminate()
                await simulator.wait()
    print(f"load average {os.getloadavg()[0]:.1f} at the end (other processes share these cores)")


def traced_watcher(frames: int, argv: Sequence[str]) -> None:
    """The watcher with tracemalloc: the first SIGUSR1 (the baseline) starts tracing, each later
    one writes a snapshot of what is alive of the allocations since."""
    import gc

    from tilik.cli import main as tilik_main

    trace_dir = Path(os.environ[TRACE_DIR_ENV])
    labels = iter(["baseline", *(f"cameras-{n}" for n in range(1, 10**6))])

    def dump(_signum: int, _frame: object) -> None:
        label = next(labels)
        gc.collect()
        if tracemalloc.is_tracing():
            tracemalloc.take_snapshot().dump(str(trace_dir / f"{label}.snapshot"))
        else:
            tracemalloc.start(frames)
        (trace_dir / f"{label}.done").touch()

    signal.signal(signal.SIGUSR1, dump)
    sys.argv = ["tilik", *argv]
    tilik_main()


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--traced-watcher":
        traced_watcher(int(sys.argv[2]), sys.argv[3:])
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", default="2000,8000", help="comma-separated steps")
    parser.add_argument("--bootstrap", default=None, help="a running broker (default: a fresh one)")
    parser.add_argument("--delivery", choices=("push", "pull"), default="push")
    parser.add_argument("--per-simulator", type=int, default=2000)
    parser.add_argument(
        "--event-rate", type=float, default=0.02, help="events/s per camera while subscribed"
    )
    parser.add_argument("--health-interval", type=float, default=30.0)
    parser.add_argument("--settle-s", type=float, default=20.0)
    parser.add_argument("--steady-s", type=float, default=90.0)
    parser.add_argument("--live-timeout-s", type=float, default=600.0)
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES")
    parser.add_argument("--keep", action="store_true", help="leave the cameras in the registry")
    asyncio.run(main(parser.parse_args()))

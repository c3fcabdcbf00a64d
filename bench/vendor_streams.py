"""Vendor event-stream cost: events/s parsed per stream, and memory per open stream.

Throughput (one process, no network): a recorded multipart stream per vendor (parts rendered
by the simulator, as the device sends them) is fed in 16 KiB chunks through

1. baseline: ``bytes.split`` on the delimiter (the cost floor of finding parts at all);
2. framing: ``MultipartStreamParser`` alone;
3. full: parser + vendor parser + mapping table to validated ``DeviceEvent``\\ s.

Memory: K connectors hold event streams open against a simulated device (run in a separate
process); tracemalloc measures the bench process before and after. Baseline: K bare
``DeviceHttp`` streams that read and drop the bytes (same sessions, no parsing).

Usage: python bench/vendor_streams.py [--events N] [--runs R] [--streams K]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable

from connectors.private_vendors.kits import VENDORS
from connectors.sdk.http import DeviceHttp
from connectors.sdk.mapping import DeviceContext
from connectors.sdk.multipart import MultipartStreamParser
from connectors.sdk.simulation.device import DEFAULT_EPOCH, StreamingDevice
from connectors.sdk.simulation.faults import Faults, frame_part
from connectors.sdk.simulation.testing import VendorKit
from topics.models import DeviceEvent

CHUNK = 16 * 1024
PASSWORD = "bench-Pw-1"
os.environ.setdefault("TILIK_CAMERA_SECRET_BENCH", PASSWORD)
REF = "admin@env:TILIK_CAMERA_SECRET_BENCH"


def recorded_stream(kit: VendorKit, events: int) -> tuple[bytes, bytes]:
    """``events`` parts of every known code over 16 channels, framed as the device frames them."""
    device: StreamingDevice = kit.simulator.device_class(
        index=0,
        channels=16,
        username="admin",
        password=PASSWORD,
        event_rate=1,
        faults=Faults(),
        max_events=None,
        codes=None,
        epoch=DEFAULT_EPOCH,
        heartbeat_s=1,
        seed=1,
    )
    delimiter = b"--" + device.boundary.encode()
    parts = []
    for seq in range(events):
        code = device.codes[seq % len(device.codes)]
        body = device.render_event(seq, code, seq % 16 + 1, device.event_time(seq))
        parts.append(frame_part(delimiter, device.part_content_type, body))
    return b"".join(parts), delimiter


def chunks(blob: bytes) -> list[bytes]:
    return [blob[i : i + CHUNK] for i in range(0, len(blob), CHUNK)]


def baseline_split(pieces: list[bytes], delimiter: bytes) -> int:
    # Re-joined per call so the floor, like the parser, sees the chunked stream.
    return len(b"".join(pieces).split(delimiter)) - 1


def framing_only(pieces: list[bytes], delimiter: bytes) -> int:
    parser = MultipartStreamParser(delimiter[2:])
    return sum(len(parser.feed(piece)) for piece in pieces)


def full_pipeline(kit: VendorKit) -> Callable[[list[bytes], bytes], int]:
    connector = kit.make("127.0.0.1:9", REF)  # never contacted: parts are fed directly
    device = DeviceContext(
        connector=kit.name, vendor=kit.name, serial="BENCH0001", device_id="dev-bench"
    )

    def run(pieces: list[bytes], delimiter: bytes) -> int:
        parser = MultipartStreamParser(delimiter[2:])
        produced = 0
        for piece in pieces:
            for part in parser.feed(piece):
                for item in connector.events_from_part(part, device):
                    produced += isinstance(item, DeviceEvent)
        return produced

    return run


def median_rate(
    fn: Callable[[list[bytes], bytes], int], pieces: list[bytes], delimiter: bytes, runs: int
) -> tuple[float, int]:
    rates, produced = [], 0
    for _ in range(runs):
        gc.collect()
        started = time.perf_counter()
        produced = fn(pieces, delimiter)
        rates.append(produced / (time.perf_counter() - started))
    return statistics.median(rates), produced


def throughput(events: int, runs: int) -> None:
    print(
        f"== events/s per stream, one process ({events} events, {CHUNK // 1024} KiB chunks, median of {runs})"
    )
    print("(ratio: how many times the cost of the baseline split an event costs)")
    print(
        f"{'vendor':<10} {'baseline split':>15} {'framing':>12} {'full':>12} "
        f"{'framing ratio':>14} {'full ratio':>11} {'MB/s full':>10}"
    )
    for name, kit in VENDORS.items():
        blob, delimiter = recorded_stream(kit, events)
        pieces = chunks(blob)
        base, n_base = median_rate(baseline_split, pieces, delimiter, runs)
        framing, n_framing = median_rate(framing_only, pieces, delimiter, runs)
        full, n_full = median_rate(full_pipeline(kit), pieces, delimiter, runs)
        assert n_base == n_framing == events, (n_base, n_framing)
        assert n_full >= events * 0.9, n_full  # keepalive-like codes map to nothing
        mb_s = full * len(blob) / events / 1e6
        print(
            f"{name:<10} {base:>15,.0f} {framing:>12,.0f} {full:>12,.0f} "
            f"{base / framing:>13.1f}x {base / full:>10.1f}x {mb_s:>10.1f}"
        )


def start_simulator(kit: VendorKit) -> tuple[subprocess.Popen[str], str]:
    module = f"connectors.private_vendors.{kit.name}.simulator"
    command = [
        sys.executable,
        "-c",
        f"import sys; from {module} import simulate_{kit.name} as c; c(sys.argv[1:])",
        "--event-rate",
        "5",
        "--channels",
        "4",
        "--password",
        PASSWORD,
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    address = process.stdout.readline().strip()
    return process, address


async def hold_streams(kit: VendorKit, address: str, k: int, parse: bool, hold_s: float) -> float:
    """Bytes traced per open stream after ``hold_s`` seconds of ``k`` concurrent streams."""
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    got = [0] * k
    connectors = [kit.make(address, REF, timeout_s=10) for _ in range(k)]
    https: list[DeviceHttp] = []

    async def parsed(i: int) -> None:
        async for _ in connectors[i].events():
            got[i] += 1

    async def raw(i: int) -> None:
        http = DeviceHttp.for_config(connectors[i].config)
        https.append(http)
        await http.open()
        path, params = connectors[i].event_stream_request()
        async with http.stream(path, params=params) as stream:
            async for _ in stream:
                got[i] += 1

    tasks = [asyncio.create_task(parsed(i) if parse else raw(i)) for i in range(k)]
    await asyncio.sleep(hold_s)
    gc.collect()
    during = tracemalloc.get_traced_memory()[0]
    assert all(got), "every stream received data"
    for connector in connectors:
        await connector.close()
    for http in https:
        await http.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return (during - before) / k


def memory(k: int) -> None:
    print(
        f"\n== memory per open event stream (tracemalloc, {k} concurrent streams, simulator in another process)"
    )
    print(f"{'vendor':<10} {'baseline raw stream':>20} {'connector stream':>17} {'ratio':>7}")
    for name, kit in VENDORS.items():
        process, address = start_simulator(kit)
        try:
            tracemalloc.start()
            base = asyncio.run(hold_streams(kit, address, k, parse=False, hold_s=3))
            full = asyncio.run(hold_streams(kit, address, k, parse=True, hold_s=3))
            tracemalloc.stop()
        finally:
            process.terminate()
            process.wait(10)
        print(f"{name:<10} {base / 1024:>17.1f} KiB {full / 1024:>13.1f} KiB {full / base:>6.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--streams", type=int, default=50)
    args = parser.parse_args()
    throughput(args.events, args.runs)
    memory(args.streams)


if __name__ == "__main__":
    main()

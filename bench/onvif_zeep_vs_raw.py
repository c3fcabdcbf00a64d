"""ONVIF through onvif-zeep-async against raw SOAP on the same simulated fleet, in the same run.

Two measurements, each side in its own child process (so resident memory is that side's alone)
against one simulated fleet (``tilik simulate onvif`` in a third process):

1. onboarding probe (clock, identity, services, scopes, MAC, profiles, stream and snapshot URIs)
   of every camera with bounded concurrency: cameras/s and resident memory added per camera
   (peak during the probe, over the process before it), and how many WSDL documents were parsed;
2. health: one authenticated GetDeviceInformation per camera, a whole cycle at once: calls/s.
   The zeep side keeps each camera's devicemgmt client between cycles (its best case: the cost
   of building clients is printed apart) and times the second cycle.

Rerun:

    .venv/bin/python bench/onvif_zeep_vs_raw.py --cameras 2000

The ratios printed are zeep over raw (below 1: zeep is slower / uses less).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
from pathlib import Path

import onvif

sys.path.insert(0, str(Path(__file__).resolve().parent))

from onvif_onboard import PASSWORD, PASSWORD_ENV, REF, cpu_seconds, start_simulator

from connectors.onvif.device import OnvifDevice
from connectors.onvif.health import HealthTarget, check_fleet
from connectors.onvif.probe import ProbeTarget, probe_many
from connectors.onvif.soap import SoapTransport, TransportLimits
from connectors.onvif.zeep_client import (
    FleetOnvifCamera,
    FleetOnvifService,
    shared_document,
)
from connectors.onvif.zeep_device import ZeepOnvifDevice
from connectors.sdk.secrets import Credentials

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * _PAGE


class PeakRss:
    """Samples resident memory every 50 ms on a thread (the event loop is busy probing)."""

    def __init__(self) -> None:
        self.start = rss_bytes()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_bytes())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())
        return self.peak - self.start


def count_wsdl_parses() -> list[str]:
    """Record every WSDL document onvif-zeep-async parses (its loader's real work)."""
    import onvif.client

    parsed: list[str] = []
    original = onvif.client.DocumentWithDeferredLoad.original_load

    def counting(self: object, url: str, *args: object, **kwargs: object) -> None:
        parsed.append(url)
        original(self, url, *args, **kwargs)

    onvif.client.DocumentWithDeferredLoad.original_load = counting
    return parsed


async def zeep_health_cycle(cameras: list[FleetOnvifCamera], concurrency: int) -> tuple[int, float]:
    gate = asyncio.Semaphore(concurrency)
    ok = 0

    async def one(camera: FleetOnvifCamera) -> None:
        nonlocal ok
        async with gate:
            service: FleetOnvifService = await camera.create_devicemgmt_service()
            await service.GetDeviceInformation()
            ok += 1

    started = time.perf_counter()
    await asyncio.gather(*(one(c) for c in cameras))
    return ok, time.perf_counter() - started


async def side(name: str, addresses: list[str], concurrency: int, health_concurrency: int) -> dict:
    os.environ[PASSWORD_ENV] = PASSWORD
    parsed = count_wsdl_parses()
    credentials = Credentials(username="admin", password=PASSWORD)
    result: dict[str, float | int] = {}
    if name == "zeep":
        # The one-off WSDL parse is timed apart from the per-camera work.
        started = time.perf_counter()
        for wsdl in ("devicemgmt.wsdl", "media.wsdl"):
            await shared_document(str(Path(onvif.__file__).parent / "wsdl" / wsdl))
        result["wsdl_s"] = time.perf_counter() - started
    async with SoapTransport(TransportLimits(timeout_s=30)) as transport:
        targets = [ProbeTarget(a, credential_ref=REF) for a in addresses]
        memory = PeakRss()
        cpu = cpu_seconds()
        started = time.perf_counter()
        report = await probe_many(
            transport,
            targets,
            concurrency=concurrency,
            prober=ZeepOnvifDevice if name == "zeep" else OnvifDevice,
        )
        result["probe_s"] = time.perf_counter() - started
        result["probe_cpu"] = cpu_seconds() - cpu
        result["probe_rss"] = memory.stop()
        result["probed"] = len(report.records)
        result["failures"] = len(report.failures)
        result["wsdl_parses"] = len(parsed)
        if name == "raw":
            targets_h = [
                HealthTarget(f"cam-{i:020x}", a, credentials) for i, a in enumerate(addresses)
            ]
            await check_fleet(transport, targets_h, concurrency=health_concurrency)
            started = time.perf_counter()
            statuses = await check_fleet(transport, targets_h, concurrency=health_concurrency)
            result["health_s"] = time.perf_counter() - started
            result["health_ok"] = sum(s.state.value == "online" for s in statuses)
        else:
            memory = PeakRss()
            started = time.perf_counter()
            cameras = [
                FleetOnvifCamera(transport, a, credentials, scheme="http") for a in addresses
            ]
            await asyncio.gather(*(c.create_devicemgmt_service() for c in cameras))
            result["clients_s"] = time.perf_counter() - started
            await zeep_health_cycle(cameras, health_concurrency)
            result["clients_rss"] = memory.stop()
            result["health_ok"], result["health_s"] = await zeep_health_cycle(
                cameras, health_concurrency
            )
            for camera in cameras:
                await camera.close()
    return result


async def main(args: argparse.Namespace) -> None:
    print(f"onvif-zeep-async vs raw SOAP: {args.cameras} simulated cameras, separate processes")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    process, addresses = await start_simulator(args.cameras, 0.0)
    results: dict[str, dict] = {}
    try:
        for name in ("raw", "zeep"):
            child = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--side", name,
                "--concurrency", str(args.concurrency),
                "--health-concurrency", str(args.health_concurrency),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, _ = await child.communicate("\n".join(addresses).encode())
            results[name] = json.loads(out.decode().strip().splitlines()[-1])
    finally:
        process.terminate()
        await process.wait()
    raw, zeep = results["raw"], results["zeep"]
    n = args.cameras
    print(f"\n{'':<40}{'raw SOAP':>14}{'zeep':>14}{'zeep/raw':>10}")

    def row(label: str, a: float, b: float, fmt: str = "{:.1f}") -> None:
        print(f"{label:<40}{fmt.format(a):>14}{fmt.format(b):>14}{b / a if a else 0:>9.2f}x")

    row("probe: cameras/s", raw["probed"] / raw["probe_s"], zeep["probed"] / zeep["probe_s"])
    row(
        "probe: KiB resident per camera (peak)",
        raw["probe_rss"] / n / 1024,
        zeep["probe_rss"] / n / 1024,
    )
    row(
        "probe: connector CPU ms per camera",
        1000 * raw["probe_cpu"] / n,
        1000 * zeep["probe_cpu"] / n,
    )
    row("health: calls/s", raw["health_ok"] / raw["health_s"], zeep["health_ok"] / zeep["health_s"])
    print(f"probe failures: raw {raw['failures']}, zeep {zeep['failures']}")
    print(
        f"WSDL documents parsed for {n} cameras: raw {raw['wsdl_parses']}, zeep {zeep['wsdl_parses']}"
    )
    print(f"zeep: parsing those WSDLs once took {zeep['wsdl_s']:.2f} s (not in the probe rate)")
    print(
        f"zeep health: building {n} devicemgmt clients took {zeep['clients_s']:.2f} s; with them"
        f" kept, {zeep['clients_rss'] / n / 1024:.1f} KiB resident per camera"
    )
    for name, result in results.items():
        print(
            f"projected probe of 20,000 cameras ({name}): {20000 * result['probe_s'] / n:.0f} s"
            f" in this run; {20000 * result['probe_cpu'] / n:.0f} s of connector CPU"
        )
    print(f"load average {os.getloadavg()[0]:.1f} at the end (other processes share these cores)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--health-concurrency", type=int, default=512)
    parser.add_argument("--side", choices=("raw", "zeep"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        fleet = [line.strip() for line in sys.stdin if line.strip()]
        outcome = asyncio.run(side(args.side, fleet, args.concurrency, args.health_concurrency))
        print(json.dumps(outcome))
    else:
        asyncio.run(main(args))

"""Benchmark: a 2,000-camera ONVIF simulator in one process against a one-camera baseline.

Measures fleet start-up and authenticated GetDeviceInformation throughput when requests spread
over every camera (per-socket routing, one listener each) versus the same number of requests to a
single camera, in the same run. Rerun: ``.venv/bin/python bench/onvif_simulator_fleet.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp

from connectors.onvif.simulator import OnvifFleet
from connectors.onvif.simulator.client import post_soap, request_envelope, username_token

PASSWORD = "bench-password"


async def hammer(urls: list[str], requests: int, concurrency: int) -> float:
    """Requests per second for ``requests`` digest-authenticated calls cycling over ``urls``."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for index in range(requests):
        queue.put_nowait(urls[index % len(urls)])
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            url = queue.get_nowait()
            body = request_envelope(
                "<tds:GetDeviceInformation/>", username_token("admin", PASSWORD)
            )
            status, _ = await post_soap(session, url, body)
            if status != 200:
                raise RuntimeError(f"{url} answered {status}")

    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return requests / (time.perf_counter() - started)


async def main(cameras: int, requests: int, concurrency: int) -> None:
    async with OnvifFleet(1, password=PASSWORD) as single:
        baseline = await hammer([single.cameras[0].device_url], requests, concurrency)
    started = time.perf_counter()
    async with OnvifFleet(cameras, password=PASSWORD) as fleet:
        startup = time.perf_counter() - started
        spread = await hammer([c.device_url for c in fleet.cameras], requests, concurrency)
    print(f"fleet start-up: {cameras} cameras in {startup:.2f} s ({cameras / startup:.0f}/s)")
    print(f"baseline  1 camera   : {baseline:8.0f} req/s")
    print(f"fleet {cameras:5d} cameras: {spread:8.0f} req/s")
    print(f"ratio fleet/baseline : {spread / baseline:8.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(main(args.cameras, args.requests, args.concurrency))

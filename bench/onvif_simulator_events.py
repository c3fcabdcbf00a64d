"""Benchmark: PullPoint event delivery from many simulated cameras against one camera at the same total rate.

The fleet runs as ``tilik simulate onvif`` in its own process; this process holds one PullPoint
per camera and long-polls each (Timeout PT1S, MessageLimit 100), counting the events answered
inside the measuring window. The baseline is a single camera raising the fleet's total rate,
measured in the same run. Rerun:
``.venv/bin/python bench/onvif_simulator_events.py --cameras 2000 --rate 1 --seconds 15``
(a short window mostly measures the first round of 2,000 concurrent polls).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from connectors.onvif.simulator.client import post_soap, request_envelope, username_token
from connectors.onvif.simulator.soap import NAMESPACES

PASSWORD = "bench-password"
TILIK = str(Path(sys.executable).with_name("tilik"))
PULL = (
    "<tev:PullMessages><tev:Timeout>PT1S</tev:Timeout>"
    "<tev:MessageLimit>100</tev:MessageLimit></tev:PullMessages>"
)


def call(body: str) -> bytes:
    return request_envelope(body, username_token("admin", PASSWORD))


@asynccontextmanager
async def simulator(cameras: int, rate: float) -> AsyncIterator[list[str]]:
    """A fleet in a child process; yields its camera addresses."""
    process = await asyncio.create_subprocess_exec(
        TILIK,
        "simulate",
        "onvif",
        "--cameras",
        str(cameras),
        "--event-rate",
        str(rate),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "TILIK_SIM_ONVIF_PASSWORD": PASSWORD},
    )
    assert process.stdout is not None
    try:
        yield [(await process.stdout.readline()).decode().strip() for _ in range(cameras)]
    finally:
        process.terminate()
        await process.wait()


async def delivered_per_second(cameras: list[str], seconds: float) -> float:
    """Events per second answered to one long-polling PullPoint per camera within ``seconds``."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        addresses = []
        for camera in cameras:
            _, root = await post_soap(
                session,
                f"http://{camera}/onvif/events_service",
                call("<tev:CreatePullPointSubscription/>"),
            )
            addresses.append(
                root.findtext(".//tev:SubscriptionReference/wsa:Address", namespaces=NAMESPACES)
            )
        # The Initialized messages and anything raised while subscribing are not measured.
        await asyncio.gather(*(post_soap(session, a, call(PULL)) for a in addresses))
        counts = [0] * len(addresses)
        closes = time.perf_counter() + seconds

        async def puller(index: int, address: str) -> None:
            # Only polls answered inside the window count: steady-state delivery, no tail.
            while True:
                _, root = await post_soap(session, address, call(PULL))
                if time.perf_counter() > closes:
                    return
                counts[index] += len(root.findall(".//wsnt:NotificationMessage", NAMESPACES))

        await asyncio.gather(*(puller(i, a) for i, a in enumerate(addresses)))
        return sum(counts) / seconds


async def main(cameras: int, rate: float, seconds: float) -> None:
    total = cameras * rate
    async with simulator(1, total) as single:
        baseline = await delivered_per_second(single, seconds)
    async with simulator(cameras, rate) as fleet:
        spread = await delivered_per_second(fleet, seconds)
    print(f"offered load        : {total:8.0f} events/s")
    print(f"baseline  1 camera  : {baseline:8.0f} events/s delivered")
    print(f"fleet {cameras:5d} cameras: {spread:8.0f} events/s delivered")
    print(f"ratio fleet/baseline: {spread / baseline:8.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    asyncio.run(main(args.cameras, args.rate, args.seconds))

"""Benchmark: PullPoint event delivery from many simulated cameras against one camera at the same total rate.

Every camera holds one PullPoint that a client long-polls (Timeout PT1S, MessageLimit 100); the
fleet raises ``rate`` events per second per camera. The baseline is a single camera raising the
fleet's total rate, measured in the same run. Rerun:
``.venv/bin/python bench/onvif_simulator_events.py --cameras 500 --rate 2 --seconds 5``.
"""

from __future__ import annotations

import argparse
import asyncio

import aiohttp

from connectors.onvif.simulator import OnvifFleet
from connectors.onvif.simulator.client import post_soap, request_envelope, username_token
from connectors.onvif.simulator.soap import NAMESPACES

PASSWORD = "bench-password"
PULL = (
    "<tev:PullMessages><tev:Timeout>PT1S</tev:Timeout>"
    "<tev:MessageLimit>100</tev:MessageLimit></tev:PullMessages>"
)


def call(body: str) -> bytes:
    return request_envelope(body, username_token("admin", PASSWORD))


async def delivered_per_second(fleet: OnvifFleet, rate: float, seconds: float) -> float:
    """Events per second pulled from every camera while each raises ``rate`` for ``seconds``."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        addresses = []
        for camera in fleet.cameras:
            _, root = await post_soap(
                session,
                f"{camera.base_url}/onvif/events_service",
                call("<tev:CreatePullPointSubscription/>"),
            )
            addresses.append(
                root.findtext(".//tev:SubscriptionReference/wsa:Address", namespaces=NAMESPACES)
            )
        # The Initialized messages of each new subscription are not part of the measured rate.
        await asyncio.gather(*(post_soap(session, a, call(PULL)) for a in addresses))
        counts = [0] * len(addresses)
        window_open = True

        async def puller(index: int, address: str) -> None:
            while window_open:
                _, root = await post_soap(session, address, call(PULL))
                counts[index] += len(root.findall(".//wsnt:NotificationMessage", NAMESPACES))

        # Events flow only inside the window; the pullers' last polls collect the remainder.
        for camera in fleet.cameras:
            camera.event_rate = rate
        pullers = asyncio.gather(*(puller(i, a) for i, a in enumerate(addresses)))
        await asyncio.sleep(seconds)
        for camera in fleet.cameras:
            camera.event_rate = 0
        window_open = False
        await pullers
        return sum(counts) / seconds


async def main(cameras: int, rate: float, seconds: float) -> None:
    total = cameras * rate
    async with OnvifFleet(1, password=PASSWORD) as single:
        baseline = await delivered_per_second(single, total, seconds)
    async with OnvifFleet(cameras, password=PASSWORD) as fleet:
        spread = await delivered_per_second(fleet, rate, seconds)
    print(f"offered load        : {total:8.0f} events/s")
    print(f"baseline  1 camera  : {baseline:8.0f} events/s delivered")
    print(f"fleet {cameras:5d} cameras: {spread:8.0f} events/s delivered")
    print(f"ratio fleet/baseline: {spread / baseline:8.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=500)
    parser.add_argument("--rate", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    asyncio.run(main(args.cameras, args.rate, args.seconds))

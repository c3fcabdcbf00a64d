"""Latency of ``tilik api`` under concurrent clients, against a static answer of the same server.

The registry holds ``--cameras`` cameras (a tenth of them public) and one agency ``--dispatches``
dispatches; ``--clients`` clients ask at once. Measured, each as p50 / p99 over every request:

- baseline: ``GET /health`` (a static answer through the same server, middleware and event loop);
- list: ``GET /agency/dispatches?limit=50`` with the agency's key;
- acknowledge: ``POST /agency/dispatches/{id}/ack``, each on a dispatch of its own (a record on
  the agency's acknowledgement topic and an audit record, both acknowledged by the broker);
- public: ``GET /public/cameras`` (the GeoJSON of the public cameras, from its cache).

The service runs as its own process (``tilik api serve``), the clients in this one. Runs as the
operator against a running broker (``tilik kafka start``; TILIK_CLIENT_CONFIG).
Usage: python bench/api_latency.py [--cameras 20000] [--dispatches 1000] [--clients 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable

import httpx

from api.keys import KeyStore
from core.logconfig import configure_logging
from topics import identity
from topics.admin import apply_catalog
from topics.catalog import CAMERA_REGISTRY, ack_spec, all_topics, dispatch_spec
from topics.client import CatalogProducer
from topics.examples import example
from topics.models import ApiKeyKind, CameraRecord, Dispatch, SharingLevel, utcnow


async def fill(agency: str, cameras: int, dispatches: int) -> tuple[str, list[str]]:
    """The registry and the agency's dispatches; the agency's key and its dispatch ids."""
    run = uuid.uuid4().hex[:8]
    records = [
        example(CameraRecord, f"{run}-{n}").model_copy(
            update={"sharing": SharingLevel.PUBLIC if n % 10 == 0 else SharingLevel.LIVE}
        )
        for n in range(cameras)
    ]
    sent = []
    for n in range(dispatches):
        base = example(Dispatch, f"{run}-d{n}")
        sent.append(
            base.model_copy(
                update={
                    "agency": agency,
                    "dispatch_id": identity.dispatch_id(
                        alert_id=base.alert.alert_id, agency=agency, sequence=0, escalation_level=0
                    ),
                    "routed_at": utcnow(),
                }
            )
        )
    async with CatalogProducer(client_id="bench-api") as producer:
        await producer.send_batch(CAMERA_REGISTRY, records)
        await producer.send_batch(dispatch_spec(agency), sent)
    async with KeyStore(component="bench.keys") as keys:
        await keys.ready.wait()
        issued = await keys.issue(ApiKeyKind.AGENCY, agency, actor="bench")
    return issued.key.token, [d.dispatch_id for d in sent]


async def measure(
    clients: int, requests: int, ask: Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]],
    base_url: str, key: str,
) -> list[float]:  # fmt: skip
    """Seconds per request, ``requests`` in all, ``clients`` at a time; every answer must be 2xx."""
    numbers = iter(range(requests))
    took: list[float] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=60
    ) as http:

        async def client() -> None:
            for n in numbers:
                began = time.perf_counter()
                answer = await ask(http, n)
                took.append(time.perf_counter() - began)
                answer.raise_for_status()

        await asyncio.gather(*(client() for _ in range(clients)))
    return took


def summary(name: str, took: list[float]) -> str:
    cuts = statistics.quantiles(took, n=100)
    return (
        f"{name:<12} n={len(took):>5}  p50={cuts[49] * 1000:7.1f} ms  p99={cuts[98] * 1000:7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=20_000)
    parser.add_argument("--dispatches", type=int, default=1_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=2_000)
    args = parser.parse_args()
    configure_logging()
    agency = f"bench-{uuid.uuid4().hex[:6]}"
    apply_catalog([*all_topics(), dispatch_spec(agency), ack_spec(agency)])
    key, dispatch_ids = asyncio.run(fill(agency, args.cameras, args.dispatches))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "TILIK_API_PUBLIC_RATE_PER_MINUTE": "1000000",
        "TILIK_LOG_LEVEL": "warning",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "tilik", "api", "serve", "--port", str(port)], env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        asks: dict[str, Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]] = {
            "baseline": lambda http, n: http.get("/health"),
            "list": lambda http, n: http.get("/agency/dispatches", params={"limit": 50}),
            "acknowledge": lambda http, n: http.post(
                f"/agency/dispatches/{dispatch_ids[n]}/ack", json={"acked_by": "bench"}
            ),
            "public": lambda http, n: http.get("/public/cameras"),
        }
        # Warm: the agency's inbox opens, the key's scrypt check is paid, the catalog rendered.
        asyncio.run(measure(1, 3, asks["list"], url, key))
        asyncio.run(measure(1, 3, asks["public"], url, key))
        print(
            f"tilik api: {args.cameras} cameras ({args.cameras // 10} public), "
            f"{args.dispatches} dispatches, {args.clients} concurrent clients"
        )
        for name, ask in asks.items():
            count = (
                min(args.requests, len(dispatch_ids)) if name == "acknowledge" else args.requests
            )
            print(summary(name, asyncio.run(measure(args.clients, count, ask, url, key))))
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()

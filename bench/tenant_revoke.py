"""Revocation to gone: how long a camera a tenant revokes over HTTP stays in the public catalog.

A tenant is added (``tilik tenants add``'s function), a hub worker (ingest) and ``tilik api
serve`` run as their own processes, and ``--cameras`` cameras are sent on the tenant's cameras
topic as its edge agent sends them. Each is confirmed and made public over HTTP and, once in
``GET /public/cameras``, revoked (``DELETE /tenant/cameras/{id}``); the time from the request to
the first catalog without it is measured: the API's choice record, the hub's tombstone, the API's
registry view. Prints every time and the median. The tenant is removed at the end.

Runs as the operator against a running broker (``tilik kafka start``; TILIK_CLIENT_CONFIG).
Usage: python bench/tenant_revoke.py [--cameras 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from api.tenant_admin import add_tenant, remove_tenant
from core.logconfig import configure_logging
from core.settings import Settings
from hub.testing import WorkerProcess
from topics.access.manage import AccessAdmin
from topics.admin import apply_catalog
from topics.catalog import tenant_topics
from topics.client import CatalogProducer
from topics.connection import client_identity
from topics.examples import camera_record
from topics.identity import tenant_scoped
from topics.models import Owner, OwnerKind


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.01)


async def run(cameras: int, workdir: Path) -> list[float]:
    bootstrap = client_identity().bootstrap
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    access = AccessAdmin(bootstrap, actor="bench")
    async with CatalogProducer(bootstrap, client_id="bench-tenant") as producer:
        added = await add_tenant(
            tenant, access=access, producer=producer, out=workdir / "tenant.properties"
        )
    worker = WorkerProcess(
        bootstrap,
        f"tilik-hub-bench-{uuid.uuid4().hex[:8]}",
        workdir / "worker.log",
        extra_args=["--health-only", "--from-latest"],
    )
    port = free_port()
    env = {
        **os.environ,
        "TILIK_API_PUBLIC_RATE_PER_MINUTE": "1000000",
        "TILIK_LOG_LEVEL": "warning",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "tilik", "api", "serve", "--port", str(port)], env=env
    )
    worker.start()
    url = f"http://127.0.0.1:{port}"
    times: list[float] = []
    try:
        await worker.wait_ready(180)
        records = [
            camera_record(f"{tenant}-{n}").model_copy(
                update={"owner": Owner(kind=OwnerKind.PRIVATE, id=tenant), "connector": "edge"}
            )
            for n in range(cameras)
        ]
        site = Settings(client_config=added.principal.path)
        async with CatalogProducer(settings=site, client_id="bench-edge") as edge:
            await edge.send_batch(tenant_topics(tenant).cameras, records)
        headers = {"Authorization": f"Bearer {added.key.key.token}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
            await until(lambda: _answers(http))

            async def public() -> set[str]:
                features = (await http.get("/public/cameras")).json()["features"]
                return {feature["id"] for feature in features}

            for record in records:
                camera_id = tenant_scoped(tenant, record.camera_id)
                await until(lambda cid=camera_id: _listed(http, cid))
                answer = await http.patch(
                    f"/tenant/cameras/{camera_id}", json={"confirmed": True, "sharing": "public"}
                )
                answer.raise_for_status()
                await until(lambda cid=camera_id: _in(public, cid))
                began = time.perf_counter()
                (await http.delete(f"/tenant/cameras/{camera_id}")).raise_for_status()
                await until(lambda cid=camera_id: _out(public, cid))
                times.append(time.perf_counter() - began)
                print(f"{camera_id}: gone {times[-1] * 1000:.0f} ms after the revocation")
    finally:
        server.terminate()
        server.wait(30)
        worker.stop()
        async with CatalogProducer(bootstrap, client_id="bench-tenant") as producer:
            await remove_tenant(tenant, access=access, producer=producer)
    return times


async def _answers(http: httpx.AsyncClient) -> bool:
    try:
        return (await http.get("/health")).status_code == 200
    except httpx.TransportError:
        return False


async def _listed(http: httpx.AsyncClient, camera_id: str) -> bool:
    return (await http.get(f"/tenant/cameras/{camera_id}")).status_code == 200


async def _in(public: Callable[[], Awaitable[set[str]]], camera_id: str) -> bool:
    return camera_id in await public()


async def _out(public: Callable[[], Awaitable[set[str]]], camera_id: str) -> bool:
    return camera_id not in await public()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=10, help="Revocations to time.")
    args = parser.parse_args()
    configure_logging()
    apply_catalog()
    with tempfile.TemporaryDirectory(prefix="tilik-bench-revoke-") as workdir:
        times = asyncio.run(run(args.cameras, Path(workdir)))
    print(
        f"revocation to gone from /public/cameras, {len(times)} cameras: "
        f"median {statistics.median(times) * 1000:.0f} ms, "
        f"min {min(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()

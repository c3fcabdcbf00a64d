"""``tilik api`` in a test: the real service on a real socket, as its own Kafka principal, and
keys issued as the operator the way ``tilik keys`` issues them."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from api.keys import KeyStore
from api.server import api_server
from api.service import ApiService
from core.settings import Settings
from topics.models import ApiKeyKind

STREAM_TEMPLATE = "https://cctv.example.go.id/watch/{camera_id}"


@dataclass
class RunningApi:
    url: str
    service: ApiService
    settings: Settings


def api_settings(client_config: Path, **overrides: object) -> Settings:
    return Settings(
        client_config=client_config,
        api_stream_url_template=STREAM_TEMPLATE,
        api_public_rate_per_minute=100_000,
        **overrides,  # type: ignore[arg-type]
    )


@contextmanager
def running_api(settings: Settings, *, timeout: float = 60.0) -> Iterator[RunningApi]:
    """The service on a free loopback port, in a thread of its own, until the block ends."""
    service = ApiService(settings=settings)
    server = api_server(service, host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.run, name="tilik-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("tilik api did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield RunningApi(f"http://127.0.0.1:{port}", service, settings)
    finally:
        server.should_exit = True
        thread.join(30)


def issue_key(kind: ApiKeyKind, subject: str | None, settings: Settings | None = None) -> str:
    """A new key's token, written to the keys topic as the operator (another writer than the
    service under test)."""

    async def issue() -> str:
        async with KeyStore(component="test.keys", settings=settings) as store:
            await store.ready.wait()
            return (await store.issue(kind, subject, actor="tests")).key.token

    return asyncio.run(issue())

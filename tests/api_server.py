"""``tilik api`` in a test: the real service on a real socket, as its own Kafka principal, and
keys issued as the operator the way ``tilik keys`` issues them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from api.keys import KeyStore
from api.server import serving_in_thread
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
def running_api(settings: Settings) -> Iterator[RunningApi]:
    """The service on a free loopback port, in a thread of its own, until the block ends."""
    service = ApiService(settings=settings)
    with serving_in_thread(service) as url:
        yield RunningApi(url, service, settings)


def issue_key(kind: ApiKeyKind, subject: str | None, settings: Settings | None = None) -> str:
    """A new key's token, written to the keys topic as the operator (another writer than the
    service under test)."""

    async def issue() -> str:
        async with KeyStore(component="test.keys", settings=settings) as store:
            await store.ready.wait()
            return (await store.issue(kind, subject, actor="tests")).key.token

    return asyncio.run(issue())


def keeping_client(api: RunningApi, key: str | None, answers: list[str]) -> httpx.Client:
    """An HTTP client of the service (with ``key``, if any) that keeps every answer's headers
    and body in ``answers`` (not an event stream's), for the tests that scan them for secrets."""

    def keep(answer: httpx.Response) -> None:
        if not answer.request.url.path.endswith("/stream"):
            answer.read()
            answers.append(f"{answer.headers}\n{answer.text}")

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(
        base_url=api.url, headers=headers, timeout=30, event_hooks={"response": [keep]}
    )

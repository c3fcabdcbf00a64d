"""``tilik api`` in a test: the real service on a real socket, as its own Kafka principal, and
keys issued as the operator the way ``tilik keys`` issues them."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from structlog.testing import capture_logs

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


@dataclass
class ServiceLogs:
    """What was logged while ``logs_collected`` ran: stdlib records and structlog events."""

    lines: list[str] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)

    def text(self) -> str:
        return "\n".join([*self.lines, *(json.dumps(e, default=str) for e in self.events)])


class _Collect(logging.Handler):
    def __init__(self, logs: ServiceLogs) -> None:
        super().__init__(logging.INFO)
        self.logs = logs

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(("httpx", "httpcore")):  # the tests' own client
            self.logs.lines.append(self.format(record))


@contextmanager
def logs_collected() -> Iterator[ServiceLogs]:
    """Every log line written while the block runs (a service's too, in its own thread), to be
    scanned for what must never be logged."""
    logs = ServiceLogs()
    handler = _Collect(logs)
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        with capture_logs() as events:
            logs.events = events
            yield logs
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


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

"""``tilik api`` in a test: the real service on a real socket, as its own Kafka principal, keys
issued as the operator the way ``tilik keys`` issues them, and the records it serves (cameras,
their health, dispatches) written to the broker."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator, Mapping
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
from topics import identity
from topics.access.roles import api_role
from topics.admin import apply_catalog
from topics.catalog import CAMERA_REGISTRY, CAMERA_STATUS, ack_spec, dispatch_spec
from topics.client import CatalogProducer
from topics.examples import example
from topics.models import ApiKeyKind, CameraRecord, CameraState, CameraStatus, Dispatch, utcnow

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


@contextmanager
def running_api_for(principals: Any, *agencies: str) -> Iterator[RunningApi]:
    """The service as the API's principal, with the dispatch and acknowledgement topics of
    ``agencies`` made first (``principals``: the session's ``kafka_principals``)."""
    apply_catalog(
        [spec for agency in agencies for spec in (dispatch_spec(agency), ack_spec(agency))],
        replication_factor=1,
    )
    with running_api(api_settings(principals.issue(api_role()))) as running:
        yield running


def http_client(api: RunningApi, key: str | None = None, **options: Any) -> httpx.Client:
    """A client of the running service, presenting ``key`` when given."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=api.url, headers=headers, **{"timeout": 60, **options})


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

    return http_client(api, key, timeout=30, event_hooks={"response": [keep]})


def make_dispatch(agency: str, seed: str, **alert: Any) -> Dispatch:
    """A dispatch to ``agency`` of a new alert (``alert`` overrides its fields), routed now."""
    base = example(Dispatch, seed)
    opened = base.alert.model_copy(update=alert)
    sequence = opened.sequence
    return base.model_copy(
        update={
            "agency": agency,
            "alert": opened,
            "dispatch_id": identity.dispatch_id(
                alert_id=opened.alert_id, agency=agency, sequence=sequence, escalation_level=0
            ),
            "idempotency_key": identity.idempotency_key(
                alert_id=opened.alert_id, agency=agency, sequence=sequence
            ),
            "routed_at": utcnow(),
        }
    )


def publish(*dispatches: Dispatch) -> None:
    async def send() -> None:
        async with CatalogProducer(client_id="test-dispatch") as producer:
            for dispatch in dispatches:
                await producer.send(dispatch_spec(dispatch.agency), dispatch)

    asyncio.run(send())


def publish_cameras(
    *records: CameraRecord | tuple[str, None], states: Mapping[str, CameraState] | None = None
) -> None:
    """Registry records (a ``(camera_id, None)`` pair: a tombstone), each with a health check
    just made (its state from ``states``, else the example's)."""

    async def send() -> None:
        async with CatalogProducer(client_id="test-registry") as producer:
            for record in records:
                if isinstance(record, tuple):
                    await producer.send(CAMERA_REGISTRY, None, key=record[0])
                    continue
                await producer.send(CAMERA_REGISTRY, record)
                status = example(CameraStatus, record.camera_id).model_copy(
                    update={"camera_id": record.camera_id, "checked_at": utcnow()}
                )
                if states and record.camera_id in states:
                    status = status.model_copy(update={"state": states[record.camera_id]})
                await producer.send(CAMERA_STATUS, status)

    asyncio.run(send())

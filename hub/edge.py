"""The hub's Kafka edges inside Faust: catalog topics as raw bytes, validated on the way in and out.

Faust does its own Kafka I/O, so catalog topics are declared with raw serializers: payloads are
checked with ``topics.codec`` on the way out here, and on the way in by ``hub.isolation``, where
what fails becomes a dead letter (with its source topic, partition and offset) and the agent
carries on with the next record.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import faust
import structlog
from pydantic import BaseModel

from topics import codec
from topics.catalog import DEAD_LETTERS, TopicSpec
from topics.models import DeadLetter

log = structlog.get_logger(__name__)


class CatalogTopics:
    """Faust topic objects for catalog specs, declared once per app with the catalog's partitions."""

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self._topics: dict[str, faust.TopicT] = {}

    def topic(self, spec: TopicSpec) -> faust.TopicT:
        if spec.name not in self._topics:
            self._topics[spec.name] = self.app.topic(
                spec.name,
                partitions=spec.partitions,
                internal=False,
                key_serializer="raw",
                value_serializer="raw",
            )
        return self._topics[spec.name]

    def topics(self, specs: list[TopicSpec]) -> faust.TopicT:
        """One Faust topic over several catalog topics of one payload (an agent reads them all)."""
        key = ",".join(sorted(spec.name for spec in specs))
        if key not in self._topics:
            self._topics[key] = self.app.topic(
                *sorted(spec.name for spec in specs),
                internal=False,
                key_serializer="raw",
                value_serializer="raw",
            )
        return self._topics[key]

    async def send(
        self,
        spec: TopicSpec,
        value: BaseModel,
        *,
        key: str | None = None,
        extra_headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[Any]:
        """Publish one payload (batched by the producer); returns the delivery future.

        Faust flushes the producer before it commits the offsets of the message being processed,
        so a crash means reprocessing, not a lost send. An agent that also changes table state
        must await delivery first: otherwise the state could survive a crash without its output.
        """
        payload = codec.encode(spec, value)
        record_key = key if key is not None else codec.record_key(spec, value)
        headers = codec.headers_for(spec) + list(extra_headers or [])
        return await self._produce(
            spec.name, record_key.encode() if record_key is not None else None, payload, headers
        )

    async def send_json(
        self,
        topic: faust.TopicT,
        key: str,
        value: dict[str, Any],
        *,
        partition: int | None = None,
    ) -> asyncio.Future[Any]:
        """Publish to a hub-internal JSON topic (``Hub.internal_topic``); returns the delivery.

        Sent the same direct way as catalog payloads; ``partition`` overrides the key's partition
        (a timer's message goes where the state it concerns lives).
        """
        return await self._produce(
            topic.get_topic_name(),
            json.dumps(key).encode(),
            json.dumps(value, separators=(",", ":")).encode(),
            None,
            partition,
        )

    async def _produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: list[tuple[str, bytes]] | None,
        partition: int | None = None,
    ) -> asyncio.Future[Any]:
        # Straight to the app's producer: Faust's topic send adds a future, sensor calls and a
        # coroutine per message on the hot path, and the producer is the same one Faust flushes
        # before committing.
        future = await self.app.producer.send(topic, key, value, partition, None, headers)
        delivery = asyncio.ensure_future(future)
        delivery.add_done_callback(_report_failure)
        return delivery

    async def dead_letter(self, letter: DeadLetter) -> None:
        key = letter.source_topic or letter.source_device or letter.component
        await self.send(DEAD_LETTERS, letter, key=key)


def _report_failure(future: Any) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("publish failed", error_type=type(future.exception()).__name__)

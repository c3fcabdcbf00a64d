"""The hub's Kafka edges inside Faust: its topics and tables declared once, and its one send path.

Catalog topics are declared raw to Faust: payloads are checked with ``topics.codec`` on the way
out here, and on the way in by ``hub.isolation``, where what fails becomes a dead letter (with its
source topic, partition and offset) and the agent carries on with the next record. Hub-internal
topics carry JSON of the hub's own message models, raw to Faust for the same reason.

Every record the hub produces goes through ``Edges.send``, which hands it to Faust's topic API
(and so to the app's producer, which Faust flushes before it commits the offsets of the message
being processed: a crash means reprocessing, not a lost send).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

import faust
import structlog
from faust.types import TableT
from pydantic import BaseModel

from topics import codec
from topics.catalog import DEAD_LETTERS, TopicSpec
from topics.models import DeadLetter

log = structlog.get_logger(__name__)

# Completes when the broker has the record (its RecordMetadata); fails if the send failed.
Delivery = asyncio.Future[Any]


class Edges:
    """One worker's Faust topics and tables, by catalog declaration or internal name."""

    def __init__(self, app: faust.App, app_id: str) -> None:
        self.app = app
        self.app_id = app_id
        self._topics: dict[str, faust.TopicT] = {}
        # Hub-private topics and their partitions: the worker creates them before it starts.
        self.internal_topics: dict[str, int] = {}

    def topic(self, spec: TopicSpec) -> faust.TopicT:
        """The Faust topic of one catalog topic."""
        return self._declared(spec.name, partitions=spec.partitions, internal=False)

    def topics(self, specs: Iterable[TopicSpec]) -> faust.TopicT:
        """One Faust topic over several catalog topics of one payload (an agent reads them all)."""
        names = sorted(spec.name for spec in specs)
        key = ",".join(names)
        if key not in self._topics:
            self._topics[key] = self.app.topic(
                *names, internal=False, key_serializer="raw", value_serializer="raw"
            )
        return self._topics[key]

    def internal_topic(self, name: str, partitions: int) -> faust.TopicT:
        """A hub-private topic of JSON records, partitioned like the table its messages update.

        Named after the app id (the hub's ACLs cover that prefix); read with
        ``hub.isolation.internal_json``, written with ``post``.
        """
        full_name = f"{self.app_id}-{name}"
        self.internal_topics[full_name] = partitions
        return self._declared(full_name, partitions=partitions, internal=True)

    def table(self, name: str, partitions: int) -> TableT:
        """A changelog-backed table of JSON keys and values."""
        return self.app.Table(
            name,
            partitions=partitions,
            schema=faust.Schema(key_serializer="json", value_serializer="json"),
        )

    async def publish(
        self,
        spec: TopicSpec,
        value: BaseModel,
        *,
        key: str | None = None,
        extra_headers: Iterable[tuple[str, bytes]] = (),
    ) -> Delivery:
        """One catalog payload, validated and encoded as its topic declares."""
        payload = codec.encode(spec, value)
        record_key = key if key is not None else codec.record_key(spec, value)
        return await self.send(
            self.topic(spec),
            record_key.encode() if record_key is not None else None,
            payload,
            [*codec.headers_for(spec), *extra_headers],
        )

    async def tombstone(self, spec: TopicSpec, key: str) -> Delivery:
        """A tombstone on a compacted catalog topic: the key's record is gone."""
        return await self.send(self.topic(spec), key.encode(), None, codec.headers_for(spec))

    async def post(
        self, topic: faust.TopicT, key: str, message: BaseModel, *, partition: int | None = None
    ) -> Delivery:
        """One message to a hub-internal topic; ``partition`` overrides the key's (a timer's
        message goes where the state it concerns lives)."""
        return await self.send(
            topic,
            json.dumps(key).encode(),
            message.model_dump_json().encode(),
            None,
            partition,
        )

    async def dead_letter(self, letter: DeadLetter) -> Delivery:
        key = letter.source_topic or letter.source_device or letter.component
        return await self.publish(DEAD_LETTERS, letter, key=key)

    async def send(
        self,
        topic: faust.TopicT,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]] | None,
        partition: int | None = None,
    ) -> Delivery:
        """The one send path: Faust's topic API, batched by the producer; returns the delivery.

        An agent that also changes table state must wait for the delivery first (``hub.batching``):
        otherwise the state could survive a crash without its output.
        """
        delivery = await topic.send(key=key, value=value, headers=headers, partition=partition)
        future = asyncio.ensure_future(delivery)
        future.add_done_callback(_report_failure)
        return future

    def _declared(self, name: str, *, partitions: int, internal: bool) -> faust.TopicT:
        if name not in self._topics:
            self._topics[name] = self.app.topic(
                name,
                partitions=partitions,
                internal=internal,
                key_serializer="raw",
                value_serializer="raw",
            )
        return self._topics[name]


def _report_failure(future: Delivery) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("publish failed", error_type=type(future.exception()).__name__)

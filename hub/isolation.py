"""Per-record fault isolation for every hub agent: a record that cannot be decoded or processed is
dead-lettered with its source and the reason, and the agent goes on with the next one.

Every agent hands each record to ``RecordIsolation.handle`` with a decoder and its processing,
the two exception handlers of Kafka Streams:

- **deserialization**: the decoder (``catalog_payload``, ``catalog_entry``, ``internal_json``)
  raises ``InvalidMessage`` for a record that is not what its topic declares (a payload failing
  validation, a header name that is not UTF-8, an internal record that is not JSON); it becomes
  an ``invalid_message`` dead letter;
- **processing**: ``topics.faults.RecordFaults.run``, the translation boundary where any
  failure of one valid record's processing becomes a ``processing_failed`` dead letter.

Either way ``handle`` returns normally: Faust acknowledges the record and commits past it, so no
record can stop an agent or put a restarted worker into a crash loop.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from hub.edge import Edges
from topics import codec
from topics.catalog import TopicSpec
from topics.faults import RecordFaults

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

# From a record (a Faust ``Message`` or one the hub fetched itself) to what the agent works on.
Decoder = Callable[[Any], T]


def message_headers(message: Any) -> list[tuple[str, bytes]]:
    raw: Any = message.headers or []
    items = raw.items() if isinstance(raw, dict) else raw
    return [(str(name), bytes(value) if value is not None else b"") for name, value in items]


def catalog_payload(spec: TopicSpec, model: type[M]) -> Decoder[M]:
    """A record of ``spec`` as its payload (no tombstones: a null value is invalid)."""

    def decode(message: Any) -> M:
        return codec.decode_as(spec, model, message.value, message_headers(message))

    return decode


def catalog_entry(spec: TopicSpec) -> Decoder[tuple[str, BaseModel | None]]:
    """A record of compacted ``spec`` as (key, payload or ``None`` for a tombstone)."""

    def decode(message: Any) -> tuple[str, BaseModel | None]:
        value = codec.decode(spec, message.value, message_headers(message))
        try:
            key = message.key.decode("utf-8") if message.key is not None else ""
        except UnicodeDecodeError:
            raise codec.InvalidMessage("record key is not UTF-8 text") from None
        if value is None and not key:
            raise codec.InvalidMessage(f"tombstone without a key on {spec.name}")
        return key, value

    return decode


def internal_json(message: Any) -> tuple[Any, Any]:
    """A record of a hub-internal topic (``Hub.internal_topic``): its JSON key and value."""
    try:
        key = json.loads(message.key) if message.key is not None else None
        value = json.loads(message.value) if message.value is not None else None
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, or nested beyond reason
        raise codec.InvalidMessage(
            f"record of {message.topic} is not JSON: {type(exc).__name__}"
        ) from None
    return key, value


class RecordIsolation:
    """Decodes and processes records one by one for one component of the hub (see the module)."""

    def __init__(self, edges: Edges, component: str) -> None:
        self.component = component
        self._faults = RecordFaults(component, edges.dead_letter)

    async def handle(
        self, event: Any, decode: Decoder[T], process: Callable[[T], Awaitable[None]]
    ) -> None:
        """Decode and process one record; whatever fails, the record is handled when this returns."""
        message = event.message

        async def work() -> None:
            try:
                value = decode(message)
            except codec.InvalidMessage as exc:
                await self._faults.refuse(message, exc.reason)
                return
            await process(value)

        # A decoder that fails other than by refusing the record is a defect like any other.
        await self._faults.run(message, work)

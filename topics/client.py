"""The typed Kafka layer connectors and the hub share: a catalog producer and a validating consumer.

``CatalogProducer`` publishes pydantic payloads to catalog topics (idempotent, ``acks=all``, schema
headers, keys from the declaration). ``CatalogConsumer`` yields validated ``Received`` messages and
sends anything invalid to the dead-letter topic with the reason, then carries on; its ``process``
does the same for a message whose processing fails. ``read_table`` and ``read_records`` read a
topic to its end without a group (``topics.reader``), dead-lettering invalid records the same way.

Delivery is at-least-once. A message counts as processed once the caller asks for the next one
(or calls ``commit()``); processed offsets are committed every ``commit_interval_s``, before
partitions are revoked and on close. A crash between processing and commit means the message is
seen again, so handlers must tolerate repeats (every catalog payload carries a stable id for that).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar, cast

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError
from aiokafka.structs import RecordMetadata
from pydantic import BaseModel

from core.lifecycle import Lifecycle
from core.settings import Settings
from topics import codec
from topics.catalog import DEAD_LETTERS, TopicSpec
from topics.connection import (
    authorization_refused,
    connection_config,
    refusal_named,
    start_client,
)
from topics.deadletters import make_dead_letter
from topics.faults import RecordFaults
from topics.models import DeadLetter
from topics.reader import ReadStart, Received, TopicReader, receive

__all__ = [
    "CatalogConsumer",
    "CatalogProducer",
    "PartitionCallback",
    "Received",
    "make_dead_letter",
    "read_records",
    "read_table",
]

log = structlog.get_logger(__name__)

R = TypeVar("R")

PartitionCallback = Callable[[set[TopicPartition]], Awaitable[None]]


def _compression() -> str | None:
    """lz4 when its binding is installed, else gzip (built into Python)."""
    from aiokafka.codec import has_lz4

    return "lz4" if has_lz4() else "gzip"


class CatalogProducer(Lifecycle):
    """Publishes catalog payloads: type-checked against the topic, keyed, with schema headers."""

    def __init__(
        self,
        bootstrap: str | None = None,
        *,
        client_id: str = "tilik",
        settings: Settings | None = None,
        **extra: Any,
    ) -> None:
        options: dict[str, Any] = {
            **connection_config(bootstrap, settings=settings),
            "client_id": client_id,
            "enable_idempotence": True,
            "acks": "all",
            "linger_ms": 5,
            "compression_type": _compression(),
            "max_request_size": codec.MAX_MESSAGE_BYTES + 64 * 1024,
        }
        options.update(extra)
        self._options = options
        self._producer = AIOKafkaProducer(**options)
        self._started = False

    async def start(self) -> None:
        if not self._started:
            await start_client(self._producer, self._options)
            self._started = True

    async def stop(self) -> None:
        if self._started:
            self._started = False
            await self._producer.stop()

    def _prepare(
        self,
        spec: TopicSpec,
        value: BaseModel | None,
        key: str | None,
        headers: Iterable[tuple[str, bytes]] | None,
    ) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]:
        # Refuse here what every consumer would refuse at its edge (see CatalogConsumer._accept).
        if value is None:
            if key is None:
                raise ValueError(f"a tombstone on {spec.name} needs a key")
            if "compact" not in spec.cleanup_policy:
                raise ValueError(f"{spec.name} is not compacted: a tombstone means nothing there")
            payload = None
        else:
            payload = codec.encode(spec, value)
            if len(payload) > codec.MAX_MESSAGE_BYTES:
                raise codec.InvalidMessage(
                    f"{type(value).__name__} of {len(payload)} bytes exceeds the "
                    f"{codec.MAX_MESSAGE_BYTES} byte limit of {spec.name}"
                )
            if key is None:
                key = codec.record_key(spec, value)
        all_headers = codec.headers_for(spec)
        if headers:
            all_headers.extend(headers)
        return (key.encode("utf-8") if key is not None else None), payload, all_headers

    async def enqueue(
        self,
        spec: TopicSpec,
        value: BaseModel | None,
        *,
        key: str | None = None,
        headers: Iterable[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[RecordMetadata]:
        """Queue one payload for sending; await the returned future for its acknowledgement.

        Waits only when the client's buffer is full, so a burst is batched by the client.
        """
        raw_key, payload, all_headers = self._prepare(spec, value, key, headers)
        return await self._send(spec.name, payload, raw_key, all_headers)

    async def _delivered(
        self, future: asyncio.Future[RecordMetadata], topic: str
    ) -> RecordMetadata:
        """The broker's acknowledgement; a refusal by ACL is the one-line error naming the principal."""
        with refusal_named(self._options, f"write to {topic}"):
            return await future

    async def _send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: list[tuple[str, bytes]],
    ) -> asyncio.Future[RecordMetadata]:
        # aiokafka looks the topic up before queueing: a topic the principal may not write fails here.
        with refusal_named(self._options, f"write to {topic}"):
            return await self._producer.send(topic, value, key=key, headers=headers)

    async def send(
        self,
        spec: TopicSpec,
        value: BaseModel | None,
        *,
        key: str | None = None,
        headers: Iterable[tuple[str, bytes]] | None = None,
    ) -> RecordMetadata:
        """Publish one payload (``None`` is a tombstone and needs ``key``); returns once acknowledged."""
        future = await self.enqueue(spec, value, key=key, headers=headers)
        return await self._delivered(future, spec.name)

    async def send_batch(
        self, spec: TopicSpec, values: Iterable[BaseModel]
    ) -> list[RecordMetadata]:
        """Publish many payloads at once (batched by the client), then wait for every acknowledgement."""
        futures = [await self.enqueue(spec, value) for value in values]
        return list(await asyncio.gather(*(self._delivered(f, spec.name) for f in futures)))

    async def enqueue_raw(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: Iterable[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[RecordMetadata]:
        """Queue bytes without validation: for operators injecting or replaying exact input."""
        return await self._send(topic, value, key, list(headers or []))

    async def send_raw(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: Iterable[tuple[str, bytes]] | None = None,
    ) -> RecordMetadata:
        """Publish bytes without validation and wait for the acknowledgement."""
        future = await self.enqueue_raw(topic, value, key=key, headers=headers)
        return await self._delivered(future, topic)

    async def dead_letter(self, letter: DeadLetter) -> RecordMetadata:
        """Publish a dead letter, keyed by its source topic (or device) so a source's letters stay in order."""
        key = codec.record_key(DEAD_LETTERS, letter) or letter.component
        return await self.send(DEAD_LETTERS, letter, key=key)

    async def flush(self) -> None:
        await self._producer.flush()


class _DeadLetterSink:
    """Publishes dead letters through a given producer, or one of its own started on demand."""

    def __init__(
        self,
        component: str,
        producer: CatalogProducer | None,
        bootstrap: str | None,
        settings: Settings | None,
    ) -> None:
        self.component = component
        self._producer = producer
        self._own: CatalogProducer | None = None
        self._bootstrap = bootstrap
        self._settings = settings

    async def publish(self, letter: DeadLetter) -> None:
        producer = self._producer
        if producer is None:
            if self._own is None:
                self._own = CatalogProducer(
                    self._bootstrap,
                    client_id=f"tilik-{self.component}-dlq",
                    settings=self._settings,
                )
                await self._own.start()
            producer = self._own
        await producer.dead_letter(letter)

    async def close(self) -> None:
        if self._own is not None:
            await self._own.stop()
            self._own = None


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, consumer: CatalogConsumer) -> None:
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._consumer._partitions_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._consumer._partitions_assigned(set(assigned))


class CatalogConsumer(Lifecycle):
    """Consumes catalog topics as validated payloads; invalid input goes to the dead letters.

    ``group_id=None`` reads without a consumer group (nothing committed; a viewer). Offsets are
    committed manually: see the module docstring for the at-least-once contract.
    """

    def __init__(
        self,
        *specs: TopicSpec,
        group_id: str | None,
        component: str,
        bootstrap: str | None = None,
        producer: CatalogProducer | None = None,
        auto_offset_reset: str = "earliest",
        on_assign: PartitionCallback | None = None,
        on_revoke: PartitionCallback | None = None,
        yield_invalid: bool = False,
        commit_interval_s: float = 5.0,
        poll_timeout_s: float = 1.0,
        settings: Settings | None = None,
        **extra: Any,
    ) -> None:
        if not specs:
            raise ValueError("a consumer needs at least one topic")
        self.specs = {spec.name: spec for spec in specs}
        self.group_id = group_id
        self.component = component
        self._dead_letters = _DeadLetterSink(component, producer, bootstrap, settings)
        self._faults = RecordFaults(component, self._dead_letters.publish)
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        self._yield_invalid = yield_invalid
        self._commit_interval_s = commit_interval_s
        self._poll_timeout_ms = int(poll_timeout_s * 1000)
        options: dict[str, Any] = {
            **connection_config(bootstrap, settings=settings),
            "group_id": group_id,
            "client_id": f"tilik-{component}",
            "enable_auto_commit": False,
            "auto_offset_reset": auto_offset_reset,
            # Oversized messages must reach the edge to be dead-lettered, not stall the fetcher.
            "max_partition_fetch_bytes": 2 * codec.MAX_MESSAGE_BYTES,
        }
        options.update(extra)
        self._options = options
        self._consumer = AIOKafkaConsumer(**options)
        self._buffer: deque[ConsumerRecord[bytes, bytes]] = deque()
        self._in_hand: ConsumerRecord[bytes, bytes] | None = None
        self._processed: dict[TopicPartition, int] = {}
        self._last_commit = time.monotonic()
        self._started = False
        self._stopped = False

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        await start_client(self._consumer, self._options)
        self._consumer.subscribe(list(self.specs), listener=_Rebalance(self))
        self._started = True

    async def stop(self, *, processed_last: bool = True) -> None:
        """Commit and leave the group. ``processed_last=False`` leaves the message in hand uncommitted."""
        if not self._started:
            return
        self._started = False
        self._stopped = True
        if not processed_last:
            self._in_hand = None
        try:
            await self.commit()
        finally:
            await self._consumer.stop()
            await self._dead_letters.close()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Leaving on an error means the message in hand was not processed: it must be seen again.
        await self.stop(processed_last=exc is None)

    # --- offsets -----------------------------------------------------------------------

    def _mark(self, record: ConsumerRecord[bytes, bytes]) -> None:
        self._processed[TopicPartition(record.topic, record.partition)] = record.offset + 1

    def _mark_in_hand(self) -> None:
        if self._in_hand is not None:
            self._mark(self._in_hand)
            self._in_hand = None

    async def _commit_processed(self, partitions: set[TopicPartition]) -> bool:
        offsets = {tp: off for tp, off in self._processed.items() if tp in partitions}
        for tp in offsets:
            del self._processed[tp]
        if not offsets or self.group_id is None:
            return True
        try:
            await self._consumer.commit(offsets)
        except CommitFailedError:
            # The group rebalanced first; the new owner re-reads from the last commit (at-least-once).
            log.warning(
                "offsets not committed: the group rebalanced; messages will be delivered again",
                group=self.group_id,
                partitions=len(offsets),
            )
            return False
        return True

    async def commit(self) -> bool:
        """Commit every processed offset, including that of the message handed out last.

        Returns False when the group rebalanced before the commit (those messages come again).
        """
        self._mark_in_hand()
        self._last_commit = time.monotonic()
        return await self._commit_processed(self._consumer.assignment())

    async def _partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # Commit before another member takes these partitions, so it starts where we stopped.
        self._mark_in_hand()
        await self._commit_processed(revoked)
        self._buffer = deque(
            r for r in self._buffer if TopicPartition(r.topic, r.partition) not in revoked
        )
        if self._on_revoke is not None:
            await self._on_revoke(revoked)

    async def _partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        if self._on_assign is not None:
            await self._on_assign(assigned)

    def assignment(self) -> set[TopicPartition]:
        return set(self._consumer.assignment())

    async def end_offsets(self) -> dict[TopicPartition, int]:
        """The current end offset of every assigned partition (empty before the first assignment,
        which the first ``next`` brings)."""
        assigned = list(self._consumer.assignment())
        return dict(await self._consumer.end_offsets(assigned)) if assigned else {}

    async def caught_up(self, ends: Mapping[TopicPartition, int]) -> bool:
        """Whether every message before ``ends`` (``end_offsets()`` taken earlier) has been
        handed out or dead-lettered, on each of those partitions still assigned here."""
        assigned = self._consumer.assignment()
        for tp, end in ends.items():
            if tp in assigned and await self._next_offset(tp) < end:
                return False
        return True

    async def _next_offset(self, tp: TopicPartition) -> int:
        """The offset of the next message this consumer hands out from ``tp``."""
        for record in self._buffer:
            if record.topic == tp.topic and record.partition == tp.partition:
                return int(record.offset)
        return int(await self._consumer.position(tp))

    async def seek_to_beginning(self) -> None:
        """Re-read every assigned partition from its first retained offset."""
        self._buffer.clear()
        self._in_hand = None
        await self._consumer.seek_to_beginning()

    # --- messages ----------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Received]:
        return self

    async def __anext__(self) -> Received:
        while True:
            received = await self.next(timeout_s=None)
            if received is not None:
                return received

    async def next(self, timeout_s: float | None = None) -> Received | None:
        """The next valid message, or ``None`` when ``timeout_s`` passes without one.

        Asking for the next message marks the previous one processed.
        """
        if not self._started:
            if self._stopped:
                raise RuntimeError(f"{self.component}: the consumer is stopped")
            await self.start()
        self._mark_in_hand()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            if time.monotonic() - self._last_commit >= self._commit_interval_s:
                await self.commit()
            while self._buffer:
                record = self._buffer.popleft()
                try:
                    received = await self._accept(record)
                except BaseException:
                    # Not handled (e.g. the dead letter could not be published): keep it first in
                    # line, so a later commit can never move past it.
                    self._buffer.appendleft(record)
                    raise
                if received is not None:
                    self._in_hand = record
                    return received
            wait_ms = self._poll_timeout_ms
            if deadline is not None:
                wait_ms = min(wait_ms, int((deadline - time.monotonic()) * 1000))
                if wait_ms <= 0:
                    return None
            with refusal_named(self._options, self._reading()):
                batches = await self._consumer.getmany(timeout_ms=wait_ms)
            self._check_authorized()
            for records in batches.values():
                self._buffer.extend(records)

    def _reading(self) -> str:
        topics = ", ".join(sorted(self.specs))
        return f"read {topics}" + (f" in group {self.group_id}" if self.group_id else "")

    def _check_authorized(self) -> None:
        # aiokafka logs a subscribed topic the principal may not read and then waits on it
        # forever; here it is an error the caller sees.
        refused = set(self.specs) & self._consumer._client.cluster.unauthorized_topics
        if refused:
            raise authorization_refused(self._options, f"read {', '.join(sorted(refused))}")

    async def process(
        self, received: Received, handle: Callable[[Received], R | Awaitable[R]]
    ) -> R | None:
        """``handle(received)`` for the message in hand; if it raises, the message is dead-lettered
        as ``processing_failed`` and counts as handled (``topics.faults``), and ``None`` returns."""
        record = self._in_hand
        if record is None or (record.partition, record.offset) != (
            received.partition,
            received.offset,
        ):
            raise ValueError(f"{self.component}: only the message in hand can be processed")

        async def work() -> R:
            outcome = handle(received)
            if inspect.isawaitable(outcome):
                return cast(R, await outcome)
            return outcome

        return await self._faults.run(record, work)

    async def _accept(self, record: ConsumerRecord[bytes, bytes]) -> Received | None:
        # Only once the dead letter is acknowledged is the bad message counted as handled.
        received = await receive(
            self.specs[record.topic],
            record,
            faults=None if self._yield_invalid else self._faults,
        )
        if received is None:
            self._mark(record)
        return received


async def read_table(
    spec: TopicSpec,
    *,
    bootstrap: str | None = None,
    component: str = "read-table",
    producer: CatalogProducer | None = None,
    settings: Settings | None = None,
    timeout_s: float = 120.0,
) -> dict[str, BaseModel]:
    """Read a compacted topic from the start to its current end: the latest value per key.

    Tombstones remove their key. Invalid records (a record without a key included) are
    dead-lettered (through ``producer`` when given) and skipped. No consumer group is used, so
    nothing is committed. Raises ``TimeoutError`` when the end is not reached within ``timeout_s``.
    """
    table: dict[str, BaseModel] = {}
    for received in await read_records(
        spec,
        bootstrap=bootstrap,
        component=component,
        producer=producer,
        settings=settings,
        timeout_s=timeout_s,
        require_key=True,
    ):
        assert received.key is not None
        if received.value is None:
            table.pop(received.key, None)
        else:
            table[received.key] = received.value
    return table


async def read_records(
    spec: TopicSpec,
    *,
    start: ReadStart = "beginning",
    bootstrap: str | None = None,
    component: str = "read-records",
    producer: CatalogProducer | None = None,
    dead_letter_invalid: bool = True,
    require_key: bool = False,
    settings: Settings | None = None,
    timeout_s: float = 120.0,
) -> list[Received]:
    """Every record of ``spec`` from ``start`` (``topics.reader.ReadStart``: the beginning, a
    broker timestamp, offsets by partition) to the topic's current end, in order per partition.

    Invalid records are dead-lettered (through ``producer`` when given) and skipped, or, with
    ``dead_letter_invalid=False``, returned with ``error`` set. No consumer group is used.
    Raises ``TimeoutError`` when the end is not reached within ``timeout_s``.
    """
    dead_letters = _DeadLetterSink(component, producer, bootstrap, settings)
    reader = TopicReader(
        spec,
        component=component,
        start=start,
        faults=RecordFaults(component, dead_letters.publish) if dead_letter_invalid else None,
        require_key=require_key,
        bootstrap=bootstrap,
        settings=settings,
    )
    try:
        async with asyncio.timeout(timeout_s), reader:
            return [received async for received in reader]
    finally:
        await dead_letters.close()

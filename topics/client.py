"""The typed Kafka layer connectors and the hub share: a catalog producer and a validating consumer.

``CatalogProducer`` publishes pydantic payloads to catalog topics (idempotent, ``acks=all``, schema
headers, keys from the declaration). ``CatalogConsumer`` yields validated ``Received`` messages and
sends anything invalid to the dead-letter topic with the reason, then carries on; its ``process``
does the same for a message whose processing fails.

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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self, TypeVar, cast

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import BrokerResponseError, CommitFailedError, KafkaConnectionError
from aiokafka.structs import RecordMetadata
from pydantic import BaseModel

from core.settings import Settings
from topics import codec
from topics.catalog import DEAD_LETTERS, TopicSpec
from topics.connection import (
    authorization_refused,
    connection_config,
    diagnose_refusal,
    refused_operation,
)
from topics.deadletters import make_dead_letter
from topics.faults import RecordFaults
from topics.models import EARLIEST, LATEST, DeadLetter

__all__ = [
    "CatalogConsumer",
    "CatalogProducer",
    "PartitionCallback",
    "Received",
    "make_dead_letter",
    "read_table",
]

log = structlog.get_logger(__name__)

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")

PartitionCallback = Callable[[set[TopicPartition]], Awaitable[None]]


async def _started(client: AIOKafkaProducer | AIOKafkaConsumer, options: dict[str, Any]) -> None:
    """Start an aiokafka client; refused credentials become one ``AuthenticationRefused``.

    aiokafka reports them only as "unable to bootstrap"; ``diagnose_refusal`` tells which it was.
    """
    try:
        await client.start()
    except KafkaConnectionError:
        await client.stop()
        refusal = await diagnose_refusal(options)
        if refusal is not None:
            raise refusal from None
        raise


def _compression() -> str | None:
    """lz4 when its binding is installed, else gzip (built into Python)."""
    from aiokafka.codec import has_lz4

    return "lz4" if has_lz4() else "gzip"


class CatalogProducer:
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
            await _started(self._producer, self._options)
            self._started = True

    async def stop(self) -> None:
        if self._started:
            self._started = False
            await self._producer.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

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
        try:
            return await future
        except BrokerResponseError as exc:
            refused = refused_operation(exc, self._options, f"write to {topic}")
            if refused is not None:
                raise refused from None
            raise

    async def _send(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: list[tuple[str, bytes]],
    ) -> asyncio.Future[RecordMetadata]:
        try:
            future = await self._producer.send(topic, value, key=key, headers=headers)
        except BrokerResponseError as exc:
            # aiokafka looks the topic up before queueing: a topic the principal may not write fails here.
            refused = refused_operation(exc, self._options, f"write to {topic}")
            if refused is not None:
                raise refused from None
            raise
        return future

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


@dataclass(frozen=True)
class Received:
    """One consumed message: a validated payload (``None`` for a tombstone) and where it came from.

    ``error`` is set only by consumers built with ``yield_invalid=True`` (viewers such as
    ``tilik tail``): the message failed validation, ``value`` is ``None`` and ``raw`` holds the bytes.
    """

    spec: TopicSpec
    key: str | None
    value: BaseModel | None
    partition: int
    offset: int
    timestamp: datetime
    headers: dict[str, bytes] = field(default_factory=dict)
    error: str | None = None
    raw: bytes | None = None

    @property
    def topic(self) -> str:
        return self.spec.name

    def value_as(self, model: type[M]) -> M:
        """The payload as ``model``; a tombstone or an invalid message raises ``TypeError``."""
        if not isinstance(self.value, model):
            what = self.error or (
                "a tombstone" if self.value is None else type(self.value).__name__
            )
            raise TypeError(f"{self.topic}@{self.offset} is not a {model.__name__}: {what}")
        return self.value

    @property
    def is_tombstone(self) -> bool:
        return self.value is None and self.error is None


def _received_at(record: ConsumerRecord[bytes, bytes]) -> datetime:
    """The record's timestamp; one a producer made up outside the catalog's time range is moved
    to the nearest end of it (the timestamp is only shown, never judged)."""
    millis = record.timestamp if record.timestamp is not None else 0
    seconds = min(max(millis / 1000, EARLIEST.timestamp()), LATEST.timestamp())
    return datetime.fromtimestamp(seconds, UTC)


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


class CatalogConsumer:
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
        await _started(self._consumer, self._options)
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

    async def __aenter__(self) -> Self:
        await self.start()
        return self

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
            try:
                batches = await self._consumer.getmany(timeout_ms=wait_ms)
            except BrokerResponseError as exc:
                refused = refused_operation(exc, self._options, self._reading())
                if refused is not None:
                    raise refused from None
                raise
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
        spec = self.specs[record.topic]
        try:
            key, value = _validate(spec, record)
        except codec.InvalidMessage as exc:
            if not self._yield_invalid:
                # Only once the dead letter is acknowledged is the bad message counted as handled.
                await self._faults.refuse(record, exc.reason)
                self._mark(record)
                return None
            return Received(
                spec=spec,
                key=record.key.decode("utf-8", "replace") if record.key is not None else None,
                value=None,
                partition=record.partition,
                offset=record.offset,
                timestamp=_received_at(record),
                headers=dict(record.headers or ()),
                error=exc.reason,
                raw=record.value,
            )
        return Received(
            spec=spec,
            key=key,
            value=value,
            partition=record.partition,
            offset=record.offset,
            timestamp=_received_at(record),
            headers=dict(record.headers or ()),
        )


def _validate(
    spec: TopicSpec, record: ConsumerRecord[bytes, bytes]
) -> tuple[str | None, BaseModel | None]:
    """A record's key and payload as every consumer edge checks them; raises ``InvalidMessage``."""
    key = None
    if record.key is not None:
        try:
            key = record.key.decode("utf-8")
        except UnicodeDecodeError:
            raise codec.InvalidMessage("record key is not UTF-8 text") from None
    value = codec.decode(spec, record.value, list(record.headers or ()))
    if value is None and "compact" not in spec.cleanup_policy:
        raise codec.InvalidMessage(f"tombstone (null value) on non-compacted {spec.name}")
    if value is None and key is None:
        raise codec.InvalidMessage(f"tombstone without a key on {spec.name}")
    return key, value


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

    Tombstones remove their key. Invalid records are dead-lettered (through ``producer`` when
    given) and skipped. No consumer group is used, so nothing is committed. Raises
    ``TimeoutError`` when the end is not reached within ``timeout_s``.
    """
    async with asyncio.timeout(timeout_s):
        return await _read_table(spec, bootstrap, component, producer, settings)


async def _read_table(
    spec: TopicSpec,
    bootstrap: str | None,
    component: str,
    producer: CatalogProducer | None,
    settings: Settings | None,
) -> dict[str, BaseModel]:
    options = connection_config(bootstrap, settings=settings)
    consumer = AIOKafkaConsumer(
        **options,
        group_id=None,
        enable_auto_commit=False,
        client_id=f"tilik-{component}",
        max_partition_fetch_bytes=2 * codec.MAX_MESSAGE_BYTES,
    )
    await _started(consumer, options)
    table: dict[str, BaseModel] = {}
    dead_letters = _DeadLetterSink(component, producer, bootstrap, settings)
    faults = RecordFaults(component, dead_letters.publish)
    try:
        partitions = consumer.partitions_for_topic(spec.name)
        if partitions is None:
            # aiokafka has no public metadata refresh for a consumer without a subscription.
            # Asking for the topic by name tells a refused topic from a missing one (brokers
            # Tilik runs never create topics on request).
            consumer._client.add_topic(spec.name)
            await consumer._client.force_metadata_update()
            if spec.name in consumer._client.cluster.unauthorized_topics:
                raise authorization_refused(options, f"read {spec.name}")
            partitions = consumer.partitions_for_topic(spec.name) or set()
        tps = [TopicPartition(spec.name, p) for p in sorted(partitions)]
        if not tps:
            return table
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if end[tp] > 0}
        while remaining:
            try:
                batches = await consumer.getmany(*remaining, timeout_ms=1000)
            except BrokerResponseError as exc:
                refused = refused_operation(exc, options, f"read {spec.name}")
                if refused is not None:
                    raise refused from None
                raise
            for records in batches.values():
                for record in records:
                    try:
                        key, value = _validate(spec, record)
                        if key is None:
                            raise codec.InvalidMessage(f"record without a key on {spec.name}")
                    except codec.InvalidMessage as exc:
                        await faults.refuse(record, exc.reason)
                        continue
                    if value is None:
                        table.pop(key, None)
                    else:
                        table[key] = value
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
        return table
    finally:
        await consumer.stop()
        await dead_letters.close()

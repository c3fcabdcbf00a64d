"""Reading a topic without a consumer group, to its end and on: the one mechanism behind registry
tables, histories, operator commands and views that replay a compacted topic and then follow it.

    async with TopicReader(ALERTS, component="hub.alerts", start=since) as reader:
        async for received in reader:           # up to the end the topic had at start()
            ...

    async with TopicReader(CAMERA_REGISTRY, component="hub.registry-view", faults=faults) as view:
        async for received in view.follow():    # the same, then on; view.caught_up once at the end
            ...

Where reading starts is ``start``: ``"beginning"``, ``"end"``, a broker timestamp (``datetime``:
the first record appended at or after it) or offsets by partition (a partition not named starts
at its end). The end of each partition and
where reading starts are looked up before the partitions are assigned, so the client never
fetches from its default position first. The ends are ``ends`` (by partition), fixed at
``start()``: records appended later are past the end, and only ``follow()`` yields them.

Every record is checked at this edge as every Tilik consumer checks it (``validate_record``).
With ``faults`` (``topics.faults.RecordFaults``) an invalid record is dead-lettered and skipped;
without, it is yielded with ``error`` set and its bytes in ``raw`` (a viewer shows it). Nothing is
ever committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pydantic import BaseModel

from core.lifecycle import Lifecycle
from core.settings import Settings
from topics import codec
from topics.catalog import TopicSpec
from topics.connection import (
    authorization_refused,
    connection_config,
    refusal_named,
    start_client,
)
from topics.faults import RecordFaults
from topics.models import EARLIEST, LATEST

__all__ = [
    "ReadStart",
    "Received",
    "TopicNotFound",
    "TopicReader",
    "receive",
    "validate_record",
]

M = TypeVar("M", bound=BaseModel)

#: where a ``TopicReader`` starts: an end, a broker timestamp, or an offset per partition
ReadStart = Literal["beginning", "end"] | datetime | Mapping[int, int]

# How long one fetch waits before positions are looked at again.
_FETCH_WAIT_MS = 1000


class TopicNotFound(LookupError):
    """The topic is not on the broker (the catalog was not applied there)."""


@dataclass(frozen=True)
class Received:
    """One consumed message: a validated payload (``None`` for a tombstone) and where it came from.

    ``error`` is set only where invalid messages are shown rather than dead-lettered (viewers such
    as ``tilik tail``): the message failed validation, ``value`` is ``None`` and ``raw`` holds the
    bytes.
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

    @property
    def ref(self) -> str:
        """Where the message is: ``<partition>-<offset>``, stable for the topic's retention."""
        return f"{self.partition}-{self.offset}"

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


def _timestamp(record: ConsumerRecord[bytes, bytes]) -> datetime:
    """The record's timestamp; one a producer made up outside the catalog's time range is moved
    to the nearest end of it (the timestamp is only shown, never judged)."""
    millis = record.timestamp if record.timestamp is not None else 0
    seconds = min(max(millis / 1000, EARLIEST.timestamp()), LATEST.timestamp())
    return datetime.fromtimestamp(seconds, UTC)


def validate_record(
    spec: TopicSpec, record: ConsumerRecord[bytes, bytes], *, require_key: bool = False
) -> tuple[str | None, BaseModel | None]:
    """A record's key and payload as every consumer edge checks them; raises ``InvalidMessage``.

    ``require_key``: a record without a key is invalid too (a table is keyed).
    """
    key = None
    if record.key is not None:
        try:
            key = record.key.decode("utf-8")
        except UnicodeDecodeError:
            raise codec.InvalidMessage("record key is not UTF-8 text") from None
    elif require_key:
        raise codec.InvalidMessage(f"record without a key on {spec.name}")
    value = codec.decode(spec, record.value, list(record.headers or ()))
    if value is None and "compact" not in spec.cleanup_policy:
        raise codec.InvalidMessage(f"tombstone (null value) on non-compacted {spec.name}")
    if value is None and key is None:
        raise codec.InvalidMessage(f"tombstone without a key on {spec.name}")
    return key, value


async def receive(
    spec: TopicSpec,
    record: ConsumerRecord[bytes, bytes],
    *,
    faults: RecordFaults | None,
    require_key: bool = False,
) -> Received | None:
    """One fetched record at the edge: ``Received`` when valid; when not, dead-lettered through
    ``faults`` (``None`` returns once the dead letter is acknowledged) or, without ``faults``,
    ``Received`` with the reason in ``error``."""
    try:
        key, value = validate_record(spec, record, require_key=require_key)
    except codec.InvalidMessage as exc:
        if faults is not None:
            await faults.refuse(record, exc.reason)
            return None
        return Received(
            spec=spec,
            key=record.key.decode("utf-8", "replace") if record.key is not None else None,
            value=None,
            partition=record.partition,
            offset=record.offset,
            timestamp=_timestamp(record),
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
        timestamp=_timestamp(record),
        headers=dict(record.headers or ()),
    )


class TopicReader(Lifecycle):
    """Reads one catalog topic from ``start`` to its end (iteration) or on past it (``follow``).

    ``faults``: dead-letter invalid records through it (else they are yielded with ``error``).
    ``require_key``: a record without a key is invalid too. Raises ``TopicNotFound`` when the
    topic is not on the broker and ``AuthorizationRefused`` when the principal may not read it.
    """

    def __init__(
        self,
        spec: TopicSpec,
        *,
        component: str,
        start: ReadStart = "beginning",
        faults: RecordFaults | None = None,
        require_key: bool = False,
        bootstrap: str | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.spec = spec
        self.component = component
        self._start = start
        self._faults = faults
        self._require_key = require_key
        self._options = connection_config(bootstrap, settings=settings)
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        #: end offset of each partition when the reader started (reading to the end stops there)
        self.ends: dict[int, int] = {}
        #: offset of each partition where reading started
        self.starts: dict[int, int] = {}
        #: set once every partition has been read up to ``ends``
        self.caught_up = asyncio.Event()

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, look up the partitions, their ends and where reading starts, then assign."""
        if self._consumer is not None:
            return
        consumer = AIOKafkaConsumer(
            **self._options,
            group_id=None,
            enable_auto_commit=False,
            client_id=f"tilik-{self.component}",
            # Oversized messages must reach the edge to be dead-lettered, not stall the fetcher.
            max_partition_fetch_bytes=2 * codec.MAX_MESSAGE_BYTES,
        )
        await start_client(consumer, self._options)
        try:
            tps = [TopicPartition(self.spec.name, p) for p in await self._partition_ids(consumer)]
            ends = await consumer.end_offsets(tps)
            starts = await self._start_offsets(consumer, tps, ends)
            # Assigned only now, and placed at once: the client never fetches from its default.
            consumer.assign(tps)
            for tp in tps:
                consumer.seek(tp, starts[tp])
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        self._partitions = tps
        self.ends = {tp.partition: ends[tp] for tp in tps}
        self.starts = {tp.partition: starts[tp] for tp in tps}
        if all(self.starts[p] >= end for p, end in self.ends.items()):
            self.caught_up.set()

    async def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    async def _partition_ids(self, consumer: AIOKafkaConsumer) -> list[int]:
        # aiokafka has no public metadata refresh for a consumer without a subscription. Asking
        # for the topic by name tells a refused topic from a missing one (brokers Tilik runs never
        # create topics on request).
        consumer._client.add_topic(self.spec.name)
        await consumer._client.force_metadata_update()
        if self.spec.name in consumer._client.cluster.unauthorized_topics:
            raise authorization_refused(self._options, self._reading())
        partitions = consumer.partitions_for_topic(self.spec.name)
        if not partitions:
            raise TopicNotFound(
                f"{self.spec.name} is not on the broker: apply the catalog (`tilik topics apply`)"
            )
        return sorted(partitions)

    async def _start_offsets(
        self,
        consumer: AIOKafkaConsumer,
        tps: list[TopicPartition],
        ends: dict[TopicPartition, int],
    ) -> dict[TopicPartition, int]:
        start = self._start
        if start == "end":
            return dict(ends)
        firsts = await consumer.beginning_offsets(tps)
        if start == "beginning":
            return dict(firsts)
        if isinstance(start, datetime):
            millis = int(start.timestamp() * 1000)
            found = await consumer.offsets_for_times({tp: millis for tp in tps})
            # Nothing appended since then: that partition starts at its end.
            return {tp: found[tp].offset if found.get(tp) is not None else ends[tp] for tp in tps}
        # Offsets by partition: one not named starts at its end, one outside what the partition
        # holds is brought into it.
        return {tp: min(max(start.get(tp.partition, ends[tp]), firsts[tp]), ends[tp]) for tp in tps}

    async def current_ends(self) -> dict[int, int]:
        """The end offset of each partition now (``ends`` stays where ``start()`` found it)."""
        await self.start()
        assert self._consumer is not None
        with refusal_named(self._options, self._reading()):
            found = await self._consumer.end_offsets(self._partitions)
        return {tp.partition: offset for tp, offset in found.items()}

    def _reading(self) -> str:
        return f"read {self.spec.name}"

    # --- records -----------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Received]:
        return self._read(follow=False)

    def follow(self) -> AsyncIterator[Received]:
        """Every record from the start, then each new one as it arrives (until cancelled);
        ``caught_up`` is set once the ends the topic had at ``start()`` are reached."""
        return self._read(follow=True)

    async def _read(self, *, follow: bool) -> AsyncIterator[Received]:
        await self.start()
        consumer = self._consumer
        assert consumer is not None
        behind = {
            tp for tp in self._partitions if await consumer.position(tp) < self.ends[tp.partition]
        }
        while behind or follow:
            fetch = self._partitions if follow else sorted(behind, key=lambda tp: tp.partition)
            with refusal_named(self._options, self._reading()):
                batches = await consumer.getmany(*fetch, timeout_ms=_FETCH_WAIT_MS)
            for tp, records in batches.items():
                end = self.ends[tp.partition]
                for record in records:
                    if not follow and record.offset >= end:
                        break  # appended after start(): past the end
                    received = await receive(
                        self.spec, record, faults=self._faults, require_key=self._require_key
                    )
                    if received is not None:
                        yield received
            for tp in list(behind):
                if await consumer.position(tp) >= self.ends[tp.partition]:
                    behind.discard(tp)
            if not behind:
                self.caught_up.set()

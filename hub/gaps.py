"""Input Faust skipped: noticed by offset, fetched directly, so a restart loses nothing.

faust-streaming 0.15.3 can drop messages it fetched while a rebalance suspended the stream (see
docs/hub.md, "Known limits"), and later commits move past them. Offsets of a catalog topic are
contiguous, so an agent that sees offset N on a partition after N-1 - or, first after start, an
offset above the group's committed one - knows exactly what it missed and reads it back here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from topics import codec
from topics.connection import connection_config

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class FetchedMessage:
    """The parts of a Faust message the agents read, for a record fetched directly."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass(frozen=True)
class FetchedEvent:
    message: FetchedMessage


# A partition silent this long while records wait on it is read directly; checked this often.
STALL_IDLE_S = 10.0
STALL_CHECK_EVERY_S = 2.0


class GapGuard:
    """Per partition, the next offset an agent should see; fetches whatever it did not.

    One guard serves every agent of a worker (state is per topic partition). Topics must have
    contiguous offsets: not for compacted topics.
    """

    def __init__(self, bootstrap: str, group_id: str) -> None:
        # Only agents' own partitions are swept (see ``assigned``).
        self._lock = asyncio.Lock()
        self._bootstrap = bootstrap
        self._group_id = group_id
        self._expected: dict[TopicPartition, int] = {}
        self._last_seen: dict[TopicPartition, float] = {}
        self._started = time.monotonic()
        self._offsets: AIOKafkaConsumer | None = None
        self._reader: AIOKafkaConsumer | None = None
        # Agents ask concurrently; a client is published only once it has started.
        self._starting = asyncio.Lock()

    async def missed(self, event: Any) -> list[FetchedEvent]:
        """Records of this event's partition that were skipped before it (usually none)."""
        message = event.message
        tp = TopicPartition(message.topic, message.partition)
        expected = self._expected.get(tp)
        if expected is None:
            expected = await self._committed(tp)
        self._expected[tp] = max(message.offset + 1, self._expected.get(tp, 0))
        self._last_seen[tp] = time.monotonic()
        if expected is None or message.offset <= expected:
            return []
        async with self._lock:
            records = await self._fetch(tp, expected, message.offset)
        if records:
            log.warning(
                "skipped input recovered",
                topic=message.topic,
                partition=message.partition,
                first_offset=expected,
                count=len(records),
            )
        return records

    async def stalled(self, partitions: list[TopicPartition], idle_s: float) -> list[FetchedEvent]:
        """Records waiting on partitions the stream has not delivered from for ``idle_s``.

        A skipped message followed by no other one on its partition would otherwise wait for the
        next message to reveal the gap.
        """
        now = time.monotonic()
        idle = [tp for tp in partitions if now - self._last_seen.get(tp, self._started) > idle_s]
        if not idle:
            return []
        async with self._lock:
            return await self._fetch_idle(idle, now)

    async def _fetch_idle(self, idle: list[TopicPartition], now: float) -> list[FetchedEvent]:
        reader = await self._reader_started()
        ends = await reader.end_offsets(idle)
        fetched: list[FetchedEvent] = []
        for tp in idle:
            expected = self._expected.get(tp)
            if expected is None:
                expected = await self._committed(tp)
                if expected is None:
                    continue
                self._expected[tp] = expected
            if expected >= ends[tp]:
                continue
            records = await self._fetch(tp, expected, ends[tp])
            self._expected[tp] = ends[tp]
            self._last_seen[tp] = now
            if records:
                log.warning(
                    "stalled input recovered",
                    topic=tp.topic,
                    partition=tp.partition,
                    first_offset=expected,
                    count=len(records),
                )
            fetched.extend(records)
        return fetched

    def forget(self, partitions: Iterable[Any]) -> None:
        """Drop what is known of partitions this worker no longer owns.

        When one comes back, its committed offset is where it starts again: another worker may
        have moved it on meanwhile.
        """
        for tp in partitions:
            key = TopicPartition(tp.topic, tp.partition)
            self._expected.pop(key, None)
            self._last_seen.pop(key, None)

    @staticmethod
    def assigned(app: Any, topics: str | Iterable[str]) -> list[TopicPartition]:
        """The partitions of ``topics`` this worker owns now."""
        names = {topics} if isinstance(topics, str) else set(topics)
        return [
            TopicPartition(tp.topic, tp.partition)
            for tp in app.consumer.assignment()
            if tp.topic in names
        ]

    async def _committed(self, tp: TopicPartition) -> int | None:
        async with self._starting:
            if self._offsets is None:
                offsets = AIOKafkaConsumer(
                    **connection_config(self._bootstrap),
                    group_id=self._group_id,
                    enable_auto_commit=False,
                    client_id="tilik-hub-gaps",
                )
                await offsets.start()
                self._offsets = offsets
        offset = await self._offsets.committed(tp)
        return int(offset) if offset is not None else None

    async def _reader_started(self) -> AIOKafkaConsumer:
        async with self._starting:
            if self._reader is None:
                reader = AIOKafkaConsumer(
                    **connection_config(self._bootstrap),
                    group_id=None,
                    enable_auto_commit=False,
                    client_id="tilik-hub-gaps-reader",
                    max_partition_fetch_bytes=2 * codec.MAX_MESSAGE_BYTES,
                )
                await reader.start()
                self._reader = reader
        return self._reader

    async def _fetch(self, tp: TopicPartition, start: int, end: int) -> list[FetchedEvent]:
        reader = await self._reader_started()
        reader.assign([tp])
        reader.seek(tp, start)
        fetched: list[FetchedEvent] = []
        while await reader.position(tp) < end:
            batch = await reader.getmany(tp, timeout_ms=2000)
            records = batch.get(tp, [])
            if not records:
                break
            for record in records:
                if record.offset >= end:
                    break
                fetched.append(
                    FetchedEvent(
                        FetchedMessage(
                            topic=tp.topic,
                            partition=tp.partition,
                            offset=record.offset,
                            key=record.key,
                            value=record.value,
                            headers=list(record.headers or ()),
                        )
                    )
                )
        return fetched


async def guarded(events: AsyncIterator[Any], gaps: GapGuard) -> AsyncIterator[Any]:
    """A Faust event stream with whatever Faust skipped before each event put back in front."""
    async for event in events:
        for skipped in await gaps.missed(event):
            yield skipped
        yield event


def watch_stalls(
    app: Any,
    gaps: GapGuard,
    topics: str | Iterable[str],
    handle: Callable[[Any], Awaitable[None]],
    name: str,
) -> None:
    """A timer that hands records waiting on a silent partition of ``topics`` to ``handle``."""
    names = [topics] if isinstance(topics, str) else list(topics)

    @app.timer(STALL_CHECK_EVERY_S, name=name)
    async def recover_stalled() -> None:
        for event in await gaps.stalled(GapGuard.assigned(app, names), STALL_IDLE_S):
            await handle(event)

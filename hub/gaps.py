"""The loss guard of every hub agent: input Faust skipped, noticed by offset and read back directly.

faust-streaming 0.15.3 can drop messages it fetched while a rebalance suspended the stream
(defect 4 of ``hub.faust_workarounds``). An agent that sees offset N on a partition after N-1 -
or, first after start, an offset above the group's committed one - knows where it may have
missed records and reads that range back here; the offsets Faust's stream passed over become a
gap its consumer commits past, so the partition's commits go on. On a compacted topic (the
registry) the range may hold nothing but compacted-away offsets: a read fetches ahead, and the
holes it has seen cost no further reads.

Every agent is covered the same way: ``cover`` names the topics it reads and how it handles one
record read back, its loop reads through ``events`` or ``batches``, and one timer reads records
that wait on a partition the stream has not delivered from for a while (a skipped message with
no later one to reveal it). That while is counted on the agent's own clock, which stands still
as long as the agent is busy with a record: an agent that waits on something slow (a webhook
receiver that is down, its deliveries retried) holds its input back, and that is not a stall.
What the timer reads is handed to each agent in a task of its own, ahead of the agent's next
record, so one slow agent never holds up the others' recovery.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import faust
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.types import TP

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


# How an agent handles one record the guard read back (outside its stream).
Recover = Callable[[Any], Awaitable[None]]

# Told of the records read back: their topic, why (``SKIPPED`` or ``STALLED``) and how many.
Recovered = Callable[[str, str, int], None]
SKIPPED = "skipped"  # Faust's stream passed over them
STALLED = "stalled"  # they waited on a partition the stream had not delivered from

# A partition silent this long while records wait on it is read directly; checked this often.
STALL_IDLE_S = 10.0
STALL_CHECK_EVERY_S = 2.0


@dataclass
class _ReadAhead:
    """What one direct read saw of a partition: every record in [start, end)."""

    start: int
    end: int
    records: list[FetchedEvent]

    def covers(self, start: int, end: int) -> bool:
        return self.start <= start and end <= self.end

    def between(self, start: int, end: int) -> list[FetchedEvent]:
        return [r for r in self.records if start <= r.message.offset < end]


class GapGuard:
    """Per partition, the next offset an agent should see; reads back whatever it did not.

    One guard serves every agent of a worker (its state is per topic partition), with one timer
    for stalled partitions; a partition the worker loses is forgotten.
    """

    def __init__(
        self,
        app: faust.App,
        bootstrap: str,
        group_id: str,
        on_recovered: Recovered | None = None,
    ) -> None:
        self._app = app
        self._on_recovered = on_recovered
        self._lock = asyncio.Lock()
        self._bootstrap = bootstrap
        self._group_id = group_id
        self._expected: dict[TopicPartition, int] = {}
        # Per partition: the next offset Faust's stream is to deliver, and the group's committed
        # offset when the guard first met the partition (looked up once).
        self._faust_next: dict[TopicPartition, int] = {}
        self._committed_first: dict[TopicPartition, int | None] = {}
        # Per partition: when the stream last delivered from it, on its agent's clock (``_clock``).
        self._last_seen: dict[TopicPartition, float] = {}
        # Per agent (known by how it handles a record read back): how many records it is handling
        # now, since when, how long it was busy before, and the recovery the timer started for it.
        self._busy: dict[Recover, int] = {}
        self._busy_since: dict[Recover, float] = {}
        self._busy_s: dict[Recover, float] = {}
        self._recovering: dict[Recover, asyncio.Future[None]] = {}
        self._ahead: dict[TopicPartition, _ReadAhead] = {}
        self._offsets: AIOKafkaConsumer | None = None
        self._reader: AIOKafkaConsumer | None = None
        # Agents ask concurrently; a client is published only once it has started.
        self._starting = asyncio.Lock()
        #: topic name -> how its agent handles a record read back
        self.covered: dict[str, Recover] = {}
        app.on_partitions_revoked.connect(self._on_revoked)  # type: ignore[arg-type]
        app.timer(STALL_CHECK_EVERY_S, name="hub.gaps.stall-check")(self.recover_stalled)

    def cover(self, topics: str | Iterable[str] | faust.TopicT, recover: Recover) -> None:
        """Guard the topics an agent reads; ``recover`` handles a record read back directly."""
        if isinstance(topics, str):
            names: Iterable[str] = [topics]
        elif isinstance(topics, faust.TopicT):
            names = topics.topics
        else:
            names = topics
        for name in names:
            self.covered[name] = recover

    async def events(self, events: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """A Faust event stream with whatever Faust skipped before each event put back in front."""
        async for event in events:
            for record in await self.admit(event):
                agents = await self._turn_of([record])
                try:
                    yield record
                finally:
                    self._done(agents)

    async def batches(self, batches: AsyncIterator[list[Any]]) -> AsyncIterator[list[Any]]:
        """Batches of Faust events (``take_events``), the same way."""
        async for batch in batches:
            guarded: list[Any] = []
            for event in batch:
                guarded += await self.admit(event)
            if not guarded:
                continue
            agents = await self._turn_of(guarded)
            try:
                yield guarded
            finally:
                self._done(agents)

    async def _turn_of(self, records: list[Any]) -> set[Recover]:
        """The agents of ``records`` start handling them, once what the stall timer handed them
        is handled (those records go first); their clocks stand still until ``_done``."""
        agents = {self.covered[r.message.topic] for r in records if r.message.topic in self.covered}
        for agent in agents:
            recovering = self._recovering.get(agent)
            if recovering is not None and not recovering.done():
                await asyncio.wait([recovering])
        for agent in agents:
            self._busy_from(agent)
        return agents

    def _done(self, agents: set[Recover]) -> None:
        for agent in agents:
            self._busy_until(agent)

    def _busy_from(self, agent: Recover) -> None:
        count = self._busy.get(agent, 0)
        if count == 0:
            self._busy_since[agent] = time.monotonic()
        self._busy[agent] = count + 1

    def _busy_until(self, agent: Recover) -> None:
        count = self._busy[agent] - 1
        self._busy[agent] = count
        if count == 0:
            since = self._busy_since.pop(agent)
            self._busy_s[agent] = self._busy_s.get(agent, 0.0) + time.monotonic() - since

    def _handling(self, topic: str) -> bool:
        """Whether the agent of ``topic`` is busy with a record (or the guard is, for it)."""
        agent = self.covered.get(topic)
        return agent is not None and self._busy.get(agent, 0) > 0

    def _clock(self, topic: str) -> float:
        """Seconds the agent of ``topic`` has spent not handling a record (monotonic): the time
        in which its stream could have delivered to it."""
        agent = self.covered.get(topic)
        if agent is None:
            return time.monotonic()
        since = self._busy_since.get(agent)
        now = since if since is not None else time.monotonic()
        return now - self._busy_s.get(agent, 0.0)

    async def admit(self, event: Any) -> list[Any]:
        """What the agent is to handle for a Faust event: the records Faust skipped before it,
        then the event, unless a direct read already handed the event to the agent.

        A partition whose records wait behind a backlog longer than ``STALL_IDLE_S`` looks
        stalled, so the stall timer reads its waiting records directly and hands them over; Faust
        delivers the same records later, and they are not handled twice.
        """
        message = event.message
        tp = TopicPartition(message.topic, message.partition)
        await self._passed_over(tp, message.offset)
        expected = self._expected.get(tp)
        if expected is not None and message.offset < expected:
            self._last_seen[tp] = self._clock(tp.topic)
            return []
        return [*await self.missed(event), event]

    async def _passed_over(self, tp: TopicPartition, offset: int) -> None:
        """Faust delivers ``offset``: the offsets its stream passed over on the partition since
        the last one it delivered are, to its consumer, a gap to commit past.

        The guard hands those records over itself (``missed`` reads them back; the stall timer
        may have before), ahead of this event, so they are handled once its acknowledgement lets
        the commit move. Faust never acknowledges a record it passed over, and its commit logic
        tolerates one such record at a partition's head, not two: without the gap, such a
        partition would commit nothing more while the worker holds it, and every record since
        would be judged again by its next owner.
        """
        start = self._faust_next.get(tp)
        if start is None:
            start = await self._committed_at_first(tp)
            if start is None:  # no committed offset: Faust starts where its stream does
                start = offset
        if offset < start:
            return  # passed before
        self._faust_next[tp] = offset + 1
        if offset == start or not self._app.topics.acks_enabled_for(tp.topic):
            return
        consumer: Any = self._app.consumer
        await consumer._add_gap(TP(tp.topic, tp.partition), start, offset - 1)

    async def missed(self, event: Any) -> list[FetchedEvent]:
        """Records of this event's partition that were skipped before it (usually none)."""
        message = event.message
        tp = TopicPartition(message.topic, message.partition)
        expected = self._expected.get(tp)
        if expected is None:
            expected = await self._committed_at_first(tp)
        self._expected[tp] = max(message.offset + 1, self._expected.get(tp, 0))
        self._last_seen[tp] = self._clock(tp.topic)
        if expected is None or message.offset <= expected:
            return []
        async with self._lock:
            records = await self._fetch(tp, expected, message.offset)
        if records:
            self._recovered(SKIPPED, tp, expected, len(records))
        return records

    def next_offset(self, topic: str, partition: int) -> int | None:
        """The next offset the agents are to see on a partition (``None``: none seen yet)."""
        return self._expected.get(TopicPartition(topic, partition))

    def committed_offset(self, topic: str, partition: int) -> int | None:
        """The group's offset on a partition as this worker last committed or found it
        (``None``: not known yet)."""
        consumer: Any = self._app.consumer
        committed = consumer._committed_offset.get(TP(topic, partition))
        return int(committed) if committed is not None else None

    async def recover_stalled(self) -> None:
        """Timer: records waiting on covered partitions silent for ``STALL_IDLE_S``, to their
        agents, each agent's in a task of its own (``recovering`` waits for them)."""
        if not self.covered:
            return
        handed: dict[Recover, list[FetchedEvent]] = {}
        for event in await self.stalled(self.assigned(self.covered), STALL_IDLE_S):
            handed.setdefault(self.covered[event.message.topic], []).append(event)
        for agent, records in handed.items():
            self._busy_from(agent)
            recovering = self._app.add_future(self._hand_over(agent, records))
            self._recovering[agent] = recovering

    async def _hand_over(self, agent: Recover, records: list[FetchedEvent]) -> None:
        try:
            for record in records:
                await agent(record)
        finally:
            self._busy_until(agent)

    async def recovering(self) -> None:
        """Wait until the records the stall timer read are handled."""
        waiting = [f for f in self._recovering.values() if not f.done()]
        if waiting:
            await asyncio.wait(waiting)

    async def stalled(self, partitions: list[TopicPartition], idle_s: float) -> list[FetchedEvent]:
        """Records waiting on partitions the stream has not delivered from for ``idle_s`` of
        their agent's free time; an agent busy with a record has none of its partitions read."""
        for tp in partitions:
            # The clock of a partition starts when the guard first finds it assigned: one that
            # arrives while the worker runs (a rebalance, a tenant added) gets ``idle_s`` of
            # Faust's own delivery first, as at start. Read at once, its records would overtake
            # records of other topics that Faust is still recovering or fetching (an edge
            # event judged before its camera reached the registry).
            self._last_seen.setdefault(tp, self._clock(tp.topic))
        idle = [
            tp
            for tp in partitions
            if not self._handling(tp.topic) and self._clock(tp.topic) - self._last_seen[tp] > idle_s
        ]
        if not idle:
            return []
        async with self._lock:
            return await self._fetch_idle(idle)

    async def _fetch_idle(self, idle: list[TopicPartition]) -> list[FetchedEvent]:
        reader = await self._reader_started()
        ends = await reader.end_offsets(idle)
        unknown = [tp for tp in idle if tp not in self._expected]
        if unknown:
            # Looked up once per partition: a partition without a committed offset is read from
            # its start (the group's offset reset), so that is where records would wait.
            firsts = await reader.beginning_offsets(unknown)
            for tp in unknown:
                committed = await self._committed_at_first(tp)
                self._expected[tp] = committed if committed is not None else firsts[tp]
        fetched: list[FetchedEvent] = []
        for tp in idle:
            expected = self._expected[tp]
            if expected >= ends[tp]:
                continue
            records = await self._fetch(tp, expected, ends[tp])
            # Only as far as the read got: Faust's later delivery of anything beyond is the
            # agent's to handle (``admit`` drops what is below).
            self._expected[tp] = self._reached(tp, expected, ends[tp])
            self._last_seen[tp] = self._clock(tp.topic)
            if records:
                self._recovered(STALLED, tp, expected, len(records))
            fetched.extend(records)
        return fetched

    def _recovered(self, why: str, tp: TopicPartition, first: int, count: int) -> None:
        log.warning(
            f"{why} input recovered",
            topic=tp.topic,
            partition=tp.partition,
            first_offset=first,
            count=count,
        )
        if self._on_recovered is not None:
            self._on_recovered(tp.topic, why, count)

    def _reached(self, tp: TopicPartition, start: int, end: int) -> int:
        """The offset up to which a direct read of [start, end) has seen the partition."""
        ahead = self._ahead.get(tp)
        if ahead is None or ahead.start > start:
            return start
        return max(start, min(end, ahead.end))

    async def _on_revoked(self, sender: Any, revoked: Any, **kwargs: Any) -> None:
        self.forget(revoked)

    def forget(self, partitions: Iterable[Any]) -> None:
        """Drop what is known of partitions this worker no longer owns.

        When one comes back, its committed offset is where it starts again: another worker may
        have moved it on meanwhile.
        """
        for tp in partitions:
            key = TopicPartition(tp.topic, tp.partition)
            self._expected.pop(key, None)
            self._faust_next.pop(key, None)
            self._committed_first.pop(key, None)
            self._last_seen.pop(key, None)
            self._ahead.pop(key, None)

    def assigned(self, topics: Iterable[str]) -> list[TopicPartition]:
        """The partitions of ``topics`` this worker owns now."""
        names = set(topics)
        return [
            TopicPartition(tp.topic, tp.partition)
            for tp in self._app.consumer.assignment()
            if tp.topic in names
        ]

    async def _committed_at_first(self, tp: TopicPartition) -> int | None:
        """The group's committed offset of a partition when the guard first met it."""
        if tp not in self._committed_first:
            self._committed_first[tp] = await self._committed(tp)
        return self._committed_first[tp]

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
        """The records of [start, end): from the last read-ahead when it saw that range."""
        ahead = self._ahead.get(tp)
        if ahead is not None and ahead.covers(start, end):
            return ahead.between(start, end)
        reader = await self._reader_started()
        reader.assign([tp])
        reader.seek(tp, start)
        seen: list[FetchedEvent] = []
        while await reader.position(tp) < end:
            batch = await reader.getmany(tp, timeout_ms=2000)
            records = batch.get(tp, [])
            if not records:
                break
            seen += [
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
                for record in records
            ]
        # Everything the read returned, past ``end`` too: the next holes it saw cost no read.
        self._ahead[tp] = _ReadAhead(start, await reader.position(tp), seen)
        return [r for r in seen if r.message.offset < end]

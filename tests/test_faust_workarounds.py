"""The faust-streaming defects ``hub.faust_workarounds`` works around: each still there, and each
workaround doing its job.

A test named ``test_faust_still_...`` checks the defect itself: when it fails, Faust has fixed
the defect, and the workaround (and the version pin in pyproject.toml) can go.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP

from hub import faust_workarounds
from hub.batching import HeldWrites
from hub.delivery_in_place import drain_in_place


def app(name: str) -> faust.App:
    return faust.App(name, broker="kafka://127.0.0.1:1", store="memory://", autodiscover=False)


async def test_faust_still_fetches_with_a_fetch_min_bytes_of_one() -> None:
    """Defect 1: Faust's consumer asks for every single record, and has no setting for more."""
    installed = AIOKafkaConsumerThread._create_worker_consumer
    # The library's own method, also when an earlier test of this process installed ours.
    create = getattr(installed, "library", installed)
    assert not any("fetch_min" in name for name in faust.Settings.__dict__)
    thread = app("tilik-hub-faust-fetch").consumer._thread
    consumer = create(thread, thread.transport)
    assert consumer._fetch_min_bytes == 1


def test_fetches_are_batched_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def library(self: object, transport: object) -> SimpleNamespace:
        return SimpleNamespace(_fetch_min_bytes=1, _fetch_max_wait_ms=1500)

    monkeypatch.setattr(AIOKafkaConsumerThread, "_create_worker_consumer", library)
    faust_workarounds.batch_fetches(65536, 10)
    faust_workarounds.batch_fetches(1, 1)  # applied once per process
    consumer = AIOKafkaConsumerThread._create_worker_consumer(object(), object())  # type: ignore[arg-type]
    assert (consumer._fetch_min_bytes, consumer._fetch_max_wait_ms) == (65536, 10)


async def test_faust_still_refuses_a_table_write_outside_its_current_event() -> None:
    """Defect 3: the changelog partition can only come from the stream's current event."""
    table = app("tilik-hub-faust-table").Table("state", partitions=4)
    with pytest.raises(TypeError, match="outside of stream"):
        table["camera-1"] = {"n": 1}


async def test_held_writes_reach_the_changelog_of_each_keys_own_partition() -> None:
    table = app("tilik-hub-faust-held").Table("state", partitions=4)
    sent: list[tuple[int | None, Any, Any]] = []
    table.send_changelog = lambda partition, key, value, *a, **k: sent.append(  # type: ignore[method-assign]
        (partition, key, value)
    )
    writes = HeldWrites(table)
    writes.set("a", 1, {"n": 1})
    writes.set("b", 3, {"n": 2})
    assert table.data == {}  # held until apply
    await writes.apply()
    writes.delete("a", 1)
    await writes.apply()
    assert sent == [(1, "a", {"n": 1}), (3, "b", {"n": 2}), (1, "a", None)]
    assert dict(table.data) == {"b": {"n": 2}}


async def test_faust_still_marks_a_message_read_when_a_suspension_cut_its_delivery_short() -> None:
    """Defect 4: ``_drain_messages`` races each delivery against ``suspend_flow`` and records
    the message as read even when the suspension won, so the stream never sees it."""
    consumer: Any = app("tilik-hub-faust-drain").consumer
    tp = TP("tilik.events.device.v2", 0)
    message = SimpleNamespace(topic=tp.topic, partition=0, offset=7, key=None, value=b"{}")
    fetcher = SimpleNamespace(_stopped=asyncio.Event())
    delivering = asyncio.Event()
    cut_short = asyncio.Event()

    async def getmany(timeout: float) -> Any:
        fetcher._stopped.set()  # one fetch, then the fetcher stops
        yield tp, message

    async def deliver(received: Any) -> None:
        delivering.set()
        try:
            await asyncio.Event().wait()  # the stream's buffer is full
        except asyncio.CancelledError:
            cut_short.set()
            raise

    async def suspend() -> None:
        await delivering.wait()
        consumer.suspend_flow.set()  # a rebalance begins

    consumer.getmany = getmany
    consumer.callback = deliver
    await asyncio.wait_for(asyncio.gather(library_drain(consumer, fetcher), suspend()), 5)
    assert cut_short.is_set()  # never delivered ...
    assert consumer._read_offset[tp] == 7  # ... yet read


def test_faust_still_stops_committing_a_partition_two_unacknowledged_messages_into_it() -> None:
    """Defect 4, what follows from it: a message the stream never saw is never acknowledged.
    Faust's commit logic passes over one such message at a partition's head, but not two, and
    then commits nothing more of the partition, however many later messages are acknowledged."""
    consumer: Any = app("tilik-hub-faust-commit").consumer
    tp = TP("tilik.events.device.v2", 0)
    consumer._committed_offset[tp] = 36  # the next offset to read, as Faust seeks to it
    consumer._acked[tp] = [38, 39, 40]  # 36 and 37 were cut short
    assert consumer._new_offset(tp) is None
    consumer._acked[tp] = [37, 38, 39, 40]  # only 36 was
    assert consumer._new_offset(tp) == 41


def library_drain(consumer: Any, fetcher: Any) -> Any:
    """Faust's own ``_drain_messages``, also once ``deliver_in_place`` replaced it."""
    installed = Consumer._drain_messages
    return getattr(installed, "library", installed)(consumer, fetcher)


class Drain:
    """A Faust consumer fed ``messages`` by one fetch, and what its deliveries saw."""

    def __init__(self, name: str, offsets: list[int], deliver: Any = None) -> None:
        self.consumer: Any = app(name).consumer
        self.tp = TP("tilik.events.device.v2", 0)
        self.fetcher = SimpleNamespace(_stopped=asyncio.Event())
        self.tasks: list[asyncio.Task[Any] | None] = []
        self.delivered: list[int] = []
        self.gaps: list[tuple[int, int]] = []
        messages = [
            SimpleNamespace(topic=self.tp.topic, partition=0, offset=o, key=None, value=b"{}")
            for o in offsets
        ]

        async def getmany(timeout: float) -> Any:
            self.fetcher._stopped.set()  # one fetch, then the fetcher stops
            for message in messages:
                yield self.tp, message

        async def record(message: Any) -> None:
            self.tasks.append(asyncio.current_task())
            if deliver is not None:
                await deliver(message)
            self.delivered.append(message.offset)

        async def add_gap(tp: TP, start: int, end: int) -> None:
            self.gaps.append((start, end))

        self.consumer.getmany = getmany
        self.consumer.callback = record
        self.consumer._add_gap = add_gap
        self.consumer.app.topics.acks_enabled_for = lambda topic: True


async def test_faust_still_delivers_each_message_in_a_task_of_its_own() -> None:
    """Defect 6: four tasks and an ``asyncio.wait`` for every message fetched."""
    drain = Drain("tilik-hub-faust-tasks", [3, 4])
    await asyncio.wait_for(library_drain(drain.consumer, drain.fetcher), 5)
    assert drain.delivered == [3, 4]
    first, second = drain.tasks
    assert first is not second and first is not None
    assert first.get_coro().__name__ != "_drain_messages"  # type: ignore[union-attr]


async def test_a_delivery_that_need_not_wait_runs_in_the_drains_own_task() -> None:
    drain = Drain("tilik-hub-in-place", [5, 6, 9, 6])
    await asyncio.wait_for(drain_in_place(drain.consumer, drain.fetcher), 5)
    assert drain.delivered == [5, 6, 9]  # offset 6 again, after 9: delivered before, dropped
    (task,) = set(drain.tasks)  # one task for all of them: the drain's
    assert task is not None and task.get_coro().__name__ == "drain_in_place"  # type: ignore[union-attr]
    assert drain.gaps == [(7, 9)]  # noted for Faust's commits, as its own drain does
    assert drain.consumer._read_offset[drain.tp] == 9


async def test_a_delivery_that_waits_is_carried_on_to_its_end() -> None:
    room = asyncio.Event()

    async def full_queue(message: Any) -> None:
        if message.offset == 2:
            await room.wait()  # the stream's queue is full until it takes one
        await asyncio.sleep(0)  # a bare yield to the loop

    async def make_room() -> None:
        await asyncio.sleep(0.05)
        room.set()

    drain = Drain("tilik-hub-waits", [1, 2, 3], full_queue)
    await asyncio.wait_for(
        asyncio.gather(drain_in_place(drain.consumer, drain.fetcher), make_room()), 5
    )
    assert drain.delivered == [1, 2, 3]  # in order: the next waits for the one waiting


async def test_a_suspension_cuts_a_waiting_delivery_short_as_faust_does() -> None:
    cut_short = asyncio.Event()

    async def blocked(message: Any) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cut_short.set()
            raise

    drain = Drain("tilik-hub-cut", [7], blocked)

    async def suspend() -> None:
        while not drain.tasks:
            await asyncio.sleep(0.01)
        drain.consumer.suspend_flow.set()  # a rebalance begins

    await asyncio.wait_for(
        asyncio.gather(drain_in_place(drain.consumer, drain.fetcher), suspend()), 5
    )
    assert cut_short.is_set() and drain.delivered == []
    assert drain.consumer._read_offset[drain.tp] == 7  # as Faust's own drain: the guard's job


@pytest.mark.parametrize("waits", [False, True])
async def test_a_delivery_that_fails_stops_the_drain_with_its_error(waits: bool) -> None:
    async def broken(message: Any) -> None:
        if waits:
            await asyncio.sleep(0.01)
        raise ValueError("conductor failed")

    drain = Drain(f"tilik-hub-fails-{waits}", [1], broken)
    with pytest.raises(ValueError, match="conductor failed"):
        await asyncio.wait_for(drain_in_place(drain.consumer, drain.fetcher), 5)
    assert drain.consumer._read_offset[drain.tp] is None


def test_deliveries_in_place_are_installed_once_per_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def library(self: Any, fetcher: Any) -> None:
        pass

    monkeypatch.setattr(Consumer, "_drain_messages", library)
    faust_workarounds.deliver_in_place()
    installed = Consumer._drain_messages
    faust_workarounds.deliver_in_place()
    assert Consumer._drain_messages is installed
    assert installed.library is library  # type: ignore[attr-defined]


def test_faust_still_keeps_its_spinner_when_logging_is_not_its_own() -> None:
    """Defect 5."""
    hub_app = app("tilik-hub-faust-spinner")
    worker = faust.Worker(hub_app, loglevel="info", quiet=True, override_logging=False)
    assert worker.spinner is not None
    assert faust_workarounds.quiet_worker(hub_app, "info").spinner is None

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
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP

from hub import faust_workarounds
from hub.batching import HeldWrites


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
    await asyncio.wait_for(asyncio.gather(consumer._drain_messages(fetcher), suspend()), 5)
    assert cut_short.is_set()  # never delivered ...
    assert consumer._read_offset[tp] == 7  # ... yet read


def test_faust_still_keeps_its_spinner_when_logging_is_not_its_own() -> None:
    """Defect 5."""
    hub_app = app("tilik-hub-faust-spinner")
    worker = faust.Worker(hub_app, loglevel="info", quiet=True, override_logging=False)
    assert worker.spinner is not None
    assert faust_workarounds.quiet_worker(hub_app, "info").spinner is None

"""Helpers for the SDK runtime tests: a uniquely named example connector and reading new messages."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import BaseModel

from connectors.sdk.example.connector import ExampleConnector
from connectors.sdk.runtime import WatchService
from topics import codec
from topics.catalog import TopicSpec
from topics.connection import connection_config


def example_serial() -> str:
    """A serial number no other test's simulated recorder has."""
    return "EXV-" + uuid.uuid4().hex[:10].upper()


def unique_connector() -> type[ExampleConnector]:
    """The example connector under a name no other test uses, so the shared registry's other
    records (earlier runs, other engineers' tests) are not this test's devices."""
    name = f"example{uuid.uuid4().hex[:8]}"
    return type(f"ExampleConnector_{name}", (ExampleConnector,), {"name": name})


class TopicTail:
    """Reads what is published to a topic after ``start()`` (offsets captured first)."""

    def __init__(self, bootstrap: str, spec: TopicSpec) -> None:
        self.spec = spec
        self._consumer = AIOKafkaConsumer(**connection_config(bootstrap), enable_auto_commit=False)
        self.values: list[tuple[str | None, BaseModel | None]] = []

    async def start(self) -> TopicTail:
        await self._consumer.start()
        await self._consumer._client.force_metadata_update()
        partitions = self._consumer.partitions_for_topic(self.spec.name) or set()
        assert partitions, f"topic {self.spec.name} does not exist"
        tps = [TopicPartition(self.spec.name, p) for p in partitions]
        self._consumer.assign(tps)
        ends = await self._consumer.end_offsets(tps)
        for tp, offset in ends.items():
            self._consumer.seek(tp, offset)
        return self

    async def stop(self) -> None:
        await self._consumer.stop()

    async def wait_for(
        self,
        match: Callable[[str | None, BaseModel | None], bool],
        count: int = 1,
        timeout_s: float = 20,
    ) -> list[tuple[str | None, BaseModel | None]]:
        deadline = time.monotonic() + timeout_s
        while True:
            found = [(k, v) for k, v in self.values if match(k, v)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            batches = await self._consumer.getmany(timeout_ms=300)
            for records in batches.values():
                for record in records:
                    key = record.key.decode() if record.key is not None else None
                    self.values.append((key, codec.decode(self.spec, record.value)))


async def eventually(
    predicate: Callable[[], Any], timeout_s: float = 20, every_s: float = 0.1
) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(every_s)


@contextlib.asynccontextmanager
async def running(service: WatchService) -> AsyncIterator[WatchService]:
    """Run a watch service in the background for the block; stop it cleanly at the end."""
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:
        yield service
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)

"""Helpers for the SDK runtime tests: a uniquely named example connector and reading new messages."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from pydantic import BaseModel

from connectors.sdk.example.connector import ExampleConnector
from connectors.sdk.runtime import WatchService
from topics.catalog import TopicSpec
from topics.reader import TopicReader


def example_serial() -> str:
    """A serial number no other test's simulated recorder has."""
    return "EXV-" + uuid.uuid4().hex[:10].upper()


def unique_connector() -> type[ExampleConnector]:
    """The example connector under a name no other test uses, so the shared registry's other
    records (earlier runs, other engineers' tests) are not this test's devices."""
    name = f"example{uuid.uuid4().hex[:8]}"
    return type(f"ExampleConnector_{name}", (ExampleConnector,), {"name": name})


class TopicTail:
    """Collects what is published to a topic after ``start()`` (its ends are looked up first)."""

    def __init__(self, bootstrap: str, spec: TopicSpec) -> None:
        self.spec = spec
        self._reader = TopicReader(spec, component="test.tail", start="end", bootstrap=bootstrap)
        self._collecting: asyncio.Task[None] | None = None
        self.values: list[tuple[str | None, BaseModel | None]] = []

    async def start(self) -> TopicTail:
        await self._reader.start()
        self._collecting = asyncio.create_task(self._collect())
        return self

    async def _collect(self) -> None:
        async for received in self._reader.follow():
            self.values.append((received.key, received.value))

    async def stop(self) -> None:
        if self._collecting is not None:
            self._collecting.cancel()
            await asyncio.gather(self._collecting, return_exceptions=True)
        await self._reader.stop()

    async def wait_for(
        self,
        match: Callable[[str | None, BaseModel | None], bool],
        count: int = 1,
        timeout_s: float = 20,
    ) -> list[tuple[str | None, BaseModel | None]]:
        found: list[tuple[str | None, BaseModel | None]] = []

        def enough() -> bool:
            found[:] = [(k, v) for k, v in self.values if match(k, v)]
            return len(found) >= count

        await eventually(enough, timeout_s=timeout_s, every_s=0.05)
        return found


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

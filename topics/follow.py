"""A catalog topic served from memory: read from the start, then followed, folded by a handler.

Every view of ``tilik api`` (keys, registry, status, an agency's dispatches and acknowledgements)
is one of these, and so is the connector runtime's view of the sealed credentials. A restarted
service reads the same topics and so serves the same state. The view knows how far it has applied each partition, which gives read-your-writes: a request that wrote a
record waits until the view has applied it (``wait_applied``), and one that must see what another
writer wrote (the ``tilik keys`` CLI) waits until the view reaches the topic's end (``sync``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Generic, TypeVar

import structlog
from aiokafka.structs import RecordMetadata
from pydantic import BaseModel

from core.lifecycle import Lifecycle
from core.settings import Settings
from topics.catalog import TopicSpec
from topics.client import CatalogProducer
from topics.reader import ReadStart, Received, TopicReader

log = structlog.get_logger(__name__)

#: folds one record into the view's state
Fold = Callable[[Received], None]
M = TypeVar("M", bound=BaseModel)


class FollowedTopic(Lifecycle):
    """One topic read from ``start`` (its beginning) and followed; ``fold`` applies each valid
    record."""

    def __init__(
        self,
        spec: TopicSpec,
        fold: Fold,
        *,
        component: str,
        start: ReadStart = "beginning",
        settings: Settings | None = None,
        bootstrap: str | None = None,
    ) -> None:
        self.spec = spec
        self._fold = fold
        self._reader = TopicReader(
            spec,
            component=component,
            start=start,
            require_key=True,
            settings=settings,
            bootstrap=bootstrap,
        )
        self._task: asyncio.Task[None] | None = None
        #: next offset to apply, per partition
        self.applied: dict[int, int] = {}
        self._progress = asyncio.Condition()
        self.invalid = 0

    @property
    def ready(self) -> asyncio.Event:
        """Set once the view holds everything the topic had when it started."""
        return self._reader.caught_up

    async def start(self) -> None:
        if self._task is not None:
            return
        await self._reader.start()
        self.applied = dict(self._reader.starts)
        self._task = asyncio.create_task(self._follow(), name=f"follow {self.spec.name}")
        self._task.add_done_callback(self._stopped)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._reader.stop()

    def _stopped(self, task: asyncio.Task[None]) -> None:
        # A view that stops following serves stale state: say so loudly, once.
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "view stopped following its topic",
                topic=self.spec.name,
                error=type(task.exception()).__name__,
                reason=str(task.exception()),
            )

    async def _follow(self) -> None:
        async for received in self._reader.follow():
            if received.error is not None:
                # Dead-lettered by the consumers whose business it is; the view only skips it.
                self.invalid += 1
                log.warning(
                    "invalid record skipped",
                    topic=self.spec.name,
                    ref=received.ref,
                    reason=received.error,
                )
            else:
                self._fold(received)
            async with self._progress:
                self.applied[received.partition] = received.offset + 1
                self._progress.notify_all()

    async def _wait(self, reached: Callable[[], bool], timeout: float) -> None:
        async with self._progress:
            await asyncio.wait_for(self._progress.wait_for(reached), timeout)

    async def wait_applied(self, written: RecordMetadata, timeout: float = 10.0) -> None:
        """Until the record just written (its broker metadata) is in the view."""
        await self._wait(lambda: self.applied.get(written.partition, 0) > written.offset, timeout)

    async def sync(self, timeout: float = 10.0) -> None:
        """Until the view holds everything the topic holds now (written by anyone)."""
        ends = await self._reader.current_ends()
        await self._wait(
            lambda: all(self.applied.get(p, 0) >= end for p, end in ends.items()), timeout
        )


class WrittenTopic(Lifecycle):
    """A followed topic the service also writes: started once it holds what the topic held, and
    a write returns once the view has applied it (read-your-writes for the writer's caller)."""

    def __init__(
        self,
        spec: TopicSpec,
        fold: Fold,
        producer: CatalogProducer,
        *,
        component: str,
        settings: Settings | None = None,
    ) -> None:
        self.spec = spec
        self._producer = producer
        self.view = FollowedTopic(spec, fold, component=component, settings=settings)

    async def start(self) -> None:
        await self.view.start()
        await self.view.ready.wait()

    async def stop(self) -> None:
        await self.view.stop()

    async def write(self, value: BaseModel | None, *, key: str | None = None) -> None:
        """One record (``None``: a tombstone of ``key``), acknowledged and applied to the view."""
        written = await self._producer.send(self.spec, value, key=key)
        await self.view.wait_applied(written)


class FollowedTable(Lifecycle, Generic[M]):
    """A compacted topic as a table in memory: the latest valid value per key, a tombstone
    removing it. ``rows`` is the table; ``view`` the followed topic (``sync``, ``wait_applied``)."""

    def __init__(
        self,
        spec: TopicSpec,
        model: type[M],
        *,
        component: str,
        settings: Settings | None = None,
        bootstrap: str | None = None,
    ) -> None:
        self.model = model
        self.rows: dict[str, M] = {}
        self.view = FollowedTopic(
            spec, self._fold, component=component, settings=settings, bootstrap=bootstrap
        )

    @property
    def ready(self) -> asyncio.Event:
        return self.view.ready

    async def start(self) -> None:
        await self.view.start()

    async def stop(self) -> None:
        await self.view.stop()

    def _fold(self, received: Received) -> None:
        assert received.key is not None
        if received.value is None:
            self.rows.pop(received.key, None)
        else:
            self.rows[received.key] = received.value_as(self.model)

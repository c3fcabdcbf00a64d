"""A compacted catalog topic every worker holds whole in memory, kept current by following it.

The topic is its own changelog: the view follows every partition from the start with a
``TopicReader`` (no consumer group), so each worker can join any record with it whatever
partitions it owns, and a restarted worker rebuilds the view from the topic. Subclasses say what
one record does to the view (``apply_received``).
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from core.settings import Settings
from topics.catalog import TopicSpec
from topics.reader import Received, TopicReader

log = structlog.get_logger(__name__)


class FollowedView:
    """A view of one compacted topic; ``ready`` once it holds what the topic held at start."""

    def __init__(
        self, spec: TopicSpec, bootstrap: str, *, component: str, settings: Settings | None = None
    ) -> None:
        self._reader = TopicReader(
            spec, component=component, bootstrap=bootstrap, settings=settings
        )
        self.spec = spec
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def apply_received(self, received: Received) -> None:
        raise NotImplementedError

    def size(self) -> int:
        raise NotImplementedError

    async def start(self) -> None:
        await self._reader.start()
        self._task = following = asyncio.create_task(self._follow())
        caught_up = asyncio.ensure_future(self._reader.caught_up.wait())
        await asyncio.wait({following, caught_up}, return_when=asyncio.FIRST_COMPLETED)
        if following.done():
            caught_up.cancel()
            following.result()  # the reader failed: say why
        log.info("view loaded", topic=self.spec.name, records=self.size())
        self.ready.set()

    async def _follow(self) -> None:
        async for received in self._reader.follow():
            self.apply_received(received)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._reader.stop()

"""Views opened for one subject (an agency, a tenant) when it first asks, and kept open: the
service reads only the topics of the subjects that use it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

from core.lifecycle import Lifecycle

V = TypeVar("V", bound=Lifecycle)


class OpenedOnDemand(Lifecycle, Generic[V]):
    """subject -> its view, made by ``make`` and started by the first caller."""

    def __init__(self, make: Callable[[str], V]) -> None:
        self._make = make
        self._open: dict[str, asyncio.Task[V]] = {}

    async def _opened(self, subject: str) -> V:
        view = self._make(subject)
        try:
            await view.start()
        except BaseException:
            await view.stop()
            raise
        return view

    async def of(self, subject: str) -> V:
        """The subject's view, started (a failed start is tried again by the next caller)."""
        task = self._open.get(subject)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = self._open[subject] = asyncio.create_task(self._opened(subject))
        return await asyncio.shield(task)

    async def stop(self) -> None:
        tasks, self._open = list(self._open.values()), {}
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        for task in tasks:
            if not task.cancelled() and task.exception() is None:
                await task.result().stop()

"""Changes handed to whoever follows them: each Server-Sent Events client has a bounded queue of
its own, and a client that falls too far behind is dropped (it reconnects and reads the state
anew) rather than holding the service's memory. An agency's inbox and the city map's alerts both
tell their followers through one of these."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

# A follower that falls this far behind is dropped.
FOLLOWER_BACKLOG = 1000


class Fanout(Generic[T]):
    """Hands each change to every follower's queue and to every listener (called at once)."""

    def __init__(self, backlog: int = FOLLOWER_BACKLOG) -> None:
        self._backlog = backlog
        self._followers: set[asyncio.Queue[T | None]] = set()
        self._listeners: list[Callable[[T], None]] = []

    def listen(self, listener: Callable[[T], None]) -> None:
        """``listener`` is called with every change from now on (in the event loop's thread)."""
        self._listeners.append(listener)

    def tell(self, change: T) -> None:
        for listener in self._listeners:
            listener(change)
        for queue in list(self._followers):
            try:
                queue.put_nowait(change)
            except asyncio.QueueFull:
                self._followers.discard(queue)
                with contextlib.suppress(asyncio.QueueFull):
                    queue.get_nowait()
                    queue.put_nowait(None)

    def close(self) -> None:
        """Every follower's stream ends."""
        for queue in list(self._followers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)

    @contextlib.contextmanager
    def following(self) -> Iterator[AsyncIterator[T]]:
        """Each change from entering the block on, until ``close`` or the follower falls too far
        behind."""
        queue: asyncio.Queue[T | None] = asyncio.Queue(self._backlog)
        self._followers.add(queue)

        async def changes() -> AsyncIterator[T]:
            while (change := await queue.get()) is not None:
                yield change

        try:
            yield changes()
        finally:
            self._followers.discard(queue)

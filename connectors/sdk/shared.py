"""One resource per event loop for every connector instance on it, closed when the last user leaves.

A process watching 20,000 devices runs 20,000 connector instances; what they can share (an HTTP
connection pool, a notification endpoint) must exist once, not once per device:

    POOLS: PerLoop[HttpPool] = PerLoop(close=HttpPool.close)
    pool = POOLS.acquire(lambda: HttpPool(limits))   # the loop's pool, made by the first user
    ...
    await POOLS.release(pool)                        # the last release closes it

Keyed by the running loop (weakly), so tests that run many loops never share one by accident.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class _Share(Generic[T]):
    resource: T
    users: int = 0


class PerLoop(Generic[T]):
    """A resource made on first ``acquire`` on a loop, closed by the release of its last user."""

    def __init__(self, *, close: Callable[[T], Awaitable[None]]) -> None:
        self._close = close
        self._shares: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Share[T]] = (
            weakref.WeakKeyDictionary()
        )

    def acquire(self, make: Callable[[], T]) -> T:
        """The running loop's resource (``make()`` gives it to the first user); pair with ``release``."""
        loop = asyncio.get_running_loop()
        share = self._shares.get(loop)
        if share is None:
            share = _Share(make())
            self._shares[loop] = share
        share.users += 1
        return share.resource

    async def release(self, resource: T) -> None:
        loop = asyncio.get_running_loop()
        share = self._shares.get(loop)
        if share is None or share.resource is not resource:
            return
        share.users -= 1
        if share.users <= 0:
            del self._shares[loop]
            await self._close(resource)

    def users(self) -> int:
        """How many users hold the running loop's resource (0 when there is none)."""
        share = self._shares.get(asyncio.get_running_loop())
        return 0 if share is None else share.users

    def current(self) -> T | None:
        """The running loop's resource, if any user holds it."""
        share = self._shares.get(asyncio.get_running_loop())
        return None if share is None else share.resource

"""Helpers for a connector's own lifecycle: waits that end as soon as the connector is closed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


class Closed(Exception):
    """The connector was closed while waiting; ``events()`` should return quietly."""


async def until_closed(awaitable: Awaitable[T], closed: asyncio.Event) -> T:
    """Await ``awaitable`` unless ``closed`` is set first, in which case it is cancelled and
    ``Closed`` raised: a long poll or a stream read must not outlive ``close()``."""
    if closed.is_set():
        if asyncio.iscoroutine(awaitable):
            awaitable.close()
        raise Closed
    work = asyncio.ensure_future(awaitable)
    stop = asyncio.ensure_future(closed.wait())
    try:
        await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        # Also on outside cancellation: neither task may outlive this call.
        for task in (work, stop):
            task.cancel()
        await asyncio.gather(work, stop, return_exceptions=True)
    if work.cancelled():
        raise Closed
    return work.result()

"""Objects that are started and stopped around a block: ``async with Thing(...) as thing``.

A subclass writes ``start`` and ``stop``; entering the block starts it, leaving stops it, whether
the block ended normally or with an error.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Lifecycle:
    """Started on entering an ``async with`` block, stopped on leaving it."""

    async def start(self) -> None:
        """Acquire what the object works with (connections, sockets, tasks)."""

    async def stop(self) -> None:
        """Release it; safe to call when not started."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

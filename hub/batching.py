"""Processing a batch of events with table writes held until the batch's outputs are delivered.

An agent that both publishes and changes table state must not let the state reach its changelog
while an output it implies could still be lost in a crash. Per event that means one broker round
trip; per batch (``stream.take_events``) it is one round trip for many events. State read within
the batch sees the batch's own pending writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from faust.types import TableT

from hub.faust_workarounds import write_table


class HeldWrites:
    """Pending table writes (by key, each with the partition its changelog record belongs to)."""

    def __init__(self, table: TableT, on_write: Callable[[Any], None] | None = None) -> None:
        self.table = table
        self._on_write = on_write
        self._pending: dict[Any, tuple[int, Any]] = {}
        self._deliveries: list[asyncio.Future[Any]] = []

    def get(self, key: Any) -> Any:
        if key in self._pending:
            return self._pending[key][1]
        return self.table.get(key)

    def set(self, key: Any, partition: int, value: Any) -> None:
        self._pending[key] = (partition, value)

    def delete(self, key: Any, partition: int) -> None:
        self._pending[key] = (partition, None)

    def after(self, deliveries: list[asyncio.Future[Any]]) -> None:
        """Hold the writes until these outputs are delivered too."""
        self._deliveries.extend(deliveries)

    async def apply(self) -> None:
        """Wait for every output, then write the state (changelog first, then the local store)."""
        if self._deliveries:
            await asyncio.gather(*self._deliveries)
        for key, (partition, value) in self._pending.items():
            # Not table[key] = value: the current event is the batch's last, of one partition.
            write_table(self.table, partition, key, value)
            if self._on_write is not None:
                self._on_write(key)
        self._pending.clear()
        self._deliveries.clear()

"""Which table entries a timer must look at now: a due time per key, earliest first.

Timers used to scan whole tables on every run, which costs time in proportion to the table
(tens of thousands of cameras, rules and alerts) even when nothing is about to change. An index
keeps, per key, the earliest moment time alone could change that entry. Writers ``touch`` a key
(look at it on the next run); the timer ``pop_due``s what is due, and ``schedule``s each entry it
found unchanged for its next moment. ``sync`` adopts entries written without ``touch`` (a table
restored from its changelog) and forgets deleted ones.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

# However far off an entry's next moment looks, a timer looks at it at least this often.
RECHECK_CAP_S = 60.0


class DueIndex:
    """Per key: when to look next (epoch seconds) and a version that every ``touch`` bumps."""

    def __init__(self) -> None:
        self._due: dict[str, float] = {}
        self._version: dict[str, int] = {}
        self._heap: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._due)

    def touch(self, key: str, at: float = 0.0) -> None:
        """The entry changed: look at it on the next run (or from ``at``)."""
        self._version[key] = self._version.get(key, 0) + 1
        self._set(key, at)

    def schedule(self, key: str, at: float, version: int) -> None:
        """Next look at ``at``, unless the entry was touched since it was popped as ``version``."""
        if self._version.get(key) == version:
            self._set(key, at)

    def forget(self, key: str) -> None:
        self._due.pop(key, None)
        self._version.pop(key, None)

    def sync(self, keys: Iterable[str]) -> None:
        """Make the index cover exactly ``keys``: new ones are due now, missing ones dropped."""
        present = set(keys)
        for key in present.difference(self._due):
            self.touch(key)
        for key in set(self._due).difference(present):
            self.forget(key)

    def pop_due(self, now: float) -> list[tuple[str, int]]:
        """Keys due at ``now`` (each with its version), removed until scheduled again."""
        due: list[tuple[str, int]] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            at, key = heapq.heappop(heap)
            if self._due.get(key) != at:
                continue  # superseded by a later touch or schedule
            del self._due[key]
            due.append((key, self._version.get(key, 0)))
        if len(heap) > 4 * len(self._due) + 64:
            self._compact()
        return due

    def _set(self, key: str, at: float) -> None:
        self._due[key] = at
        heapq.heappush(self._heap, (at, key))

    def _compact(self) -> None:
        self._heap = [(at, key) for key, at in self._due.items()]
        heapq.heapify(self._heap)


async def scan(items: list[Any], every: int = 200) -> AsyncIterator[Any]:
    """Iterate a snapshot, letting the event loop run every ``every`` items.

    A timer's share of a table can be large; without yielding, it would hold up every agent of
    the worker for its whole duration.
    """
    for index, item in enumerate(items):
        if index and index % every == 0:
            await asyncio.sleep(0)
        yield item


class Table(Protocol):
    """What a timer reads of a Faust table: its local store, and entries by key."""

    @property
    def data(self) -> Mapping[Any, Any]: ...

    def get(self, key: Any) -> Any: ...


async def due_entries(
    due: DueIndex, table: Table, now: datetime
) -> AsyncIterator[tuple[str, int, Any]]:
    """A timer's share of a table: (key, version, stored value) of each entry due at ``now``.

    The index is first brought in line with the table (entries restored from the changelog are
    due at once, deleted ones forgotten); an entry deleted meanwhile is skipped. The caller
    ``schedule``s each entry it is given.
    """
    due.sync(table.data.keys())
    async for key, version in scan(due.pop_due(now.timestamp())):
        stored = table.get(key)
        if stored is None:
            due.forget(key)
            continue
        yield key, version, stored

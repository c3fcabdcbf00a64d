"""What every domain of the hub shares inside one worker: the Faust app, its config and edges."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import faust
import faust.types

from hub.config import HubConfig
from hub.due import DueIndex
from hub.edge import CatalogTopics
from hub.gaps import GapGuard
from hub.registry_view import RegistryView


@dataclass
class Hub:
    config: HubConfig
    app: faust.App
    catalog: CatalogTopics
    registry: RegistryView
    gaps: GapGuard
    extras: dict[str, object] = field(default_factory=dict)
    internal_topics: dict[str, int] = field(default_factory=dict)

    def internal_topic(self, name: str, partitions: int) -> faust.TopicT:
        """A hub-private topic of JSON records, partitioned like the table its messages update.

        Raw to Faust: records are written with ``CatalogTopics.send_json`` and read with
        ``hub.isolation.internal_json``, so one that is not JSON is dead-lettered, not thrown
        into the agent by Faust's deserializer.
        """
        full_name = f"{self.config.app_id}-{name}"
        self.internal_topics[full_name] = partitions
        return self.app.topic(
            full_name,
            partitions=partitions,
            internal=True,
            key_serializer="raw",
            value_serializer="raw",
        )

    def table(self, name: str, partitions: int) -> faust.types.TableT:
        return self.app.Table(
            name,
            partitions=partitions,
            schema=faust.Schema(key_serializer="json", value_serializer="json"),
        )


async def scan(items: list[tuple[Any, Any]], every: int = 200) -> AsyncIterator[tuple[Any, Any]]:
    """Iterate a table snapshot, letting the event loop run every ``every`` entries.

    Timers scan whole tables; without yielding, a scan of many entries would hold up every agent
    of the worker for its whole duration.
    """
    for index, item in enumerate(items):
        if index and index % every == 0:
            await asyncio.sleep(0)
        yield item


async def due_entries(
    due: DueIndex, table: faust.types.TableT, now: datetime
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


def utcnow() -> datetime:
    return datetime.now(UTC)

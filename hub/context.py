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
        """A hub-private topic (JSON), partitioned like the table its messages update."""
        full_name = f"{self.config.app_id}-{name}"
        self.internal_topics[full_name] = partitions
        return self.app.topic(
            full_name,
            partitions=partitions,
            internal=True,
            key_serializer="json",
            value_serializer="json",
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


def utcnow() -> datetime:
    return datetime.now(UTC)

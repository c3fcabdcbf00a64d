"""The edge agent follows its site's record on ``tilik.tenant.<tenant>.sites.v1`` (which the
tenant's principal may read) for the cameras its tenant revoked through ``tilik api``: it stops
watching them, and takes them back when the tenant confirms them again. A removed site (a
tombstone) revokes every camera of it.

The city applies a revocation without the site (the hub tombstones the camera at once); this only
stops the site from watching, and sending, what the city no longer takes. A site that cannot read
the topic (an older deployment, a broker that refuses it) says so once and goes on watching.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from core.settings import Settings
from topics.catalog import tenant_topics
from topics.models import SiteConfig
from topics.reader import TopicReader

log = structlog.get_logger(__name__)

#: called with the city ids the site's record revokes (``None``: the site is removed, all of them)
OnRevoked = Callable[[frozenset[str] | None], Awaitable[None]]


async def follow_site(
    tenant: str,
    site: str,
    settings: Settings,
    on_revoked: OnRevoked,
    stop: asyncio.Event,
    say: Callable[[str], None],
) -> None:
    """Until ``stop``: each version of the site's record, handed to ``on_revoked``."""
    reader = TopicReader(
        tenant_topics(tenant).site_config,
        component=f"edge.{tenant}.{site}.sites",
        require_key=True,
        settings=settings,
    )
    try:
        await reader.start()
    except Exception as exc:  # noqa: BLE001 - the site keeps watching without it
        say(f"the site's configuration topic cannot be read ({type(exc).__name__}): "
            "cameras revoked in the city stay watched here")  # fmt: skip
        await reader.stop()
        return

    async def follow() -> None:
        async for received in reader.follow():
            if received.key != site or received.error is not None:
                continue
            record = received.value_as(SiteConfig) if received.value is not None else None
            await on_revoked(frozenset(record.revoked) if record is not None else None)

    task = asyncio.create_task(follow(), name=f"edge-site-{site}")
    try:
        await asyncio.wait(
            [task, asyncio.ensure_future(stop.wait())], return_when=asyncio.FIRST_COMPLETED
        )
        if task.done() and task.exception() is not None:
            log.warning("site configuration no longer followed", error=str(task.exception()))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        await reader.stop()

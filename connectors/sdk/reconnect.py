"""Keeps an endless device stream open: reopen with exponential backoff and jitter when it drops.

Every ``VendorConnector`` event stream runs through ``reconnecting``; it resets the backoff
(``core.backoff``) once a connection delivers something, so a flapping link is retried quickly and
a dead device slowly.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import structlog

from connectors.sdk.errors import DeviceDataError, RetriableError
from connectors.sdk.lifecycle import until_closed
from core.backoff import Backoff

log = structlog.get_logger(__name__)

T = TypeVar("T")

#: what a dropped stream raises; an AuthenticationError or ConfigurationError is the caller's
RECONNECT_ERRORS: tuple[type[Exception], ...] = (RetriableError, DeviceDataError)


async def reconnecting(
    open_stream: Callable[[], AsyncIterator[T]],
    *,
    backoff: Backoff,
    device: str,
    closed: asyncio.Event | None = None,
) -> AsyncIterator[T]:
    """Items of ``open_stream()``, reopened after every drop or clean end, until ``closed`` is set
    (then ``connectors.sdk.lifecycle.Closed`` is raised)."""
    while True:
        delivered = False
        try:
            async for item in open_stream():
                if not delivered:
                    delivered = True
                    backoff.reset()
                yield item
            reason = "stream ended"
        except RECONNECT_ERRORS as exc:
            reason = str(exc)
        delay = backoff.next_delay()
        log.info("stream_reconnect", device=device, reason=reason, delay_s=round(delay, 3))
        if closed is None:
            await asyncio.sleep(delay)
        else:
            await until_closed(asyncio.sleep(delay), closed)

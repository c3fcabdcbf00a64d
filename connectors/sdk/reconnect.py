"""Keeps an endless device stream open: reopen with exponential backoff and jitter when it drops.

Both vendors' event streams run through ``reconnecting``; it resets the backoff once a connection
delivers something, so a flapping link is retried quickly and a dead device slowly.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog

from connectors.sdk.errors import DeviceDataError, RetriableError
from connectors.sdk.lifecycle import until_closed

log = structlog.get_logger(__name__)

T = TypeVar("T")

#: what a dropped stream raises; an AuthenticationError or ConfigurationError is the caller's
RECONNECT_ERRORS: tuple[type[Exception], ...] = (RetriableError, DeviceDataError)


@dataclass
class Backoff:
    """Exponential backoff with full jitter between ``initial_s`` and ``max_s``."""

    initial_s: float = 1.0
    max_s: float = 60.0
    factor: float = 2.0
    attempt: int = 0

    def next_delay(self) -> float:
        ceiling = min(self.max_s, self.initial_s * self.factor**self.attempt)
        self.attempt += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0


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

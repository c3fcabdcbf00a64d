"""The shared stream reconnection loop: what it retries, what it raises, how closing ends it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from connectors.sdk.errors import AuthenticationError, DeviceDataError, RetriableError
from connectors.sdk.lifecycle import Closed
from connectors.sdk.reconnect import reconnecting
from core.backoff import Backoff


async def test_drops_are_retried_and_items_keep_flowing() -> None:
    script: list[list[int | Exception]] = [
        [1, 2, RetriableError("stream broken (ClientPayloadError)")],
        [DeviceDataError("garbled")],
        [3],  # a clean end is a drop too
        [4, 5],
    ]
    opened = 0

    async def open_stream() -> AsyncIterator[int]:
        nonlocal opened
        steps = script[min(opened, len(script) - 1)]
        opened += 1
        for step in steps:
            if isinstance(step, Exception):
                raise step
            yield step

    got: list[int] = []
    async for item in reconnecting(
        open_stream, backoff=Backoff(initial_s=0.001, max_s=0.01), device="dev-x"
    ):
        got.append(item)
        if len(got) == 5:
            break
    assert got == [1, 2, 3, 4, 5] and opened == 4


async def test_authentication_errors_are_not_retried() -> None:
    async def open_stream() -> AsyncIterator[int]:
        raise AuthenticationError("GET /stream: device refused the credentials (HTTP 401)")
        yield 0  # pragma: no cover - makes this an async generator

    with pytest.raises(AuthenticationError):
        async for _ in reconnecting(open_stream, backoff=Backoff(initial_s=0.001), device="dev-x"):
            pass


async def test_closing_interrupts_the_backoff_sleep() -> None:
    closed = asyncio.Event()

    async def open_stream() -> AsyncIterator[int]:
        raise RetriableError("refused")
        yield 0  # pragma: no cover

    async def close_soon() -> None:
        await asyncio.sleep(0.05)
        closed.set()

    closer = asyncio.create_task(close_soon())
    with pytest.raises(Closed):
        async with asyncio.timeout(2):
            async for _ in reconnecting(
                open_stream, backoff=Backoff(initial_s=30, max_s=30), device="dev-x", closed=closed
            ):
                pass
    await closer

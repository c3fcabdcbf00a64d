"""The drill's cuttable link: it relays both ways, goes dark on ``cut`` (bytes dropped, new
connections never answered) and relays new connections again after ``restore``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from core.localkafka.layout import free_ports
from tilik.drill.wan import CuttableLink


@contextlib.asynccontextmanager
async def echo_server() -> AsyncIterator[int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def round_trip(port: int, payload: bytes, timeout_s: float) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.readexactly(len(payload)), timeout_s)
    finally:
        writer.close()


async def test_the_link_relays_goes_dark_when_cut_and_relays_again_when_restored() -> None:
    async with echo_server() as target:
        (listen,) = free_ports(1)
        link = CuttableLink([(listen, target)]).start()
        try:
            assert await round_trip(listen, b"hello", 10) == b"hello"
            reader, writer = await asyncio.open_connection("127.0.0.1", listen)
            link.cut()
            # An open connection carries nothing; a new one is accepted and never answered.
            writer.write(b"lost")
            await writer.drain()
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(reader.read(4), 0.5)
            with pytest.raises(TimeoutError):
                await round_trip(listen, b"dark", 0.5)
            link.restore()
            # The dark connection ends, as a peer's timeout would end it.
            assert await asyncio.wait_for(reader.read(4), 10) == b""
            writer.close()
            assert await round_trip(listen, b"again", 10) == b"again"
        finally:
            link.stop()

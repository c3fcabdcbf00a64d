"""The edge site's network path to the city: a TCP relay per broker that the drill can cut.

The drill's brokers tell TLS clients the relay's ports (``LocalKafka(tls_relay=True)``), so every
byte between an edge agent and the cluster crosses this relay, and nothing else does. ``cut``
behaves as a link that went dark: open connections stop carrying data (their bytes are dropped,
as on a dead route, not refused) and new ones are accepted but never answered; ``restore`` ends
the dead connections, as the peers' timeouts would, and relays new ones again. The TLS session
inside is untouched: the relay sees ciphertext only.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable
from functools import partial

CHUNK = 64 * 1024
START_TIMEOUT_S = 10.0


class CuttableLink:
    """Relays ``listen port -> target port`` on 127.0.0.1 for each pair, in a thread of its own."""

    def __init__(self, routes: Iterable[tuple[int, int]], host: str = "127.0.0.1") -> None:
        self.routes = list(routes)
        self.host = host
        self.cut_now = False
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self._servers: list[asyncio.Server] = []
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="drill-wan", daemon=True)

    def start(self) -> CuttableLink:
        self._thread.start()
        if not self._started.wait(START_TIMEOUT_S):
            raise TimeoutError("the drill's network relay did not start")
        return self

    def cut(self) -> None:
        """From now on nothing passes, in either direction, until ``restore``."""
        self.cut_now = True

    def restore(self) -> None:
        """Ends the connections that went dark and relays new ones again."""
        self.cut_now = False
        self._loop.call_soon_threadsafe(self._drop_all)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(START_TIMEOUT_S)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        for listen, target in self.routes:
            server = self._loop.run_until_complete(
                asyncio.start_server(partial(self._relay, target=target), self.host, listen)
            )
            self._servers.append(server)
        self._started.set()
        try:
            self._loop.run_forever()
        finally:
            for server in self._servers:
                server.close()
            self._drop_all()
            self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    async def _relay(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, target: int
    ) -> None:
        self._writers.add(writer)
        try:
            if self.cut_now:
                # A dark link: the connection is there, nothing ever comes back.
                await reader.read()
                return
            try:
                upstream_reader, upstream = await asyncio.open_connection(self.host, target)
            except OSError:
                return
            self.connections += 1
            self._writers.add(upstream)
            await asyncio.gather(self._pipe(reader, upstream), self._pipe(upstream_reader, writer))
        finally:
            self._close(writer)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(CHUNK):
                if self.cut_now:
                    continue  # dropped on the dark link
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._close(writer)

    def _close(self, writer: asyncio.StreamWriter) -> None:
        self._writers.discard(writer)
        with contextlib.suppress(Exception):
            writer.close()

    def _drop_all(self) -> None:
        for writer in list(self._writers):
            self._close(writer)

"""HTTP/1.1 on asyncio, as the SDK speaks it to devices: bounded heads, framed bodies, kept-alive
connections per device.

This is the transport under ``connectors.sdk.http.HttpPool`` (which adds deadlines, size caps,
authentication and the translation to SDK errors). It does only what talking to cameras and
recorders needs, and does it cheaply, because a city's onboarding sends a dozen requests to each
of 20,000 devices from one thread:

- one request at a time per connection; a connection goes back to its device's idle list when
  its response was read to the end and neither side asked to close, and is closed after
  ``keepalive_s`` idle;
- at most ``limit`` connections in all and ``limit_per_host`` per device (callers wait);
- a response head of at most ``MAX_HEAD_BYTES`` (``MAX_LINE_BYTES`` per line, ``MAX_FIELDS``
  fields), anything else is ``HeadError``; a body framed by Content-Length, chunked coding or
  the connection's close, read as the caller asks (``Response.read``), never buffered beyond
  ``HIGH_WATER_BYTES`` (reading pauses);
- a connection the device closed while it sat idle is noticed, and a request that got no byte
  back on a reused connection is sent once more on a new one;
- no redirects, cookies, proxies or compression: a device's answer is taken as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import ssl
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

MAX_LINE_BYTES = 8190
MAX_FIELDS = 128
MAX_HEAD_BYTES = 64 * 1024
#: a connection stops reading from the socket while this much is buffered and unread
HIGH_WATER_BYTES = 256 * 1024
_INFORMATIONAL_MAX = 8  # 1xx heads skipped before a final one
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_DIGITS = re.compile(r"[0-9]{1,18}")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}")
_UNSAFE_IN_HEADER = re.compile(r"[\r\n\x00]")
USER_AGENT = "tilik"


class HeadError(Exception):
    """The device's response head is malformed or larger than the limits."""


class BodyError(Exception):
    """The device's body framing is malformed (a chunk size that is not one)."""


class ConnectionLost(ConnectionError):
    """The connection ended before the response did."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where a URL's request goes: the pool key and the request line's parts."""

    scheme: str
    host: str
    port: int
    host_header: str
    path_qs: str

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


@functools.lru_cache(maxsize=4096)
def _target_of_text(url: str) -> Target:
    return target_of(URL(url))


def target_of(url: str | URL, params: Mapping[str, str] | None = None) -> Target:
    """The target of an absolute http(s) URL; ``ValueError`` for anything else."""
    if isinstance(url, str) and not params:
        return _target_of_text(url)
    parsed = URL(url) if isinstance(url, str) else url
    if params:
        parsed = parsed.update_query(params)
    scheme = parsed.scheme
    if scheme not in ("http", "https") or not parsed.raw_host:
        raise ValueError("not an absolute http(s) URL")
    if parsed.user is not None or parsed.password is not None:
        raise ValueError("a URL with user info")
    host = parsed.raw_host
    port = parsed.port or (443 if scheme == "https" else 80)
    shown = f"[{host}]" if ":" in host else host
    default = (scheme == "http" and port == 80) or (scheme == "https" and port == 443)
    return Target(
        scheme=scheme,
        host=host,
        port=port,
        host_header=shown if default else f"{shown}:{port}",
        path_qs=parsed.raw_path_qs or "/",
    )


def request_bytes(
    method: str, target: Target, headers: Mapping[str, str], body: bytes | None
) -> bytes:
    """The request's bytes; ``ValueError`` for a header that would split the request."""
    lines = [f"{method} {target.path_qs} HTTP/1.1", f"Host: {target.host_header}"]
    names = set()
    for name, value in headers.items():
        if _UNSAFE_IN_HEADER.search(name) or _UNSAFE_IN_HEADER.search(value) or ":" in name:
            raise ValueError("a header name or value with a line break")
        names.add(name.lower())
        lines.append(f"{name}: {value}")
    if "user-agent" not in names:
        lines.append(f"User-Agent: {USER_AGENT}")
    if "accept" not in names:
        lines.append("Accept: */*")
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body or b'')}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + body if body else head


class _Protocol(asyncio.Protocol):
    """Bytes in, with flow control; the reader waits on ``wait``."""

    __slots__ = ("_waiter", "buffer", "closed", "error", "paused", "received_any", "transport")

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.error: BaseException | None = None
        self.paused = False
        self.received_any = False
        self._waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.received_any = True
        if len(self.buffer) > HIGH_WATER_BYTES and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.error = exc
        self._wake()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        """Until more bytes arrive or the connection ends."""
        if self.closed:
            raise ConnectionLost("connection closed by the device") from self.error
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        self._waiter = asyncio.get_running_loop().create_future()
        await self._waiter

    def take(self, count: int) -> bytes:
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data


class Connection:
    """One kept-alive connection to one device."""

    __slots__ = ("forgotten", "idle_since", "in_use", "key", "protocol", "reused")

    def __init__(self, key: tuple[str, str, int], protocol: _Protocol) -> None:
        self.key = key
        self.protocol = protocol
        self.reused = False
        self.in_use = True
        self.forgotten = False
        self.idle_since = 0.0

    @property
    def usable(self) -> bool:
        transport = self.protocol.transport
        return (
            not self.protocol.closed
            and not self.protocol.buffer
            and transport is not None
            and not transport.is_closing()
        )

    def write(self, data: bytes) -> None:
        transport = self.protocol.transport
        if transport is None or self.protocol.closed or transport.is_closing():
            raise ConnectionLost("connection closed by the device")
        transport.write(data)

    def close(self) -> None:
        transport = self.protocol.transport
        if transport is not None:
            transport.abort()
        self.protocol.closed = True

    async def read_head(self) -> tuple[int, bool, CIMultiDictProxy[str]]:
        """The next final response head: (status, HTTP/1.1 or later, headers)."""
        for _ in range(_INFORMATIONAL_MAX):
            status, modern, headers = await self._one_head()
            if status >= 200 or status == 101:
                return status, modern, headers
        raise HeadError("too many informational responses")

    async def _one_head(self) -> tuple[int, bool, CIMultiDictProxy[str]]:
        protocol = self.protocol
        searched = 0
        while True:
            end = protocol.buffer.find(b"\r\n\r\n", max(0, searched - 3))
            if end >= 0:
                break
            searched = len(protocol.buffer)
            if searched > MAX_HEAD_BYTES:
                raise HeadError("response head too large")
            await protocol.wait()
        if end > MAX_HEAD_BYTES:
            raise HeadError("response head too large")
        head = protocol.take(end + 4)
        return parse_head(head[:end])


def parse_head(head: bytes) -> tuple[int, bool, CIMultiDictProxy[str]]:
    """(status, HTTP/1.1 or later, headers) of a response head without its blank line;
    ``HeadError`` for anything else."""
    lines = head.split(b"\r\n")
    status_line = lines[0]
    if len(status_line) > MAX_LINE_BYTES or not status_line.startswith(b"HTTP/1."):
        raise HeadError("malformed status line")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or len(parts[1]) != 3 or not parts[1].isdigit():
        raise HeadError("malformed status line")
    modern = parts[0] != b"HTTP/1.0"
    if len(lines) - 1 > MAX_FIELDS:
        raise HeadError("too many header fields")
    fields = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or len(line) > MAX_LINE_BYTES or not _TOKEN.fullmatch(name):
            raise HeadError("malformed or too large header field")
        fields.append((name.decode("ascii"), value.strip(b" \t").decode("latin-1")))
    return int(parts[1]), modern, CIMultiDictProxy(CIMultiDict(fields))


class Response:
    """A response being read: its head, and its body as the caller asks for it.

    ``release()`` when done: a connection whose body was read to the end goes back to its pool,
    any other is closed. ``close()`` ends the connection at once (a pending ``read`` raises).
    """

    def __init__(
        self,
        pool: WirePool,
        connection: Connection,
        status: int,
        modern: bool,
        headers: CIMultiDictProxy[str],
        method: str,
    ) -> None:
        self._pool = pool
        self._connection: Connection | None = connection
        self.status = status
        self.headers = headers
        self.content_length: int | None = None
        self._chunked = False
        self._chunk_left = 0
        self._to_close = False
        self._done = False
        self._left = 0
        self._reusable = modern
        connection_header = headers.get("Connection", "").lower()
        if "close" in connection_header:
            self._reusable = False
        elif not modern and "keep-alive" in connection_header:
            self._reusable = True
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            self._done = True
            return
        encoding = headers.get("Transfer-Encoding", "").lower()
        if encoding:
            if encoding.rsplit(",", 1)[-1].strip() != "chunked":
                raise HeadError("unsupported transfer coding")
            self._chunked = True
            if "Content-Length" in headers:
                self._reusable = False  # both framings given: read by the chunks, then drop
            return
        lengths = set(headers.getall("Content-Length", []))
        if len(lengths) > 1:
            raise HeadError("conflicting Content-Length fields")
        if lengths:
            text = lengths.pop().strip()
            if not _DIGITS.fullmatch(text):
                raise HeadError("malformed Content-Length")
            self.content_length = int(text)
            self._done = self.content_length == 0
            self._left = self.content_length
            return
        self._to_close = True  # read until the device closes
        self._reusable = False

    async def read(self, limit: int) -> bytes:
        """Up to ``limit`` bytes of the body (at least one), ``b""`` at its end."""
        if self._done:
            return b""
        connection = self._require()
        protocol = connection.protocol
        if self._chunked:
            return await self._read_chunked(protocol, limit)
        while not protocol.buffer:
            if protocol.closed:
                if self._to_close:
                    self._done = True
                    return b""
                raise ConnectionLost("body ended early")
            try:
                await protocol.wait()
            except ConnectionLost:
                if self._to_close:
                    self._done = True
                    return b""
                raise
        if self._to_close:
            return protocol.take(limit)
        data = protocol.take(min(limit, self._left))
        self._left -= len(data)
        if self._left == 0:
            self._done = True
        return data

    async def _read_chunked(self, protocol: _Protocol, limit: int) -> bytes:
        while self._chunk_left == 0:
            size = await self._chunk_size(protocol)
            if size == 0:
                await self._skip_trailers(protocol)
                self._done = True
                return b""
            self._chunk_left = size
        while not protocol.buffer:
            await protocol.wait()
        data = protocol.take(min(limit, self._chunk_left))
        self._chunk_left -= len(data)
        if self._chunk_left == 0 and await self._line(protocol):
            raise BodyError("chunk data longer than its size")  # not the CRLF after it
        return data

    async def _chunk_size(self, protocol: _Protocol) -> int:
        line = await self._line(protocol)
        text = line.split(b";", 1)[0].strip(b" \t")
        if not _HEX.fullmatch(text):
            raise BodyError("malformed chunk size")
        return int(text, 16)

    async def _skip_trailers(self, protocol: _Protocol) -> None:
        for _ in range(MAX_FIELDS + 1):
            if not await self._line(protocol):
                return
        raise BodyError("too many trailer fields")

    async def _line(self, protocol: _Protocol) -> bytes:
        while True:
            end = protocol.buffer.find(b"\r\n")
            if end >= 0:
                line = protocol.take(end + 2)[:-2]
                return line
            if len(protocol.buffer) > MAX_LINE_BYTES:
                raise BodyError("chunk line too long")
            await protocol.wait()

    def _require(self) -> Connection:
        if self._connection is None:
            raise ConnectionLost("response already released")
        return self._connection

    def release(self) -> None:
        """Done with the response: its connection is reused if the body was read to its end."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if self._done and self._reusable and connection.usable:
            self._pool.put_back(connection)
        else:
            self._pool.discard(connection)

    def close(self) -> None:
        """End the connection now; a pending read raises ``ConnectionLost``."""
        connection, self._connection = self._connection, None
        if connection is not None:
            self._pool.discard(connection)


class _Host:
    """A device's connections: how many are open, the idle ones, who waits for one."""

    __slots__ = ("idle", "open", "waiters")

    def __init__(self) -> None:
        self.open = 0
        self.idle: deque[Connection] = deque()
        self.waiters: deque[asyncio.Future[None]] = deque()


_CONTEXTS: dict[bool, ssl.SSLContext] = {}


def _ssl_context(verify: bool) -> ssl.SSLContext:
    context = _CONTEXTS.get(verify)
    if context is None:
        context = ssl.create_default_context()
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        _CONTEXTS[verify] = context
    return context


class WirePool:
    """Connections to many devices: at most ``limit`` in use at once, and at most
    ``limit_per_host`` open (in use or idle) to any one device."""

    def __init__(self, *, limit: int, limit_per_host: int, keepalive_s: float) -> None:
        self.limit_per_host = limit_per_host
        self.keepalive_s = keepalive_s
        self._slots = asyncio.Semaphore(limit)
        self._hosts: dict[tuple[str, str, int], _Host] = {}
        self._closed = False
        # Idle connections in the order they went idle (so in the order they expire), swept by
        # one timer for the whole pool rather than one per connection.
        self._idle_order: deque[tuple[float, Connection]] = deque()
        self._sweep: asyncio.TimerHandle | None = None
        # Connections carrying a request or a stream now: closing the pool ends them too.
        self._in_use: set[Connection] = set()

    async def request(
        self,
        method: str,
        target: Target,
        head_and_body: bytes,
        *,
        connect_timeout_s: float,
        verify_tls: bool,
    ) -> Response:
        """Send a request and read its response head (the caller's deadline bounds it all)."""
        for attempt in (1, 2):
            connection = await self._acquire(target, connect_timeout_s, verify_tls)
            try:
                connection.write(head_and_body)
                status, modern, headers = await connection.read_head()
                return Response(self, connection, status, modern, headers, method)
            except ConnectionLost:
                stale = connection.reused and not connection.protocol.received_any
                self.discard(connection)
                if stale and attempt == 1:
                    continue  # the device closed it while it sat idle: once more, on a new one
                raise
            except BaseException:
                self.discard(connection)
                raise
        raise AssertionError("unreachable")

    async def _acquire(
        self, target: Target, connect_timeout_s: float, verify_tls: bool
    ) -> Connection:
        if self._closed:
            raise ConnectionLost("pool closed")
        await self._slots.acquire()
        try:
            connection = await self._connection(target, connect_timeout_s, verify_tls)
        except BaseException:
            self._slots.release()
            raise
        self._in_use.add(connection)
        return connection

    async def _connection(
        self, target: Target, connect_timeout_s: float, verify_tls: bool
    ) -> Connection:
        key = target.key
        while True:
            host = self._hosts.get(key)
            if host is None:
                host = self._hosts[key] = _Host()
            while host.idle:
                connection = host.idle.pop()
                if connection.usable and not self._expired(connection):
                    connection.in_use = True  # it carries the caller's slot from here
                    connection.reused = True
                    connection.protocol.received_any = False
                    return connection
                self._forget(connection)  # stale: closed, not counted (the slot is the caller's)
            # Forgetting a stale one may have let the device's entry go: keep counting on it.
            host = self._hosts.setdefault(key, host)
            if host.open < self.limit_per_host:
                break
            waiter = asyncio.get_running_loop().create_future()
            host.waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in host.waiters:
                    host.waiters.remove(waiter)
            if self._closed:
                raise ConnectionLost("pool closed")
        host.open += 1
        try:
            async with asyncio.timeout(connect_timeout_s):
                _, protocol = await asyncio.get_running_loop().create_connection(
                    _Protocol,
                    target.host,
                    target.port,
                    ssl=_ssl_context(verify_tls) if target.scheme == "https" else None,
                    server_hostname=target.host if target.scheme == "https" else None,
                )
        except BaseException:
            host.open -= 1
            self._settle(key, host)
            raise
        return Connection(key, protocol)

    def put_back(self, connection: Connection) -> None:
        """A connection whose response was read to its end, idle until reused or expired."""
        host = self._hosts.get(connection.key)
        if self._closed or host is None or connection.forgotten:
            self.discard(connection)
            return
        connection.in_use = False
        self._in_use.discard(connection)
        self._slots.release()
        host.idle.append(connection)
        loop = asyncio.get_running_loop()
        connection.idle_since = loop.time()
        self._idle_order.append((connection.idle_since, connection))
        if self._sweep is None:
            self._sweep = loop.call_later(self.keepalive_s, self._sweep_idle)
        self._settle(connection.key, host)

    def _expired(self, connection: Connection) -> bool:
        return asyncio.get_running_loop().time() - connection.idle_since >= self.keepalive_s

    def _sweep_idle(self) -> None:
        """Close the connections idle for ``keepalive_s``; come back for the next to expire."""
        self._sweep = None
        order = self._idle_order
        now = asyncio.get_running_loop().time()
        while order:
            since, connection = order[0]
            if connection.in_use or connection.forgotten or connection.idle_since != since:
                order.popleft()  # reused or closed since: not idle from then on
                continue
            if now - since < self.keepalive_s:
                break
            order.popleft()
            self.discard(connection)
        if order:
            wait = max(0.05, order[0][0] + self.keepalive_s - now)
            self._sweep = asyncio.get_running_loop().call_later(wait, self._sweep_idle)

    def discard(self, connection: Connection) -> None:
        """Close a connection, in use or idle, and forget it."""
        if connection.forgotten:
            return
        host = self._hosts.get(connection.key)
        if host is not None and not connection.in_use:
            with contextlib.suppress(ValueError):
                host.idle.remove(connection)
        self._forget(connection)

    def _forget(self, connection: Connection) -> None:
        if connection.forgotten:
            return
        connection.forgotten = True
        connection.close()
        self._in_use.discard(connection)
        if connection.in_use:
            connection.in_use = False
            self._slots.release()
        host = self._hosts.get(connection.key)
        if host is not None:
            host.open -= 1
            self._settle(connection.key, host)

    def _settle(self, key: tuple[str, str, int], host: _Host) -> None:
        """Let a waiter for the device go on; forget a device with nothing open."""
        while host.waiters:
            waiter = host.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        if host.open <= 0 and not host.idle and self._hosts.get(key) is host:
            del self._hosts[key]

    async def close(self) -> None:
        self._closed = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        self._idle_order.clear()
        for connection in list(self._in_use):
            self.discard(connection)  # a pending read ends with ConnectionLost
        for host in list(self._hosts.values()):
            for connection in list(host.idle):
                self.discard(connection)
            for waiter in host.waiters:
                if not waiter.done():
                    waiter.set_exception(ConnectionLost("pool closed"))
            host.waiters.clear()

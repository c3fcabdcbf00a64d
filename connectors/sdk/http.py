"""Bounded HTTP to untrusted devices: one client mechanism for every device protocol.

``HttpPool`` is the mechanism: one connection pool (the SDK's HTTP/1.1, ``connectors.sdk.wire``),
a total deadline per exchange, size caps enforced while streaming, HTTP Digest answered when a
device challenges for it (``connectors.sdk.digest``, remembered per device and credentials),
Basic when asked, and every failure translated to an SDK error that names no credential. Two
callers build on it:

- ``DeviceHttp``: one device's REST-style API (Hikvision ISAPI, Dahua, the scaffold's example),
  statuses judged, long-lived streams;
- ``connectors.onvif.soap.SoapTransport``: SOAP envelopes to thousands of cameras through one
  shared pool (the status of a SOAP reply is the fault in its body, so it judges statuses itself).

    async with DeviceHttp.for_config(config, device="dev-…") as http:
        body = await http.get_bytes("/ISAPI/System/deviceInfo")
        async with http.stream("/ISAPI/Event/notification/alertStream") as chunks:
            async for chunk in chunks:
                ...

Translation at this boundary (``raise … from exc``):

    401, 403                          -> AuthenticationError (both callers)
    408, 429, 5xx, timeouts, refused,
    resets, truncated bodies          -> RetriableError
    other non-2xx                     -> DeviceDataError (``status`` set), unless allowed
                                         (``DeviceHttp``; SOAP reads the fault instead)
    body larger than the cap          -> DeviceDataError (with the first bytes as payload)
    a response head the wire refuses
    (over its line/field limits,
    malformed status line or header,
    a chunk size that is not one)     -> DeviceDataError
    a URL that cannot be built        -> ConfigurationError

Every exchange has one total deadline (connect, send, read of the whole body, and the second
round trip of a Digest answer): the caller's ``timeout_s``, else ``HttpLimits.timeout_s``.
Nothing a device does (accept the connection and never answer, trickle bytes) outlasts it.
Idle keep-alive connections close after ``HttpLimits.keepalive_s``: a city's worth of cameras
checked once a minute must not hold a socket each between checks.

Messages carry the method, the path (never the query string, which may hold a token) and the
device id; never the credentials, and never a URL with user info.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

from multidict import CIMultiDictProxy
from yarl import URL

from connectors.sdk.base import ConnectorConfig
from connectors.sdk.digest import DigestAnswer
from connectors.sdk.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
    DeviceDataError,
    RetriableError,
)
from connectors.sdk.secrets import Credentials
from connectors.sdk.wire import (
    BodyError,
    HeadError,
    Response,
    WirePool,
    request_bytes,
    target_of,
)
from core.lifecycle import Lifecycle

AuthMode = Literal["digest", "basic", "none"]

#: how many bytes of an oversized or undecodable body are kept for the dead letters
PAYLOAD_SAMPLE_BYTES = 4096
_READ_CHUNK = 16 * 1024
_RETRIABLE_STATUSES = frozenset({408, 425, 429})
_AUTH_STATUSES = frozenset({401, 403})
#: Digest handshakes remembered at most (one per device that asked for one)
_MAX_DIGEST_DEVICES = 100_000

# The transport failures a device causes; anything else is a bug and propagates untranslated.
# HeadError and BodyError are the device's input (a 4 MB header, a garbage status line, a chunk
# size that is not one), not the network.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    HeadError,
    BodyError,
    asyncio.TimeoutError,
    OSError,
)


def translate_transport_error(
    exc: BaseException, *, what: str, device: str | None, timeout_s: float
) -> ConnectorError:
    """The SDK error for a failure of one exchange with a device (one of ``TRANSPORT_ERRORS``).

    The message names the exchange and the error type only, never the device's bytes.
    """
    if isinstance(exc, asyncio.TimeoutError):
        return RetriableError(f"{what}: no answer within {timeout_s:g}s", device=device)
    if isinstance(exc, HeadError):
        return DeviceDataError(
            f"{what}: response head is malformed or larger than the client accepts",
            device=device,
        )
    if isinstance(exc, BodyError):
        return DeviceDataError(f"{what}: response body framing is malformed", device=device)
    return RetriableError(f"{what}: device unreachable ({type(exc).__name__})", device=device)


class HttpStatusError(DeviceDataError):
    """A device answered with a status the caller did not expect (not auth, not transient)."""

    def __init__(self, message: str, *, status: int, device: str | None = None) -> None:
        super().__init__(message, device=device)
        self.status = status


@dataclass(frozen=True)
class HttpResult:
    """A fully read, size-checked response."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()

    def text(self, encoding: str = "utf-8") -> str:
        return self.body.decode(encoding, "replace")


@dataclass(frozen=True)
class HttpLimits:
    """The bounds of a pool; a device that exceeds them is treated as unreachable or hostile."""

    timeout_s: float = 10.0
    connect_timeout_s: float = 5.0
    max_response_bytes: int = 2 * 1024 * 1024
    max_connections: int = 1024
    max_connections_per_host: int = 8
    keepalive_s: float = 2.0


def _credentials_hash(credentials: Credentials) -> str:
    """What a remembered Digest handshake is checked against: a handshake made with one password
    must never authenticate a request made with another."""
    secret = f"{credentials.username}\x1f{credentials.password.get_secret_value()}"
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def path_only(url: str | URL) -> str:
    """A URL's path for messages: never its query (a token), host or user info."""
    if isinstance(url, URL):
        return url.path
    return url.split("?", 1)[0] if url.startswith("/") else URL(url).path


class HttpPool(Lifecycle):
    """One HTTP connection pool for many devices, and the rules every exchange with them follows.

    Connections open on first use (``connectors.sdk.wire``); ``close()`` ends them (a closed
    pool refuses new exchanges: a late unsubscribe after shutdown must not open a pool nobody
    closes).
    """

    def __init__(self, limits: HttpLimits | None = None) -> None:
        self.limits = limits or HttpLimits()
        self._wire: WirePool | None = None
        self._closed = False
        #: requests sent through the pool (each round trip of a Digest answer counts)
        self.requests = 0
        # Devices that answered with an HTTP Digest challenge keep their answer (it reuses the
        # nonce, so later requests need no extra round trip) with the hash of the credentials it
        # was made with; others cost nothing here, not even the hash.
        self._digest: dict[str, tuple[str, DigestAnswer]] = {}

    async def stop(self) -> None:
        await self.close()

    @property
    def wire(self) -> WirePool:
        if self._closed:
            raise RetriableError("HTTP pool is closed")
        if self._wire is None:
            limits = self.limits
            self._wire = WirePool(
                limit=limits.max_connections,
                limit_per_host=limits.max_connections_per_host,
                keepalive_s=limits.keepalive_s,
            )
        return self._wire

    async def close(self) -> None:
        self._closed = True
        wire, self._wire = self._wire, None
        if wire is not None:
            await wire.close()

    async def exchange(
        self,
        method: str,
        url: str | URL,
        *,
        device: str | None,
        what: str | None = None,
        credentials: Credentials | None = None,
        auth: AuthMode = "digest",
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        allow_status: frozenset[int] | set[int] = frozenset(),
        check_status: Callable[[int], None] | None = None,
        timeout_s: float | None = None,
        max_bytes: int | None = None,
        verify_tls: bool = True,
    ) -> HttpResult:
        """Send one request and read the whole body (at most ``max_bytes``) within one deadline.

        401 and 403 raise ``AuthenticationError`` unless allowed; other statuses are the
        caller's to judge, before the body is read when it gives ``check_status``.
        """
        what = what or f"{method} {path_only(url)}"
        deadline_s = timeout_s if timeout_s is not None else self.limits.timeout_s
        limit = max_bytes or self.limits.max_response_bytes
        try:
            # One deadline over everything: connect, send, both round trips of a Digest
            # answer, the whole body.
            async with asyncio.timeout(deadline_s):
                response = await self._response(
                    method,
                    url,
                    device=device,
                    credentials=credentials,
                    auth=auth,
                    data=data,
                    headers=headers,
                    params=params,
                    connect_timeout_s=min(self.limits.connect_timeout_s, deadline_s),
                    verify_tls=verify_tls,
                )
                try:
                    _refuse_credentials(response.status, what, device, allow_status)
                    if check_status is not None:
                        check_status(response.status)
                    body = await read_bounded(response, limit, what=what, device=device)
                    return HttpResult(response.status, response.headers, body)
                finally:
                    response.release()
        except ConnectorError:
            raise
        except TRANSPORT_ERRORS as exc:
            raise translate_transport_error(
                exc, what=what, device=device, timeout_s=deadline_s
            ) from None
        except ValueError as exc:
            # A URL or header that cannot be sent as it is.
            raise ConfigurationError(
                f"{what}: invalid request ({type(exc).__name__})", device=device
            ) from exc

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str | URL,
        *,
        device: str | None,
        what: str | None = None,
        credentials: Credentials | None = None,
        auth: AuthMode = "digest",
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        verify_tls: bool = True,
    ) -> AsyncIterator[Response]:
        """A long-lived response (event streams): no total deadline, but connecting and the
        head wait at most the pool's timeout (each read's bound is the reader's:
        ``ResponseStream``). 401/403 raise ``AuthenticationError``; transport errors on the way
        in are translated."""
        what = what or f"{method} {path_only(url)}"
        try:
            async with asyncio.timeout(self.limits.timeout_s):
                response = await self._response(
                    method,
                    url,
                    device=device,
                    credentials=credentials,
                    auth=auth,
                    data=None,
                    headers=headers,
                    params=params,
                    connect_timeout_s=self.limits.timeout_s,
                    verify_tls=verify_tls,
                )
            try:
                _refuse_credentials(response.status, what, device, frozenset())
                yield response
            finally:
                response.release()
        except ConnectorError:
            raise
        except TRANSPORT_ERRORS as exc:
            raise translate_transport_error(
                exc, what=what, device=device, timeout_s=self.limits.timeout_s
            ) from exc

    async def _response(
        self,
        method: str,
        url: str | URL,
        *,
        device: str | None,
        credentials: Credentials | None,
        auth: AuthMode,
        data: bytes | str | None,
        headers: Mapping[str, str] | None,
        params: Mapping[str, str] | None,
        connect_timeout_s: float,
        verify_tls: bool,
    ) -> Response:
        """The response to one request (its head read; the caller releases it), answering a
        Digest challenge once if the device asks."""
        wire = self.wire
        target = target_of(url, params)
        request_headers = dict(headers or {})
        body = _body_of(data, request_headers)
        answer = None
        if credentials is not None and auth == "basic":
            request_headers["Authorization"] = _basic(credentials)
        elif credentials is not None and auth == "digest":
            answer = self._remembered_digest(device, credentials)

        async def send() -> Response:
            if answer is not None:
                request_headers["Authorization"] = answer.authorization(method, target.path_qs)
            self.requests += 1
            return await wire.request(
                method,
                target,
                request_bytes(method, target, request_headers, body),
                connect_timeout_s=connect_timeout_s,
                verify_tls=verify_tls,
            )

        response = await send()
        if credentials is None or auth != "digest" or response.status != 401:
            return response
        # The firmware wants HTTP Digest (on top of, or instead of, WS-Security), or a
        # remembered nonce went stale: answer the new challenge, once.
        fresh = answer or DigestAnswer(
            credentials.username, credentials.password.get_secret_value()
        )
        if not fresh.take(response.headers.get("WWW-Authenticate", "")):
            return response
        try:
            await _discard_body(response)
        finally:
            response.release()
        answer = fresh
        response = await send()
        if response.status != 401:
            self._remember_digest(device, credentials, fresh)
        return response

    def _remembered_digest(
        self, device: str | None, credentials: Credentials
    ) -> DigestAnswer | None:
        """The answer the device accepted with these very credentials, if any."""
        remembered = self._digest.get(device or "")
        if remembered is None or remembered[0] != _credentials_hash(credentials):
            return None
        return remembered[1]

    def _remember_digest(
        self, device: str | None, credentials: Credentials, answer: DigestAnswer
    ) -> None:
        key = device or ""
        if key not in self._digest and len(self._digest) >= _MAX_DIGEST_DEVICES:
            self._digest.pop(next(iter(self._digest)))
        self._digest[key] = (_credentials_hash(credentials), answer)


def _basic(credentials: Credentials) -> str:
    pair = f"{credentials.username}:{credentials.password.get_secret_value()}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


def _body_of(data: bytes | str | None, headers: dict[str, str]) -> bytes | None:
    """The request body as bytes, with a Content-Type when the caller gave none."""
    if data is None:
        return None
    named = any(name.lower() == "content-type" for name in headers)
    if isinstance(data, str):
        if not named:
            headers["Content-Type"] = "text/plain; charset=utf-8"
        return data.encode("utf-8")
    if not named:
        headers["Content-Type"] = "application/octet-stream"
    return data


async def _discard_body(response: Response, limit: int = 64 * 1024) -> None:
    """Read a small body to its end so the connection can carry the next request."""
    read = 0
    while read <= limit:
        chunk = await response.read(_READ_CHUNK)
        if not chunk:
            return
        read += len(chunk)
    response.close()


def _refuse_credentials(
    status: int, what: str, device: str | None, allow: frozenset[int] | set[int]
) -> None:
    if status in _AUTH_STATUSES and status not in allow:
        raise AuthenticationError(
            f"{what}: device refused the credentials (HTTP {status})", device=device
        )


async def read_bounded(response: Response, limit: int, *, what: str, device: str | None) -> bytes:
    """The whole body of ``response``, refused (``DeviceDataError``) once it passes ``limit``."""
    declared = response.content_length
    if declared is not None and declared > limit:
        raise DeviceDataError(
            f"{what}: response of {declared} bytes exceeds the {limit} byte limit",
            device=device,
        )
    buffer = bytearray()
    while True:
        chunk = await response.read(_READ_CHUNK)
        if not chunk:
            return bytes(buffer)
        buffer += chunk
        if len(buffer) > limit:
            raise DeviceDataError(
                f"{what}: response exceeds the {limit} byte limit",
                device=device,
                payload=bytes(buffer[:PAYLOAD_SAMPLE_BYTES]),
            )


class DeviceHttp(Lifecycle):
    """One device's HTTP API on an ``HttpPool``: base URL, auth, timeouts, the size cap, statuses.

    Without a ``pool`` it opens its own small one (four connections) for the device and closes
    it on ``close()``; with one, it shares that pool (and leaves closing it to its owner).
    """

    def __init__(
        self,
        base_url: str,
        *,
        credentials: Credentials | None = None,
        auth: AuthMode = "digest",
        timeout_s: float = 10.0,
        max_response_bytes: int = 2 * 1024 * 1024,
        device: str | None = None,
        verify_tls: bool = True,
        pool: HttpPool | None = None,
    ) -> None:
        try:
            self._base = URL(base_url)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"invalid device address {base_url!r}", device=device) from exc
        if self._base.user or self._base.password:
            raise ConfigurationError(
                "device address must not carry credentials; use credential_ref", device=device
            )
        if self._base.scheme not in ("http", "https") or not self._base.host:
            raise ConfigurationError(
                f"device address {base_url!r} is not http(s)://host", device=device
            )
        self.device = device
        self.timeout_s = timeout_s
        self.max_response_bytes = max_response_bytes
        self._credentials = credentials
        self._auth: AuthMode = auth if credentials is not None else "none"
        self._verify_tls = verify_tls
        self._shared_pool = pool
        self._pool: HttpPool | None = None

    @classmethod
    def for_config(
        cls,
        config: ConnectorConfig,
        *,
        device: str | None = None,
        auth: AuthMode = "digest",
        pool: HttpPool | None = None,
    ) -> DeviceHttp:
        """A session for a connector config: its address, credentials, timeout and size cap."""
        return cls(
            config.base_url,
            credentials=config.credentials(),
            auth=auth,
            timeout_s=config.timeout_s,
            max_response_bytes=config.max_response_bytes,
            device=device or config.address,
            pool=pool,
        )

    async def start(self) -> None:
        await self.open()

    async def stop(self) -> None:
        await self.close()

    async def open(self) -> None:
        if self._pool is not None:
            return
        self._pool = self._shared_pool or HttpPool(
            HttpLimits(
                timeout_s=self.timeout_s,
                connect_timeout_s=self.timeout_s,
                max_response_bytes=self.max_response_bytes,
                max_connections=4,
                max_connections_per_host=4,
            )
        )

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None and pool is not self._shared_pool:
            await pool.close()

    @property
    def pool(self) -> HttpPool:
        if self._pool is None:
            raise RuntimeError("DeviceHttp used outside `async with` (call open() first)")
        return self._pool

    def _url(self, path: str) -> URL:
        url = URL(path)
        return url if url.absolute else self._base.join(url)

    # --- requests ----------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        allow_status: frozenset[int] | set[int] = frozenset(),
        max_bytes: int | None = None,
    ) -> HttpResult:
        """Send one request and read the whole body, bounded by ``max_bytes`` (the config's cap)."""
        what = f"{method} {path_only(path)}"
        try:
            url = self._url(path)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(
                f"{what}: invalid request ({type(exc).__name__})", device=self.device
            ) from exc
        return await self.pool.exchange(
            method,
            url,
            device=self.device,
            what=what,
            credentials=self._credentials,
            auth=self._auth,
            data=data,
            headers=headers,
            params=params,
            allow_status=allow_status,
            check_status=lambda status: self._raise_for_status(status, what, allow_status),
            timeout_s=self.timeout_s,
            max_bytes=max_bytes or self.max_response_bytes,
            verify_tls=self._verify_tls,
        )

    async def get(
        self,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        allow_status: frozenset[int] | set[int] = frozenset(),
        max_bytes: int | None = None,
    ) -> HttpResult:
        return await self.request(
            "GET",
            path,
            params=params,
            headers=headers,
            allow_status=allow_status,
            max_bytes=max_bytes,
        )

    async def get_bytes(self, path: str, *, params: Mapping[str, str] | None = None) -> bytes:
        return (await self.request("GET", path, params=params)).body

    async def get_text(self, path: str, *, params: Mapping[str, str] | None = None) -> str:
        return (await self.request("GET", path, params=params)).text()

    @asynccontextmanager
    async def stream(
        self,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        idle_timeout_s: float | None = None,
        max_chunk_bytes: int | None = None,
    ) -> AsyncIterator[ResponseStream]:
        """A long-lived GET (event streams): no total timeout, but each read waits at most
        ``idle_timeout_s`` (default: the config timeout); chunks are at most ``max_chunk_bytes``."""
        what = f"GET {path_only(path)}"
        async with self.pool.stream(
            "GET",
            self._url(path),
            device=self.device,
            what=what,
            credentials=self._credentials,
            auth=self._auth,
            headers=headers,
            params=params,
            verify_tls=self._verify_tls,
        ) as response:
            self._raise_for_status(response.status, what, frozenset())
            yield ResponseStream(
                response,
                what=what,
                device=self.device,
                chunk_bytes=max_chunk_bytes or _READ_CHUNK,
                idle_timeout_s=idle_timeout_s or self.timeout_s,
            )

    # --- translation -------------------------------------------------------------------

    def _raise_for_status(self, status: int, what: str, allow: frozenset[int] | set[int]) -> None:
        if 200 <= status < 300 or status in allow:
            return
        if status >= 500 or status in _RETRIABLE_STATUSES:
            raise RetriableError(f"{what}: device answered HTTP {status}", device=self.device)
        raise HttpStatusError(
            f"{what}: unexpected HTTP {status}", status=status, device=self.device
        )


class ResponseStream:
    """Chunks of a streaming response, with transport errors translated to SDK errors."""

    def __init__(
        self,
        response: Response,
        *,
        what: str,
        device: str | None,
        chunk_bytes: int,
        idle_timeout_s: float,
    ) -> None:
        self.response = response
        self._what = what
        self._device = device
        self._chunk_bytes = chunk_bytes
        self._idle_timeout_s = idle_timeout_s

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        return self.response.headers

    @property
    def content_type(self) -> str:
        """The full Content-Type (a multipart stream's boundary is a parameter of it)."""
        return self.response.headers.get("Content-Type", "")

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        try:
            while True:
                async with asyncio.timeout(self._idle_timeout_s):
                    chunk = await self.response.read(self._chunk_bytes)
                if not chunk:
                    return
                yield chunk
        except TRANSPORT_ERRORS as exc:
            if isinstance(exc, asyncio.TimeoutError):
                raise RetriableError(
                    f"{self._what}: stream idle too long", device=self._device
                ) from exc
            raise RetriableError(
                f"{self._what}: stream broken ({type(exc).__name__})", device=self._device
            ) from exc

"""Bounded HTTP to untrusted devices: size caps enforced while streaming, timeouts, digest/basic
auth, and every failure translated to an SDK error that names no credential.

    async with DeviceHttp.for_config(config, device="dev-…") as http:
        body = await http.get_bytes("/ISAPI/System/deviceInfo")
        async with http.stream("/ISAPI/Event/notification/alertStream") as chunks:
            async for chunk in chunks:
                ...

Translation at this boundary (``raise … from exc``):

    401, 403                          -> AuthenticationError
    408, 429, 5xx, timeouts, refused,
    resets, truncated bodies          -> RetriableError
    other non-2xx                     -> DeviceDataError (``status`` set), unless allowed
    body larger than the cap          -> DeviceDataError (with the first bytes as payload)
    a response head aiohttp refuses
    (over its line/field limits,
    malformed status line or header)  -> DeviceDataError
    a URL that cannot be built        -> ConfigurationError

Every request has a total deadline (connect + send + read of the whole body): the session's
``timeout_s``. ``translate_transport_error`` is the table's transport half; the ONVIF SOAP
transport uses it too, so both device stacks name the same failures the same way.

Messages carry the method, the path (never the query string, which may hold a token) and the
device id; never the credentials, and never a URL with user info.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from connectors.sdk.base import ConnectorConfig
from connectors.sdk.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
    DeviceDataError,
    RetriableError,
)
from connectors.sdk.secrets import Credentials

AuthMode = Literal["digest", "basic", "none"]

#: how many bytes of an oversized or undecodable body are kept for the dead letters
PAYLOAD_SAMPLE_BYTES = 4096
_READ_CHUNK = 16 * 1024
_RETRIABLE_STATUSES = frozenset({408, 425, 429})
_AUTH_STATUSES = frozenset({401, 403})

# The transport failures a device causes; anything else is a bug and propagates untranslated.
# ClientResponseError is what aiohttp raises when it cannot read a response head (a 4 MB
# header, a garbage status line): the device's input, not the network.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
    aiohttp.ClientResponseError,
    asyncio.TimeoutError,
    OSError,
)


def translate_transport_error(
    exc: BaseException, *, what: str, device: str | None, timeout_s: float
) -> ConnectorError:
    """The SDK error for a failure of one exchange with a device (one of ``TRANSPORT_ERRORS``).

    The message names the exchange and the error type only: aiohttp's own messages carry the
    URL and, for a refused head, the device's bytes.
    """
    if isinstance(exc, asyncio.TimeoutError):
        return RetriableError(f"{what}: no answer within {timeout_s:g}s", device=device)
    if isinstance(exc, aiohttp.ClientResponseError):
        return DeviceDataError(
            f"{what}: response head is malformed or larger than the client accepts",
            device=device,
        )
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


class DeviceHttp:
    """One HTTP session to one device: auth, timeouts and the response size cap live here."""

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
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def for_config(
        cls, config: ConnectorConfig, *, device: str | None = None, auth: AuthMode = "digest"
    ) -> DeviceHttp:
        """A session for a connector config: its address, credentials, timeout and size cap."""
        return cls(
            config.base_url,
            credentials=config.credentials(),
            auth=auth,
            timeout_s=config.timeout_s,
            max_response_bytes=config.max_response_bytes,
            device=device or config.address,
        )

    async def __aenter__(self) -> DeviceHttp:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        if self._session is not None:
            return
        middlewares: tuple[aiohttp.DigestAuthMiddleware, ...] = ()
        auth_headers: dict[str, str] = {}
        if self._credentials is not None and self._auth == "digest":
            middlewares = (
                aiohttp.DigestAuthMiddleware(
                    self._credentials.username, self._credentials.password.get_secret_value()
                ),
            )
        elif self._credentials is not None and self._auth == "basic":
            auth_headers["Authorization"] = aiohttp.encode_basic_auth(
                self._credentials.username, self._credentials.password.get_secret_value()
            )
        self._session = aiohttp.ClientSession(
            base_url=self._base,
            headers=auth_headers,
            middlewares=middlewares,
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            connector=aiohttp.TCPConnector(limit=4, ssl=self._verify_tls),
        )

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("DeviceHttp used outside `async with` (call open() first)")
        return self._session

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
        limit = max_bytes or self.max_response_bytes
        what = f"{method} {_path_only(path)}"
        try:
            async with self.session.request(
                method,
                path,
                params=params,
                data=data,
                headers=headers,
                # A device must not redirect the hub (and its credentials) somewhere else.
                allow_redirects=False,
            ) as response:
                self._raise_for_status(response.status, what, allow_status)
                body = await _read_bounded(response, limit, what=what, device=self.device)
                return HttpResult(status=response.status, headers=response.headers, body=body)
        except ConnectorError:
            raise
        except TRANSPORT_ERRORS as exc:
            raise self._transient(what, exc) from exc
        except ValueError as exc:
            # yarl/aiohttp reject a path or header they cannot encode.
            raise ConfigurationError(
                f"{what}: invalid request ({type(exc).__name__})", device=self.device
            ) from exc

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
        what = f"GET {_path_only(path)}"
        idle = idle_timeout_s or self.timeout_s
        try:
            async with self.session.get(
                path,
                params=params,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=None, connect=self.timeout_s, sock_read=idle),
            ) as response:
                self._raise_for_status(response.status, what, frozenset())
                yield ResponseStream(
                    response,
                    what=what,
                    device=self.device,
                    chunk_bytes=max_chunk_bytes or _READ_CHUNK,
                )
        except ConnectorError:
            raise
        except TRANSPORT_ERRORS as exc:
            raise self._transient(what, exc) from exc

    # --- translation -------------------------------------------------------------------

    def _raise_for_status(self, status: int, what: str, allow: frozenset[int] | set[int]) -> None:
        if 200 <= status < 300 or status in allow:
            return
        if status in _AUTH_STATUSES:
            raise AuthenticationError(
                f"{what}: device refused the credentials (HTTP {status})", device=self.device
            )
        if status >= 500 or status in _RETRIABLE_STATUSES:
            raise RetriableError(f"{what}: device answered HTTP {status}", device=self.device)
        raise HttpStatusError(
            f"{what}: unexpected HTTP {status}", status=status, device=self.device
        )

    def _transient(self, what: str, exc: BaseException) -> ConnectorError:
        return translate_transport_error(
            exc, what=what, device=self.device, timeout_s=self.timeout_s
        )


class ResponseStream:
    """Chunks of a streaming response, with transport errors translated to SDK errors."""

    def __init__(
        self, response: aiohttp.ClientResponse, *, what: str, device: str | None, chunk_bytes: int
    ) -> None:
        self.response = response
        self._what = what
        self._device = device
        self._chunk_bytes = chunk_bytes

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
                chunk = await self.response.content.read(self._chunk_bytes)
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


async def _read_bounded(
    response: aiohttp.ClientResponse, limit: int, *, what: str, device: str | None
) -> bytes:
    declared = response.content_length
    if declared is not None and declared > limit:
        raise DeviceDataError(
            f"{what}: response of {declared} bytes exceeds the {limit} byte limit",
            device=device,
        )
    buffer = bytearray()
    while True:
        chunk = await response.content.read(_READ_CHUNK)
        if not chunk:
            return bytes(buffer)
        buffer += chunk
        if len(buffer) > limit:
            raise DeviceDataError(
                f"{what}: response exceeds the {limit} byte limit",
                device=device,
                payload=bytes(buffer[:PAYLOAD_SAMPLE_BYTES]),
            )


def _path_only(path: str) -> str:
    return path.split("?", 1)[0]

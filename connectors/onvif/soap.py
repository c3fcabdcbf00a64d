"""SOAP 1.2 over one shared aiohttp session: WS-UsernameToken with the device's clock, size caps, error translation.

One ``SoapTransport`` (one connection pool, one set of timeouts and caps) serves every camera of
a process, for both kinds of caller: the raw operations (``call``: small fixed envelopes, used by
the health check and the PullPoint loop, where ``bench/onvif_zeep_vs_raw.py`` shows zeep costing
about twice the time per call and a kept client per camera) and onvif-zeep-async's
operations in ``connectors.onvif.zeep_client`` (``exchange``: the bytes only). Replies go
through the hardened parser in ``connectors.sdk.xmlsafe``.

A device that answers 401 with an HTTP Digest challenge gets the request again with Digest
credentials (some firmwares want it on top of WS-Security); the handshake is remembered per device.

Every exchange has a total deadline (connect, send, read of the whole reply, and the second
round trip of an HTTP Digest answer): the caller's ``timeout_s``, else ``TransportLimits.timeout_s``.
Nothing a device does (accept the connection and never answer, trickle bytes) outlasts it.

Errors leave this module as the SDK's types (``connectors.sdk.errors``), transport failures
through the SDK's own table (``connectors.sdk.http.translate_transport_error``):

    AuthenticationError   HTTP 401/403, or a SOAP fault whose subcode says NotAuthorized
    SoapFault             any other SOAP fault (a RetriableError; callers may look at ``subcode``)
    RetriableError        connection refused/reset, no answer within the deadline, HTTP 5xx
                          without a fault
    DeviceDataError       oversized, malformed or hostile XML; a response head the client refuses
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from xml.sax.saxutils import escape

import aiohttp
from lxml import etree

from connectors.sdk.errors import AuthenticationError, DeviceDataError, RetriableError
from connectors.sdk.http import TRANSPORT_ERRORS, _read_bounded, translate_transport_error
from connectors.sdk.secrets import Credentials
from connectors.sdk.xmlsafe import MAX_XML_BYTES, first, local_name, parse_device_xml, text

SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
WSA = "http://www.w3.org/2005/08/addressing"
_DIGEST_TYPE = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordDigest"
)
_NONCE_TYPE = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)
_MAX_DIGEST_DEVICES = 100_000
_AUTH_SUBCODES = frozenset({"notauthorized", "failedauthentication", "invalidsecurity"})


class SoapFault(RetriableError):
    """The device answered with a SOAP fault; ``subcode`` is the innermost fault subcode, if any."""

    def __init__(self, message: str, *, device: str | None, code: str | None, subcode: str | None):
        super().__init__(message, device=device)
        self.code = code
        self.subcode = subcode


@dataclass(frozen=True)
class TransportLimits:
    """Per-request bounds; a device that exceeds them is treated as unreachable or hostile."""

    timeout_s: float = 10.0
    connect_timeout_s: float = 5.0
    max_response_bytes: int = MAX_XML_BYTES
    max_connections: int = 1024
    max_connections_per_host: int = 8


def username_token(
    credentials: Credentials, *, clock_offset: timedelta = timedelta(0), nonce: bytes | None = None
) -> str:
    """A WS-Security UsernameToken with a password digest, created on the device's clock.

    Cameras reject tokens whose ``Created`` is outside a few seconds of their own clock, so the
    offset measured with GetSystemDateAndTime is applied here.
    """
    nonce = nonce if nonce is not None else os.urandom(16)
    created = (datetime.now(UTC) + clock_offset).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    password = credentials.password.get_secret_value().encode("utf-8")
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + password).digest()).decode()  # noqa: S324 - mandated by the WS-Security UsernameToken profile
    return (
        f'<wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}" s:mustUnderstand="1">'
        "<wsse:UsernameToken>"
        f"<wsse:Username>{escape(credentials.username)}</wsse:Username>"
        f'<wsse:Password Type="{_DIGEST_TYPE}">{digest}</wsse:Password>'
        f'<wsse:Nonce EncodingType="{_NONCE_TYPE}">{base64.b64encode(nonce).decode()}</wsse:Nonce>'
        f"<wsu:Created>{created}</wsu:Created>"
        "</wsse:UsernameToken></wsse:Security>"
    )


def envelope(
    body: str,
    *,
    credentials: Credentials | None = None,
    clock_offset: timedelta = timedelta(0),
    action: str | None = None,
    to: str | None = None,
) -> bytes:
    """A SOAP 1.2 envelope around ``body`` (already XML), with security and addressing headers."""
    headers = []
    if credentials is not None:
        headers.append(username_token(credentials, clock_offset=clock_offset))
    if action is not None:
        headers.append(f'<wsa:Action xmlns:wsa="{WSA}">{escape(action)}</wsa:Action>')
        headers.append(f'<wsa:MessageID xmlns:wsa="{WSA}">urn:uuid:{uuid.uuid4()}</wsa:MessageID>')
    if to is not None:
        headers.append(f'<wsa:To xmlns:wsa="{WSA}">{escape(to)}</wsa:To>')
    header = f"<s:Header>{''.join(headers)}</s:Header>" if headers else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{SOAP_ENV}">'
        f"{header}<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def fault_of(root: etree._Element) -> tuple[str | None, str | None, str] | None:
    """(code, innermost subcode, reason) when the reply is a SOAP fault (1.1 or 1.2)."""
    fault = first(root, "Body", "Fault")
    if fault is None:
        return None
    code = text(fault, "Code", "Value") or text(fault, "faultcode")
    subcode = None
    node = first(fault, "Code")
    while node is not None:
        sub = next((c for c in node if local_name(c) == "Subcode"), None)
        if sub is None:
            break
        subcode = text(sub, "Value") or subcode
        node = sub
    reason = text(fault, "Reason", "Text") or text(fault, "faultstring") or "no reason given"
    return code, subcode, reason[:300]


def _digest_key(device: str, credentials: Credentials | None) -> tuple[str, str] | None:
    """Which remembered Digest handshake a request may reuse: same device, same credentials.

    The password's hash is part of the key: a handshake made with one password must never
    authenticate a request made with another.
    """
    if credentials is None:
        return None
    secret = f"{credentials.username}\x1f{credentials.password.get_secret_value()}"
    return device, hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _bare(qname: str | None) -> str:
    return (qname or "").rpartition(":")[2].lower()


def is_auth_fault(code: str | None, subcode: str | None) -> bool:
    """Whether a fault's code or subcode says the credentials (or the token's clock) were refused."""
    return _bare(subcode) in _AUTH_SUBCODES or _bare(code) in _AUTH_SUBCODES


def reply_root(
    status: int, raw: bytes, *, device: str, max_bytes: int = MAX_XML_BYTES
) -> etree._Element:
    """The parsed root of a device reply; an empty or unusable one raises the SDK's error."""
    if not raw.strip():
        if status >= 500 or status == 404:
            raise RetriableError(f"device answered HTTP {status} without a body", device=device)
        raise DeviceDataError(f"empty reply (HTTP {status})", device=device, payload=raw)
    return parse_device_xml(raw, device=device, max_bytes=max_bytes)


class SoapTransport:
    """One HTTP connection pool for every camera of the process; ``call`` returns the reply's Body."""

    def __init__(self, limits: TransportLimits | None = None) -> None:
        self.limits = limits or TransportLimits()
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        # Devices that answered an HTTP Digest challenge keep their middleware (it reuses the
        # nonce, so later requests need no second round trip).
        self._digest: dict[tuple[str, str] | None, aiohttp.DigestAuthMiddleware] = {}

    async def __aenter__(self) -> SoapTransport:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._closed:
            # A late unsubscribe after shutdown must not open a new pool that nobody closes.
            raise RetriableError("transport is closed")
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.limits.max_connections,
                limit_per_host=self.limits.max_connections_per_host,
                ttl_dns_cache=300,
                enable_cleanup_closed=True,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(
                    total=self.limits.timeout_s, sock_connect=self.limits.connect_timeout_s
                ),
                # Devices are not browsers: no cookies carried between cameras.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(
        self,
        url: str,
        body: str,
        *,
        device: str,
        credentials: Credentials | None = None,
        clock_offset: timedelta = timedelta(0),
        action: str | None = None,
        to: str | None = None,
        timeout_s: float | None = None,
    ) -> etree._Element:
        """POST one SOAP request and return the reply's ``Body`` element (faults raised)."""
        payload = envelope(
            body, credentials=credentials, clock_offset=clock_offset, action=action, to=to
        )
        content_type = "application/soap+xml; charset=utf-8"
        if action:
            content_type += f'; action="{action}"'
        status, raw = await self.exchange(
            url, payload, content_type, device=device, credentials=credentials, timeout_s=timeout_s
        )
        root = reply_root(status, raw, device=device, max_bytes=self.limits.max_response_bytes)
        fault = fault_of(root)
        if fault is not None:
            code, subcode, reason = fault
            if is_auth_fault(code, subcode):
                raise AuthenticationError(
                    f"device refused the credentials: {reason}", device=device
                )
            raise SoapFault(
                f"SOAP fault {subcode or code}: {reason}", device=device, code=code, subcode=subcode
            )
        body_element = first(root, "Body")
        if body_element is None or local_name(root) != "Envelope":
            raise DeviceDataError("reply is not a SOAP envelope", device=device, payload=raw)
        if status >= 400:
            raise RetriableError(f"device answered HTTP {status}", device=device)
        return body_element

    async def exchange(
        self,
        url: str,
        payload: bytes,
        content_type: str,
        *,
        device: str,
        credentials: Credentials | None = None,
        timeout_s: float | None = None,
    ) -> tuple[int, bytes]:
        """POST ``payload`` and return (status, bounded body); HTTP Digest answered, errors translated.

        Shared by the raw operations and the zeep transport, so both get the same pool, caps,
        deadline, Digest handling and error types.
        """
        deadline_s = timeout_s if timeout_s is not None else self.limits.timeout_s
        # aiohttp's own limit per POST (a ClientTimeout, never None: None would lift the
        # session's limits), and one deadline over both round trips of a Digest answer.
        timeout = aiohttp.ClientTimeout(
            total=deadline_s, sock_connect=min(self.limits.connect_timeout_s, deadline_s)
        )
        session = self.session
        digest_key = _digest_key(device, credentials)
        try:
            async with asyncio.timeout(deadline_s):
                status, raw, challenge = await self._post(
                    session,
                    url,
                    payload,
                    content_type,
                    timeout,
                    device,
                    self._digest.get(digest_key),
                )
                if status == 401 and credentials is not None and challenge.startswith("digest"):
                    # The firmware wants HTTP Digest on top of (or instead of) WS-Security.
                    middleware = aiohttp.DigestAuthMiddleware(
                        credentials.username, credentials.password.get_secret_value()
                    )
                    status, raw, _ = await self._post(
                        session, url, payload, content_type, timeout, device, middleware
                    )
                    if status != 401:
                        self._remember_digest(digest_key, middleware)
        except TRANSPORT_ERRORS as exc:
            raise translate_transport_error(
                exc, what="SOAP request", device=device, timeout_s=deadline_s
            ) from None
        if status in (401, 403):
            raise AuthenticationError(
                f"device refused the credentials (HTTP {status})", device=device
            )
        return status, raw

    async def _post(
        self,
        session: aiohttp.ClientSession,
        url: str,
        payload: bytes,
        content_type: str,
        timeout: aiohttp.ClientTimeout,
        device: str,
        digest: aiohttp.DigestAuthMiddleware | None,
    ) -> tuple[int, bytes, str]:
        """(status, body, the lower-cased WWW-Authenticate challenge) of one POST."""
        async with session.post(
            url,
            data=payload,
            headers={"Content-Type": content_type},
            allow_redirects=False,
            timeout=timeout,
            middlewares=(digest,) if digest is not None else None,
        ) as response:
            raw = await _read_bounded(
                response, self.limits.max_response_bytes, what="SOAP reply", device=device
            )
            challenge = response.headers.get("WWW-Authenticate", "").strip().lower()
            return response.status, raw, challenge

    def _remember_digest(
        self, key: tuple[str, str] | None, middleware: aiohttp.DigestAuthMiddleware
    ) -> None:
        if key is None:
            return
        if len(self._digest) >= _MAX_DIGEST_DEVICES:
            self._digest.pop(next(iter(self._digest)))
        self._digest[key] = middleware

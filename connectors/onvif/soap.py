"""SOAP 1.2 on the SDK's HTTP pool: envelopes, WS-UsernameToken on the device's clock, faults.

One ``SoapTransport`` serves every camera of a process, on one ``connectors.sdk.http.HttpPool``
(one connection pool, a total deadline per exchange, response caps, HTTP Digest answered when a
firmware challenges for it on top of WS-Security, transport errors translated). This module adds
only what is SOAP's: the envelope and its security and addressing headers, and reading the reply
(hardened parser of ``connectors.sdk.xmlsafe``) into its Body or its fault. ``exchange`` gives
the bytes only, for the zeep services that remain (``connectors.onvif.zeep_client``).

Errors leave this module as the SDK's types (``connectors.sdk.errors``):

    AuthenticationError   HTTP 401/403, or a SOAP fault whose subcode says NotAuthorized
    SoapFault             any other SOAP fault (a RetriableError; callers may look at ``subcode``)
    RetriableError        connection refused/reset, no answer within the deadline, HTTP 5xx
                          without a fault
    DeviceDataError       oversized, malformed or hostile XML; a response head the client refuses
"""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

from lxml import etree

from connectors.sdk.errors import AuthenticationError, DeviceDataError, RetriableError
from connectors.sdk.http import HttpLimits, HttpPool
from connectors.sdk.secrets import Credentials
from connectors.sdk.xmlsafe import (
    MAX_XML_BYTES,
    child,
    first,
    local_name,
    parse_device_xml,
    text,
)
from core.lifecycle import Lifecycle

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
_AUTH_SUBCODES = frozenset({"notauthorized", "failedauthentication", "invalidsecurity"})


class SoapFault(RetriableError):
    """The device answered with a SOAP fault; ``subcode`` is the innermost fault subcode, if any."""

    def __init__(self, message: str, *, device: str | None, code: str | None, subcode: str | None):
        super().__init__(message, device=device)
        self.code = code
        self.subcode = subcode


def username_token(
    credentials: Credentials, *, clock_offset: timedelta = timedelta(0), nonce: bytes | None = None
) -> str:
    """A WS-Security UsernameToken with a password digest, created on the device's clock.

    Cameras reject tokens whose ``Created`` is outside a few seconds of their own clock, so the
    offset measured with GetSystemDateAndTime is applied here.
    """
    nonce = nonce if nonce is not None else os.urandom(16)
    # isoformat: a third of strftime's cost, once per request to every camera.
    created = (datetime.now(UTC) + clock_offset).isoformat(timespec="milliseconds")[:-6] + "Z"
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
    """(code, innermost subcode, reason) when the reply is a SOAP fault (1.1 or 1.2): a
    ``Fault`` child of the envelope's ``Body``."""
    fault = child(root, "Body", "Fault")
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


class SoapTransport(Lifecycle):
    """SOAP to every camera of the process over one ``HttpPool``; ``call`` returns the reply's Body.

    It opens its own pool with ``limits`` unless given one to share (and then leaves closing it
    to the pool's owner).
    """

    def __init__(self, limits: HttpLimits | None = None, *, pool: HttpPool | None = None) -> None:
        self.pool = pool or HttpPool(limits)
        self._owns_pool = pool is None

    @property
    def limits(self) -> HttpLimits:
        return self.pool.limits

    async def stop(self) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_pool:
            await self.pool.close()

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
        max_bytes: int | None = None,
    ) -> etree._Element:
        """POST one SOAP request and return the reply's ``Body`` element (faults raised)."""
        payload = envelope(
            body, credentials=credentials, clock_offset=clock_offset, action=action, to=to
        )
        content_type = "application/soap+xml; charset=utf-8"
        if action:
            content_type += f'; action="{action}"'
        status, raw = await self.exchange(
            url,
            payload,
            content_type,
            device=device,
            credentials=credentials,
            timeout_s=timeout_s,
            max_bytes=max_bytes,
        )
        root = reply_root(
            status, raw, device=device, max_bytes=max_bytes or self.limits.max_response_bytes
        )
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
        body_element = child(root, "Body")
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
        max_bytes: int | None = None,
    ) -> tuple[int, bytes]:
        """POST ``payload`` and return (status, bounded body): the pool's deadline, cap, Digest
        answer and error translation; a SOAP reply's status is judged by its body."""
        result = await self.pool.exchange(
            "POST",
            url,
            device=device,
            what="SOAP request",
            credentials=credentials,
            data=payload,
            headers={"Content-Type": content_type},
            timeout_s=timeout_s,
            max_bytes=max_bytes,
        )
        return result.status, result.body

"""Hand-built SOAP requests against simulated cameras, for tests and benchmarks that bypass zeep."""

from __future__ import annotations

import base64
import datetime as dt
import os

import aiohttp
from lxml import etree

from connectors.onvif.simulator.soap import CONTENT_TYPE, NAMESPACES, SOAP_ENV, WSSE, WSU
from connectors.onvif.simulator.wsse import PASSWORD_DIGEST, password_digest

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def username_token(
    username: str, password: str, *, created: dt.datetime | None = None, nonce: bytes | None = None
) -> str:
    """A WS-Security header with a PasswordDigest UsernameToken."""
    moment = created or dt.datetime.now(dt.UTC)
    created_text = moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    nonce = nonce or os.urandom(16)
    digest = password_digest(nonce, created_text, password)
    return (
        f'<wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
        f"<wsse:Username>{username}</wsse:Username>"
        f'<wsse:Password Type="{PASSWORD_DIGEST}">{digest}</wsse:Password>'
        f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce>"
        f"<wsu:Created>{created_text}</wsu:Created></wsse:UsernameToken></wsse:Security>"
    )


def request_envelope(body: str, security: str = "") -> bytes:
    """A SOAP 1.2 request; ``body`` may use the tds/trt/tev/wsnt/tt prefixes."""
    prefixes = " ".join(
        f'xmlns:{p}="{NAMESPACES[p]}"' for p in ("tds", "trt", "tev", "wsnt", "tt", "tptz")
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{SOAP_ENV}" {prefixes}>'
        f"<s:Header>{security}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


async def post_soap(
    session: aiohttp.ClientSession, url: str, payload: bytes
) -> tuple[int, etree._Element]:
    """POST an envelope; returns the HTTP status and the parsed response envelope."""
    async with session.post(
        url, data=payload, headers={"Content-Type": f"{CONTENT_TYPE}; charset=utf-8"}
    ) as response:
        raw = await response.read()
        return response.status, etree.fromstring(raw, parser=_PARSER)


def fault_subcodes(envelope: etree._Element) -> list[str]:
    """The Subcode values of a response Fault, outermost first; empty when there is no fault."""
    return [
        (value.text or "").strip()
        for value in envelope.iterfind(f".//{{{SOAP_ENV}}}Subcode/{{{SOAP_ENV}}}Value")
    ]

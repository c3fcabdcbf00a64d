"""SOAP 1.2 envelopes, faults and request parsing for the simulated cameras, with the namespaces cameras use."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"

# Prefixes as Hikvision and Dahua firmwares declare them on every response envelope.
NAMESPACES: dict[str, str] = {
    "env": SOAP_ENV,
    "soapenc": "http://www.w3.org/2003/05/soap-encoding",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
    "xs": "http://www.w3.org/2001/XMLSchema",
    "wsa": WSA,
    "wsse": WSSE,
    "wsu": WSU,
    "xop": "http://www.w3.org/2004/08/xop/include",
    "tt": "http://www.onvif.org/ver10/schema",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tr2": "http://www.onvif.org/ver20/media/wsdl",
    "tev": "http://www.onvif.org/ver10/events/wsdl",
    "tptz": "http://www.onvif.org/ver20/ptz/wsdl",
    "ter": "http://www.onvif.org/ver10/error",
    "wsnt": "http://docs.oasis-open.org/wsn/b-2",
    "wstop": "http://docs.oasis-open.org/wsn/t-1",
    "wsrf-bf": "http://docs.oasis-open.org/wsrf/bf-2",
    "wsrf-rw": "http://docs.oasis-open.org/wsrf/rw-2",
    "tns1": "http://www.onvif.org/ver10/topics",
}

_ENVELOPE_OPEN = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<env:Envelope '
    + " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in NAMESPACES.items())
    + ">"
)

CONTENT_TYPE = "application/soap+xml"


class MalformedRequest(ValueError):
    """The request body is not a SOAP 1.2 envelope this device can read."""


@dataclass(frozen=True)
class SoapRequest:
    """One parsed request: the body's first element names the operation."""

    operation: str
    namespace: str
    body: etree._Element
    header: etree._Element | None
    message_id: str | None


# Devices answer untrusted networks: no entity expansion, no DTD or network fetches.
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
)


def parse_request(payload: bytes) -> SoapRequest:
    """Parse a SOAP 1.2 request, refusing anything that is not an envelope with a body."""
    try:
        root = etree.fromstring(payload, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise MalformedRequest(f"not well-formed XML: {exc.msg}") from None
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise MalformedRequest("root element is not a SOAP 1.2 Envelope")
    body = root.find(f"{{{SOAP_ENV}}}Body")
    if body is None or len(body) == 0:
        raise MalformedRequest("envelope has no Body content")
    operation = body[0]
    qname = etree.QName(operation)
    header = root.find(f"{{{SOAP_ENV}}}Header")
    message_id = None
    if header is not None:
        found = header.find(f"{{{WSA}}}MessageID")
        if found is not None and found.text:
            message_id = found.text.strip()
    return SoapRequest(qname.localname, qname.namespace or "", operation, header, message_id)


def child_text(element: etree._Element, local_name: str) -> str | None:
    """Text of the first descendant with this local name, whatever its namespace prefix."""
    for found in element.iter():
        if isinstance(found.tag, str) and etree.QName(found).localname == local_name:
            return (found.text or "").strip()
    return None


def envelope(body: str, *, action: str | None = None, relates_to: str | None = None) -> bytes:
    """Wrap body XML in an envelope; event responses carry WS-Addressing headers as cameras send them."""
    header = ""
    if action:
        header = f"<wsa:Action>{escape(action)}</wsa:Action>"
        if relates_to:
            header += f"<wsa:RelatesTo>{escape(relates_to)}</wsa:RelatesTo>"
    return (
        f"{_ENVELOPE_OPEN}<env:Header>{header}</env:Header>"
        f"<env:Body>{body}</env:Body></env:Envelope>"
    ).encode()


def fault_body(code: str, subcodes: tuple[str, ...], reason: str, detail: str = "") -> str:
    """A SOAP 1.2 Fault; ``code`` is ``env:Sender`` or ``env:Receiver``, subcodes are QNames."""
    subcode = ""
    for value in reversed(subcodes):
        subcode = f"<env:Subcode><env:Value>{value}</env:Value>{subcode}</env:Subcode>"
    detail_xml = f"<env:Detail>{detail}</env:Detail>" if detail else ""
    return (
        f"<env:Fault><env:Code><env:Value>{code}</env:Value>{subcode}</env:Code>"
        f'<env:Reason><env:Text xml:lang="en">{escape(reason)}</env:Text></env:Reason>'
        f"{detail_xml}</env:Fault>"
    )


def text(value: object) -> str:
    """Escape a value for element content."""
    return escape(str(value))


def attr(value: object) -> str:
    """Quote and escape a value for an attribute."""
    return quoteattr(str(value))


def xml_bool(value: bool) -> str:
    return "true" if value else "false"


def xml_datetime(moment: dt.datetime) -> str:
    """UTC xs:dateTime with a Z suffix, second precision, as cameras send it."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

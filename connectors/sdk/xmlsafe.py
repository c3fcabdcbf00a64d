"""The one parser for device XML (ONVIF and vendors alike): no DTD or entity in any encoding, no network, bounded size and depth.

Every XML document a device sends goes through ``parse_device_xml``; whatever it refuses becomes
a ``DeviceDataError`` that keeps the input for the dead letters. The refusals:

- more than ``MAX_XML_BYTES`` (or the caller's tighter cap, e.g. one UDP datagram);
- a DOCTYPE or ENTITY declaration, whatever the encoding. A byte search for ``<!DOCTYPE`` misses
  a document in UTF-16, UTF-32 or UTF-7, so the check runs on the text as the parser will read it:
  the encoding is found first (byte-order mark, the XML spec's first-four-bytes rule, else the
  declaration), the document is decoded with it, checked, and handed to libxml2 as UTF-8 with the
  encoding forced, so libxml2 cannot read the bytes any other way than the check did. After
  parsing, a DOCTYPE that libxml2 reports anyway is refused too;
- a declared encoding outside ``ACCEPTED_ENCODINGS``;
- nesting deeper than libxml2's limit without ``huge_tree`` (256 levels);
- anything libxml2 finds malformed.

The navigation helpers below match local names in any namespace: devices disagree on prefixes
and schema versions (ver10, ver20).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator

from lxml import etree

from connectors.sdk.errors import DeviceDataError

#: the largest device XML document accepted anywhere
MAX_XML_BYTES = 2 * 1024 * 1024
#: encodings a device may declare (Python codec names); any other is refused
ACCEPTED_ENCODINGS = frozenset(
    codecs.lookup(name).name
    for name in (
        "utf-8",
        "utf-16",
        "utf-16-le",
        "utf-16-be",
        "utf-32",
        "utf-32-le",
        "utf-32-be",
        "ascii",
        "latin-1",
        "cp1252",
        # Chinese vendors' firmware: ASCII-compatible, decoded and re-encoded like the rest.
        "gb2312",
        "gbk",
        "gb18030",
    )
)

_UTF8 = codecs.lookup("utf-8").name
# Checked in this order: a UTF-32 mark starts with a UTF-16 one.
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)
# The XML spec's appendix F: without a mark, a document's first "<" tells its code unit size.
_FIRST_BYTES = (
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
)
_DECLARED = re.compile(rb"<\?xml[^>]{0,512}?\sencoding\s*=\s*[\"']([A-Za-z][\w.:-]{0,39})[\"']")
_DECLARATIONS = re.compile(r"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_DECLARATIONS_BYTES = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_REFUSED_DTD = "with a DOCTYPE or ENTITY declaration is refused (DTDs and entities are not allowed)"

# resolve_entities=False alone still lets some lxml versions expand internal entities lazily;
# the DOCTYPE refusal above is the defence, these settings are the second line.
_PARSER = etree.XMLParser(
    encoding="utf-8",
    resolve_entities=False,
    no_network=True,
    dtd_validation=False,
    load_dtd=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)


def parse_device_xml(
    payload: bytes,
    *,
    device: str | None = None,
    what: str = "XML",
    max_bytes: int = MAX_XML_BYTES,
) -> etree._Element:
    """The root element of a device's XML document, or DeviceDataError (with the input kept).

    ``what`` names the document in the error (``"deviceInfo"``); ``max_bytes`` may only tighten
    ``MAX_XML_BYTES``.
    """
    limit = min(max_bytes, MAX_XML_BYTES)
    if len(payload) > limit:
        raise DeviceDataError(
            f"{what} of {len(payload)} bytes exceeds the {limit} byte limit",
            device=device,
            payload=payload[:limit],
        )
    utf8 = _as_utf8(payload, device=device, what=what)
    if not utf8:
        raise DeviceDataError(f"{what}: empty document", device=device, payload=payload)
    try:
        root = etree.fromstring(utf8, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        reason = (exc.msg or "unreadable").splitlines()[0][:200]
        raise DeviceDataError(
            f"{what}: malformed XML ({reason})", device=device, payload=payload
        ) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise DeviceDataError(f"{what} {_REFUSED_DTD}", device=device, payload=payload)
    return root


def _as_utf8(payload: bytes, *, device: str | None, what: str) -> bytes:
    """The document as UTF-8 without a byte-order mark, once it is known to declare no DTD."""
    encoding, body = _encoding(payload)
    if encoding not in ACCEPTED_ENCODINGS:
        raise DeviceDataError(
            f"{what} declares an encoding that is not accepted", device=device, payload=payload
        )
    if encoding == _UTF8:
        # Every ASCII character is its own byte in UTF-8: the byte search is the text search,
        # and libxml2 (forced to UTF-8) refuses what is not UTF-8.
        # Every declaration starts with "<!", which a plain byte search rules out faster than
        # the case-blind pattern can (most replies have none).
        if b"<!" in body and _DECLARATIONS_BYTES.search(body):
            raise DeviceDataError(f"{what} {_REFUSED_DTD}", device=device, payload=payload)
        # libxml2 refuses space before the declaration and ignores it after the root element:
        # copy the document only when it starts with space (most replies do not).
        return body.lstrip() if _leading_space(body) else body
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError:
        raise DeviceDataError(
            f"{what}: malformed XML (not valid {encoding})", device=device, payload=payload
        ) from None
    if _DECLARATIONS.search(text):
        raise DeviceDataError(f"{what} {_REFUSED_DTD}", device=device, payload=payload)
    try:
        return text.strip().encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates that a UTF-16 decoder let through
        raise DeviceDataError(
            f"{what}: malformed XML (not valid {encoding})", device=device, payload=payload
        ) from None


def _leading_space(payload: bytes) -> int:
    """How many bytes of ASCII white space the document starts with."""
    return len(payload) - len(payload.lstrip()) if payload[:1].isspace() else 0


def _encoding(payload: bytes) -> tuple[str, bytes]:
    """The Python codec name of a document and its bytes after any byte-order mark."""
    for mark, name in _BYTE_ORDER_MARKS:
        if payload.startswith(mark):
            return codecs.lookup(name).name, payload[len(mark) :]
    for start, name in _FIRST_BYTES:
        if payload.startswith(start):
            return codecs.lookup(name).name, payload
    declared = _DECLARED.match(payload, _leading_space(payload))
    if declared is None:
        return _UTF8, payload
    try:
        encoding = codecs.lookup(declared[1].decode("ascii")).name
    except LookupError:
        return "", payload
    if encoding.startswith(("utf-16", "utf-32")):
        # The bytes are ASCII-compatible (no NUL in the first code unit): the declaration is wrong.
        return _UTF8, payload
    return encoding, payload


def local_name(element: etree._Element) -> str:
    """Tag without its namespace ("" for comments and processing instructions)."""
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def iter_named(element: etree._Element, name: str) -> Iterator[etree._Element]:
    """Every descendant called ``name`` in any namespace, in document order."""
    # lxml's "{*}" wildcard matches any namespace (or none) in C, not per element in Python.
    return element.iterdescendants(f"{{*}}{name}")


def first(element: etree._Element, *path: str) -> etree._Element | None:
    """The first descendant matching a path of local names (each step searches all descendants)."""
    current: etree._Element | None = element
    for name in path:
        if current is None:
            return None
        current = next(iter_named(current, name), None)
    return current


def child(element: etree._Element | None, *path: str) -> etree._Element | None:
    """The first element at a path of direct children's local names (a SOAP reply's ``Body``,
    then its ``Fault``): no search through the rest of the document."""
    current = element
    for name in path:
        if current is None:
            return None
        current = next(current.iterchildren(f"{{*}}{name}"), None)
    return current


def text(element: etree._Element | None, *path: str) -> str | None:
    """Stripped text at a path of local names, or None when absent or empty."""
    if element is None:
        return None
    found = first(element, *path) if path else element
    if found is None or found.text is None:
        return None
    value = found.text.strip()
    return value or None


def children_named(element: etree._Element, name: str) -> list[etree._Element]:
    """Direct children called ``name`` in any namespace."""
    return [child for child in element if local_name(child) == name]


def child_text(element: etree._Element, name: str) -> str | None:
    """Stripped text of the first direct child called ``name``, or None when absent or empty."""
    return next((text(child) for child in children_named(element, name)), None)

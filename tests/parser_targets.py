"""Every parser of device input as a function of raw bytes, for the fuzzers.

Shared by the hypothesis tests (``tests/test_parser_fuzz.py``, structured inputs, a few seconds
in CI) and the coverage-guided atheris run (``bench/fuzz_parsers.py``, as long as you like). A
target returns normally or raises ``DeviceDataError``, the parsers' one declared error; any other
exception is a bug. Targets also check what each parser promises beyond that: a parsed document
never carries a DTD, the multipart parser's output does not depend on chunking, the vendor part
loop turns every part into events or dead-letter records without raising at all.

``SEEDS`` holds captured-style device payloads (``tests/fixtures``) for each target, and
``mutate_xml`` / ``mutate_text`` put hostile values (``HOSTILE``) where a device writes values:
element texts and attributes, ``key=value`` values, JSON scalars, header values. Byte-level
mutation alone seldom writes a two-byte UTF-8 digit into a channel element of a still well-formed
document; this does it in one step.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lxml import etree

from connectors.onvif.device import (
    parse_capabilities,
    parse_clock,
    parse_device_information,
    parse_profiles,
    parse_scopes,
    parse_services,
    repoint,
)
from connectors.onvif.event_topics import TopicParser, notifications
from connectors.onvif.subscription import granted_lifetime
from connectors.private_vendors.dahua.connector import (
    DahuaConfig,
    DahuaConnector,
    parse_camera_states,
    parse_channel_titles,
    parse_identity,
)
from connectors.private_vendors.hikvision.connector import (
    HikvisionConfig,
    HikvisionConnector,
    parse_channel_list,
    parse_device_info,
    parse_proxy_status,
)
from connectors.sdk.base import UnparsedEvent
from connectors.sdk.errors import DeviceDataError
from connectors.sdk.keyvalue import indexed_values, parse_key_values
from connectors.sdk.mapping import DeviceContext
from connectors.sdk.multipart import (
    DiscardedPart,
    MultipartStreamParser,
    Part,
    boundary_from_content_type,
)
from connectors.sdk.vendor import ChannelInfo, VendorConnector
from connectors.sdk.xmlsafe import parse_device_xml, text
from topics.models import DeviceEvent

FIXTURES = Path(__file__).parent / "fixtures"
ADDRESS = "127.0.0.1:8080"
NOW = datetime(2026, 11, 28, 5, 2, 3, tzinfo=UTC)
DEVICE_ID = "dev-00000000000000000001"
CAMERA_ID = "cam-00000000000000000001"

HIKVISION = HikvisionConnector(HikvisionConfig(address=ADDRESS))
DAHUA = DahuaConnector(DahuaConfig(address=ADDRESS))
ONVIF_EVENTS = TopicParser(camera_id=CAMERA_ID, device_id=DEVICE_ID)


def _context(vendor: VendorConnector[Any]) -> DeviceContext:
    return DeviceContext(vendor.name, vendor.vendor, "SERIAL0001", DEVICE_ID, default_channel=1)


def declared(call: Callable[[], object]) -> object | None:
    """``call()``, with the parsers' declared error turned into None."""
    try:
        return call()
    except DeviceDataError:
        return None


# --- XML --------------------------------------------------------------------------------------


def xml(data: bytes) -> None:
    root = parse_device_xml(data, device=ADDRESS)
    docinfo = root.getroottree().docinfo
    assert not docinfo.doctype and docinfo.internalDTD is None, "a DTD was accepted"


# --- multipart --------------------------------------------------------------------------------

MULTIPART_MAX_PART = 256
MULTIPART_MAX_HEADER = 128


def multipart_records(
    content_type: str, stream: bytes, cuts: list[int]
) -> list[Part | DiscardedPart]:
    """What the parser makes of ``stream`` fed in pieces cut at ``cuts``, after checking that one
    ``feed`` of the whole stream gives exactly the same records and the buffer stays bounded."""
    boundary = boundary_from_content_type(content_type, "myboundary")

    def parser() -> MultipartStreamParser:
        return MultipartStreamParser(
            boundary, max_part_bytes=MULTIPART_MAX_PART, max_header_bytes=MULTIPART_MAX_HEADER
        )

    whole = parser().feed(stream)
    chunked, out, last = parser(), [], 0
    for cut in [*sorted({c for c in cuts if 0 < c < len(stream)}), len(stream)]:
        out += chunked.feed(stream[last:cut])
        last = cut
        assert chunked.buffered <= chunked.max_buffered, "buffer above its bound"
    assert out == whole, "the records depend on how the stream is chunked"
    for record in out:
        if isinstance(record, Part):
            assert len(record.body) <= MULTIPART_MAX_PART, "a part above the size limit"
    return out


def multipart(data: bytes) -> None:
    """Layout: a Content-Type line, one byte seeding the chunking, then the stream."""
    head, _, rest = data.partition(b"\n")
    seed, stream = rest[:1], rest[1:]
    rng = random.Random(seed)
    cuts = [rng.randrange(1, len(stream) + 1) for _ in range(min(len(stream), 24))]
    multipart_records(head.decode("latin-1"), stream, cuts)


# --- vendors ----------------------------------------------------------------------------------


def keyvalue(data: bytes) -> None:
    values = parse_key_values(data.decode("utf-8", "replace"))
    indexed_values(values, "table.ChannelTitle", "Name")
    indexed_values(values, "states", "channel")


def _part_loop(vendor: VendorConnector[Any], part: Part) -> None:
    # The stream loop's own step: must not raise at all, not even DeviceDataError.
    for item in vendor.events_from_part(part, _context(vendor)):
        assert isinstance(item, DeviceEvent | UnparsedEvent)


def hikvision_alert(data: bytes) -> None:
    _part_loop(HIKVISION, Part({"content-type": "application/xml"}, data))


def dahua_event(data: bytes) -> None:
    _part_loop(DAHUA, Part({"content-type": "text/plain"}, data))


def hikvision_device(data: bytes) -> None:
    identity = declared(lambda: parse_device_info(data, device=ADDRESS))
    if identity is not None:
        declared(lambda: HIKVISION.camera_record(identity, ChannelInfo(1), NOW))
    for element in ("VideoInputChannel", "InputProxyChannel"):
        declared(lambda element=element: parse_channel_list(data, element, device=ADDRESS))
    declared(lambda: parse_proxy_status(data, device=ADDRESS))


def dahua_device(data: bytes) -> None:
    answers = data.decode("utf-8", "replace")
    identity = declared(lambda: parse_identity(parse_key_values(answers), device=ADDRESS))
    if identity is not None:
        declared(lambda: DAHUA.camera_record(identity, ChannelInfo(1), NOW))
    titles = parse_channel_titles(answers)
    assert all(0 <= index <= 9_998 for index in titles)
    states = parse_camera_states(answers)
    assert all(0 <= index <= 9_998 for index in states)


# --- ONVIF ------------------------------------------------------------------------------------


def onvif_notification(data: bytes) -> None:
    root = parse_device_xml(data, device=ADDRESS)
    for notification in notifications(root):
        # parse never raises: an unusable notification is an UnparsedEvent for the dead letters.
        assert isinstance(ONVIF_EVENTS.parse(notification), DeviceEvent | UnparsedEvent)


def onvif_device(data: bytes) -> None:
    root = parse_device_xml(data, device=ADDRESS)
    clock = parse_clock(root)
    if clock is not None:
        # What the WS-Security timestamp does with it: local time plus the device's offset.
        offset = clock - datetime.now(UTC)
        _ = datetime.now(UTC) + offset + timedelta(days=1)
    parse_device_information(root)
    parse_capabilities(root, ADDRESS, "http")
    parse_services(root, ADDRESS, "https")
    parse_scopes(root)
    repoint(text(root, "MediaUri", "Uri"), ADDRESS)
    declared(lambda: parse_profiles(root, device=ADDRESS))


def onvif_subscription(data: bytes) -> None:
    root = parse_device_xml(data, device=ADDRESS)
    repoint(text(root, "SubscriptionReference", "Address"), ADDRESS)
    asked = timedelta(seconds=60)
    lifetime = granted_lifetime(root, asked)
    assert timedelta(0) < lifetime <= asked
    _ = datetime.now(UTC) + lifetime


TARGETS: dict[str, Callable[[bytes], None]] = {
    "xml": xml,
    "multipart": multipart,
    "keyvalue": keyvalue,
    "hikvision_alert": hikvision_alert,
    "hikvision_device": hikvision_device,
    "dahua_event": dahua_event,
    "dahua_device": dahua_device,
    "onvif_notification": onvif_notification,
    "onvif_device": onvif_device,
    "onvif_subscription": onvif_subscription,
}


def _files(*patterns: str) -> list[bytes]:
    return [path.read_bytes() for pattern in patterns for path in sorted(FIXTURES.glob(pattern))]


def _multipart_seed(bodies: list[bytes], content_type: str) -> bytes:
    frames = b"".join(
        b"--myboundary\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body)
        + body
        + b"\r\n"
        for body in bodies
    )
    return content_type.encode() + b"\n\x07" + frames


SEEDS: dict[str, list[bytes]] = {
    "xml": _files("onvif/*.xml", "hikvision/*.xml", "hikvision/isapi/*.xml"),
    "multipart": [
        _multipart_seed(
            _files("dahua/*.txt")[:4], "multipart/x-mixed-replace; boundary=myboundary"
        ),
        _multipart_seed(_files("hikvision/vmd.xml", "hikvision/ANPR.xml"), "multipart/mixed"),
    ],
    "keyvalue": _files("dahua/cgi/*.txt"),
    "hikvision_alert": _files("hikvision/*.xml"),
    "hikvision_device": _files("hikvision/isapi/*.xml"),
    "dahua_event": _files("dahua/*.txt"),
    "dahua_device": _files("dahua/cgi/*.txt"),
    "onvif_notification": _files("onvif/PullMessages.xml", "onvif/events/*.xml"),
    "onvif_device": _files("onvif/Get*.xml"),
    "onvif_subscription": _files("onvif/CreatePullPointSubscription.xml", "onvif/Renew.xml"),
}


# --- structure-aware mutation -----------------------------------------------------------------

#: number-shaped values that break naive conversions
NUMBERS = [
    "\u00b2",  # superscript two: str.isdigit() is true, int() refuses it
    "\u0663",  # Arabic-Indic three
    "\uff11\uff12",  # full-width 12
    "-1",
    "0",
    "+5",
    " 7 ",
    "3.5",
    "1e3",
    "1e400",
    "-1e400",
    "inf",
    "nan",
    "NaN",
    "1e308",
    "9" * 25,
    "9" * 5000,
    "0x10",
    "1_000",
    "",
]
#: ISO 8601 times at the ends of the calendar and beyond
TIMES = [
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-23:59",
    "9999-12-31T23:59:59Z",
    "2026-02-30T00:00:00Z",
    "2026-01-01T00:00:00+24:00",
    "2026-01-01T00:00:00.123456789Z",
    "2026-01-01T00:00:00",
    "yesterday",
]
#: names longer than the catalog's text fields
LONG = ["x" * 300, "y" * 5000, "Z" * 70_000]
HOSTILE = NUMBERS + TIMES + LONG
#: encodings a mutated XML document is written in (with a matching declaration)
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1"]

_NOT_XML_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Parses the fuzzer's own inputs to mutate them: no entities, no network, like the real one.
_MUTATION_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


#: an internal DTD declaring an external entity, put before the root by ``mutate_xml``
DOCTYPE = '<!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/hostname">]>'


def mutate_xml(
    document: bytes, edits: Iterable[tuple[int, str]], encoding: str, *, doctype: bool = False
) -> bytes:
    """``document`` with leaf texts and attributes replaced (slot index modulo the slot count),
    written in ``encoding``, with ``DOCTYPE`` before its root if asked; ValueError or
    XMLSyntaxError if it is not XML to begin with."""
    root = etree.fromstring(document, _MUTATION_PARSER)
    slots: list[tuple[etree._Element, str | None]] = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if len(element) == 0:
            slots.append((element, None))
        slots += [(element, name) for name in element.attrib]
    for index, value in edits:
        element, attribute = slots[index % len(slots)]
        value = _NOT_XML_CHARS.sub("", value)
        if attribute is None:
            element.text = value
        else:
            element.set(attribute, value)
    text_form = etree.tostring(root, encoding="unicode")
    declaration = f'<?xml version="1.0" encoding="{encoding.removesuffix("-sig")}"?>'
    if doctype:
        declaration += DOCTYPE
    try:
        return (declaration + text_form).encode(encoding)
    except UnicodeEncodeError:
        return (declaration + text_form).encode("utf-8", "replace")


#: where a value sits in text formats: key=value, JSON scalars, [index], header values
TEXT_SLOTS = (
    re.compile(r"(?<==)[^;\r\n{]*"),
    re.compile(r'(?<=: )(?:-?[0-9][0-9.eE+-]*|"[^"]*"|true|false|null)'),
    re.compile(r"(?<=\[)[0-9]+(?=\])"),
    re.compile(r"(?<=Content-Length: )[^\r\n]*"),
)


def mutate_text(document: bytes, edits: Iterable[tuple[int, str]]) -> bytes:
    """``document`` with values replaced in its ``TEXT_SLOTS`` (slot index modulo their count)."""
    text_form = document.decode("utf-8", "surrogateescape")
    for index, value in edits:
        slots = [m.span() for pattern in TEXT_SLOTS for m in pattern.finditer(text_form)]
        if not slots:
            break
        start, end = slots[index % len(slots)]
        text_form = text_form[:start] + value + text_form[end:]
    try:
        return text_form.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text_form.encode("utf-8", "replace")


#: which mutation suits each target's input
STRUCTURE: dict[str, str] = {
    "xml": "xml",
    "hikvision_alert": "xml",
    "hikvision_device": "xml",
    "onvif_notification": "xml",
    "onvif_device": "xml",
    "onvif_subscription": "xml",
    "multipart": "text",
    "keyvalue": "text",
    "dahua_event": "text",
    "dahua_device": "text",
}

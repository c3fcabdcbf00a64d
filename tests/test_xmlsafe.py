"""The one XML hardening for device input: a DTD is refused in every encoding, plain documents parse."""

from __future__ import annotations

import codecs

import pytest

from connectors.sdk.errors import DeviceDataError
from connectors.sdk.xmlsafe import MAX_XML_BYTES, child_text, parse_device_xml, text

ENTITY_DOCUMENT = (
    '<?xml version="1.0" encoding="{encoding}"?>'
    '<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a><b>&e;</b></a>'
)
PLAIN_DOCUMENT = '<?xml version="1.0" encoding="{encoding}"?><a><b>Pasar Johar \u00e9</b></a>'

# (label, declared encoding, how the bytes are made)
ENCODINGS = [
    ("utf-8", "UTF-8", lambda doc: doc.encode("utf-8")),
    ("utf-8 with BOM", "UTF-8", lambda doc: codecs.BOM_UTF8 + doc.encode("utf-8")),
    ("utf-16 LE with BOM", "UTF-16", lambda doc: codecs.BOM_UTF16_LE + doc.encode("utf-16-le")),
    ("utf-16 BE with BOM", "UTF-16", lambda doc: codecs.BOM_UTF16_BE + doc.encode("utf-16-be")),
    ("utf-16 LE without BOM", "UTF-16LE", lambda doc: doc.encode("utf-16-le")),
    ("utf-16 BE without BOM", "UTF-16BE", lambda doc: doc.encode("utf-16-be")),
    ("utf-32 LE with BOM", "UTF-32", lambda doc: codecs.BOM_UTF32_LE + doc.encode("utf-32-le")),
    ("utf-32 BE with BOM", "UTF-32", lambda doc: codecs.BOM_UTF32_BE + doc.encode("utf-32-be")),
    ("utf-32 LE without BOM", "UTF-32LE", lambda doc: doc.encode("utf-32-le")),
    ("utf-32 BE without BOM", "UTF-32BE", lambda doc: doc.encode("utf-32-be")),
    ("declared ISO-8859-1", "ISO-8859-1", lambda doc: doc.encode("latin-1")),
    ("declared windows-1252", "windows-1252", lambda doc: doc.encode("cp1252")),
    ("declared GB18030", "GB18030", lambda doc: doc.encode("gb18030")),
    ("UTF-16 declared in UTF-8 bytes", "UTF-16", lambda doc: doc.encode("utf-8")),
]
IDS = [label for label, _, _ in ENCODINGS]


@pytest.mark.parametrize(("label", "declared", "encode"), ENCODINGS, ids=IDS)
def test_a_dtd_is_refused_in_every_encoding_with_the_payload_kept(
    label: str, declared: str, encode: object
) -> None:
    payload = encode(ENTITY_DOCUMENT.format(encoding=declared))  # type: ignore[operator]
    with pytest.raises(DeviceDataError, match="DOCTYPE") as caught:
        parse_device_xml(payload, device="127.0.0.1:1")
    assert caught.value.payload == payload
    assert caught.value.device == "127.0.0.1:1"


@pytest.mark.parametrize(("label", "declared", "encode"), ENCODINGS, ids=IDS)
def test_a_plain_document_reads_the_same_in_every_encoding(
    label: str, declared: str, encode: object
) -> None:
    root = parse_device_xml(encode(PLAIN_DOCUMENT.format(encoding=declared)))  # type: ignore[operator]
    assert text(root, "b") == "Pasar Johar \u00e9"


def test_utf7_and_ebcdic_cannot_smuggle_a_dtd_past_the_check() -> None:
    # In UTF-7, "+ADw-" is "<": a byte search for "<!DOCTYPE" finds nothing, libxml2 decodes it.
    utf7 = (
        b'<?xml version="1.0" encoding="UTF-7"?>+ADw-!DOCTYPE a +AFs-+ADw-!ENTITY e '
        b"+ACI-boom+ACI-+AD4-+AF0-+AD4-<a>&e;</a>"
    )
    with pytest.raises(DeviceDataError, match="encoding that is not accepted"):
        parse_device_xml(utf7)
    ebcdic = ENTITY_DOCUMENT.format(encoding="IBM037").encode("cp037")
    with pytest.raises(DeviceDataError):
        parse_device_xml(ebcdic)


def test_an_entity_declaration_without_doctype_keyword_case_is_refused() -> None:
    with pytest.raises(DeviceDataError, match="DOCTYPE or ENTITY"):
        parse_device_xml(b'<!doctype a [<!entity e "x">]><a>&e;</a>')


def test_bytes_that_are_not_the_declared_encoding_are_malformed() -> None:
    with pytest.raises(DeviceDataError, match="malformed"):
        parse_device_xml(codecs.BOM_UTF16_LE + b"<\x00a\x00>\x00\x00\xd8")  # lone surrogate
    with pytest.raises(DeviceDataError, match="malformed"):
        parse_device_xml(b"<a>\xff\xfe not utf-8</a>")


def test_deep_nesting_is_refused() -> None:
    parse_device_xml(b"<a>" * 200 + b"</a>" * 200)
    with pytest.raises(DeviceDataError, match="malformed"):
        parse_device_xml(b"<a>" * 300 + b"</a>" * 300)


def test_one_size_limit_that_a_caller_may_only_tighten() -> None:
    big = b"<a>" + b"x" * MAX_XML_BYTES + b"</a>"
    with pytest.raises(DeviceDataError, match="exceeds") as caught:
        parse_device_xml(big, max_bytes=10 * MAX_XML_BYTES)
    assert caught.value.payload is not None and len(caught.value.payload) == MAX_XML_BYTES
    with pytest.raises(DeviceDataError, match="exceeds the 1000 byte limit"):
        parse_device_xml(b"<a>" + b"x" * 2000 + b"</a>", max_bytes=1000)


def test_empty_and_blank_documents_are_refused() -> None:
    for payload in (b"", b"  \r\n", codecs.BOM_UTF8, codecs.BOM_UTF16_LE + " ".encode("utf-16-le")):
        with pytest.raises(DeviceDataError, match="empty"):
            parse_device_xml(payload)


def test_surrounding_whitespace_is_tolerated_and_the_error_names_the_document() -> None:
    root = parse_device_xml(
        b'\r\n  <?xml version="1.0"?><DeviceInfo><model>M</model></DeviceInfo>\n'
    )
    assert child_text(root, "model") == "M"
    with pytest.raises(DeviceDataError, match=r"^deviceInfo: malformed"):
        parse_device_xml(b"<DeviceInfo>", what="deviceInfo")

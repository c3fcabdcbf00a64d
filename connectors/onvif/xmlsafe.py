"""Parsing untrusted device XML: no DTDs, no entities, no network, bounded size; failures are DeviceDataError.

Every byte a camera sends goes through ``parse_device_xml`` before anything reads it. lxml is
configured so that an XXE payload cannot read files or reach the network and a billion-laughs
document cannot expand: entity declarations are refused outright rather than resolved.
"""

from __future__ import annotations

from collections.abc import Iterator

from lxml import etree

from connectors.sdk.errors import DeviceDataError

DEFAULT_MAX_XML_BYTES = 2 * 1024 * 1024
_DOCTYPE_REFUSED = "XML with a DOCTYPE is refused (entities and DTDs are not allowed)"

# resolve_entities=False alone still lets lxml expand internal entities lazily in some
# versions; refusing any DOCTYPE (checked below) is the robust defence.
_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    dtd_validation=False,
    load_dtd=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
)


def parse_device_xml(
    payload: bytes, *, device: str | None = None, max_bytes: int = DEFAULT_MAX_XML_BYTES
) -> etree._Element:
    """The root element of a device's XML reply, or DeviceDataError (with the payload kept)."""
    if len(payload) > max_bytes:
        raise DeviceDataError(
            f"XML of {len(payload)} bytes exceeds the {max_bytes} byte limit",
            device=device,
            payload=payload[:max_bytes],
        )
    if not payload.strip():
        raise DeviceDataError("empty XML document", device=device, payload=payload)
    if b"<!DOCTYPE" in payload or b"<!ENTITY" in payload:
        raise DeviceDataError(_DOCTYPE_REFUSED, device=device, payload=payload)
    try:
        root = etree.fromstring(payload, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise DeviceDataError(f"malformed XML: {exc.msg}", device=device, payload=payload) from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise DeviceDataError(_DOCTYPE_REFUSED, device=device, payload=payload)
    return root


def local_name(element: etree._Element) -> str:
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def iter_named(element: etree._Element, name: str) -> Iterator[etree._Element]:
    """Every descendant called ``name`` in any namespace: vendors disagree on prefixes and versions."""
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
    return [child for child in element if local_name(child) == name]

"""Hardened XML parsing for device responses: no entities, no DTDs, no network, no huge trees.

Every XML document a camera sends goes through ``parse_xml``; anything it refuses becomes a
``DeviceDataError`` carrying the start of the offending input for the dead letters.
"""

from __future__ import annotations

import re

from lxml import etree

from connectors.sdk.errors import DeviceDataError

MAX_XML_BYTES = 1024 * 1024
_SAMPLE = 512
_DOCTYPE = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_xml(data: bytes, *, device: str | None = None, what: str = "XML") -> etree._Element:
    """The root element of ``data``; DeviceDataError if it is too large, declares a DTD or is malformed."""
    if len(data) > MAX_XML_BYTES:
        raise DeviceDataError(
            f"{what}: document of {len(data)} bytes exceeds {MAX_XML_BYTES}",
            device=device,
            payload=data[:_SAMPLE],
        )
    if _DOCTYPE.search(data):
        raise DeviceDataError(
            f"{what}: document declares a DTD or entity (refused)",
            device=device,
            payload=data[:_SAMPLE],
        )
    try:
        root = etree.fromstring(data.strip(), _parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise DeviceDataError(
            f"{what}: malformed XML ({_first_line(exc)})", device=device, payload=data[:_SAMPLE]
        ) from exc
    if root is None:
        raise DeviceDataError(f"{what}: empty document", device=device, payload=data[:_SAMPLE])
    return root


def local_name(element: etree._Element) -> str:
    """Tag without its namespace: vendors move between schema versions (ver10, ver20)."""
    tag = element.tag
    if type(tag) is not str:
        return ""  # comments and processing instructions
    return tag.rpartition("}")[2]


def child_text(element: etree._Element, name: str) -> str | None:
    """Stripped text of the first direct child called ``name`` in any namespace."""
    for child in element:
        if local_name(child) == name:
            text = (child.text or "").strip()
            return text or None
    return None


def children(element: etree._Element, name: str) -> list[etree._Element]:
    """Every descendant element called ``name`` in any namespace, in document order."""
    return [node for node in element.iter() if local_name(node) == name]


def flatten_xml(element: etree._Element) -> dict[str, str]:
    """Leaf texts keyed by dotted path below ``element`` and, first occurrence wins, by leaf name
    (a path wins over another element's leaf alias).

    ``<ANPR><licensePlate>H1</licensePlate></ANPR>`` gives ``{"ANPR.licensePlate": "H1",
    "licensePlate": "H1"}``: mapping tables name either.
    """
    paths: dict[str, str] = {}
    leaves: dict[str, str] = {}

    def walk(node: etree._Element, prefix: str) -> None:
        for child in node:
            name = local_name(child)
            if not name:
                continue
            path = f"{prefix}.{name}" if prefix else name
            if len(child):
                walk(child, path)
                continue
            text = (child.text or "").strip()
            if text:
                paths.setdefault(path, text)
                leaves.setdefault(name, text)

    walk(element, "")
    # A full path beats a leaf alias: top-level ``eventType`` is never a nested one's.
    return leaves | paths


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__

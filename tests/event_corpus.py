"""The event corpus: captured-style payloads per vendor (``tests/fixtures``), read as a device sends them.

Each payload is written from the vendor's documentation and the format's specification: ONVIF
PullMessages responses and Notify messages (``onvif/events/``), Hikvision
``EventNotificationAlert`` documents (``hikvision/``, and whole alertStreams in
``hikvision/streams/``), Dahua ``Code=…;action=…;index=…;data={…}`` parts (``dahua/``). A file
whose name starts with ``unknown_`` is an event no table knows, kept raw for the dead letters.

Shared by the corpus tests (``tests/test_event_corpus.py``) and the parser benchmark
(``bench/event_parsers.py``); the simulators replay the same files (``--variants DIR``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from connectors.onvif.event_topics import TopicParser, notifications
from connectors.private_vendors.dahua.events import EVENT_TABLE as DAHUA_TABLE
from connectors.private_vendors.dahua.events import parse_event_part
from connectors.private_vendors.hikvision.events import EVENT_TABLE as HIKVISION_TABLE
from connectors.private_vendors.hikvision.events import parse_alert_part
from connectors.sdk.base import UnparsedEvent
from connectors.sdk.mapping import DeviceContext, EventMapper
from connectors.sdk.multipart import MultipartStreamParser, Part
from connectors.sdk.xmlsafe import parse_device_xml
from topics.models import DeviceEvent

FIXTURES = Path(__file__).parent / "fixtures"
ONVIF = FIXTURES / "onvif" / "events"
HIKVISION = FIXTURES / "hikvision"
DAHUA = FIXTURES / "dahua"
RECEIVED = datetime(2026, 11, 27, 12, 43, tzinfo=UTC)

CAMERA = "cam-0123456789abcdef0123"
ONVIF_DEVICE = "dev-0123456789abcdef0123"
HIKVISION_DEVICE = DeviceContext(
    connector="hikvision",
    vendor="hikvision",
    serial="DS-7732NI-K41620230101CCRR000000001WCVU",
    device_id="dev-00000000000000000001",
    default_channel=1,
)
DAHUA_DEVICE = DeviceContext(
    connector="dahua",
    vendor="dahua",
    serial="7G0001PAZ00000001",
    device_id="dev-00000000000000000002",
)

Normalised = DeviceEvent | UnparsedEvent


def onvif_events(payload: bytes) -> list[Normalised]:
    """Every notification of a PullMessages response or a Notify, normalised."""
    parser = TopicParser(camera_id=CAMERA, device_id=ONVIF_DEVICE)
    return [parser.parse(message) for message in notifications(parse_device_xml(payload))]


def hikvision_events(payload: bytes, content_type: str = "application/xml") -> list[Normalised]:
    """The events of one alertStream part (``None``: a keepalive, left out)."""
    mapper = EventMapper(HIKVISION_TABLE, case_sensitive=False)
    found = [
        mapper.map(event, HIKVISION_DEVICE, received_at=RECEIVED)
        for event in parse_alert_part(Part({"content-type": content_type}, payload))
    ]
    return [event for event in found if event is not None]


def dahua_events(payload: bytes) -> list[Normalised]:
    """The events of one eventManager part."""
    mapper = EventMapper(DAHUA_TABLE)
    found = [
        mapper.map(event, DAHUA_DEVICE, received_at=RECEIVED)
        for event in parse_event_part(Part({"content-type": "text/plain"}, payload), now=RECEIVED)
    ]
    return [event for event in found if event is not None]


def stream_parts(stream: bytes, boundary: str) -> list[Part]:
    """The parts of a captured multipart stream."""
    return [part for part in MultipartStreamParser(boundary).feed(stream) if isinstance(part, Part)]

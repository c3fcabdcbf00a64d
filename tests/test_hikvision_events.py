"""Hikvision alertStream parsing and mapping: keepalives, ids, unknown codes, hostile XML.

What each event type normalises to is the corpus table in ``tests/test_event_corpus.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from connectors.private_vendors.hikvision.events import EVENT_TABLE, parse_alert, parse_alert_part
from connectors.sdk.base import UnparsedEvent
from connectors.sdk.errors import DeviceDataError
from connectors.sdk.mapping import DeviceContext, EventMapper
from connectors.sdk.multipart import Part
from topics.models import DeviceEvent

FIXTURES = Path(__file__).parent / "fixtures" / "hikvision"
DEVICE = DeviceContext(
    connector="hikvision",
    vendor="hikvision",
    serial="DS-7732NI-K41620230101CCRR000000001WCVU",
    device_id="dev-00000000000000000001",
    default_channel=1,
)
RECEIVED = datetime(2026, 11, 27, 12, 43, tzinfo=UTC)


def mapped(name: str) -> DeviceEvent | UnparsedEvent | None:
    body = (FIXTURES / name).read_bytes()
    return EventMapper(EVENT_TABLE, case_sensitive=False).map(
        parse_alert(body), DEVICE, received_at=RECEIVED
    )


def test_inactive_videoloss_is_the_keepalive_not_an_event() -> None:
    assert mapped("videoloss_heartbeat.xml") is None


def test_event_id_is_stable_and_distinguishes_post_counts() -> None:
    first, again = mapped("vmd.xml"), mapped("vmd.xml")
    assert isinstance(first, DeviceEvent) and isinstance(again, DeviceEvent)
    assert first.event_id == again.event_id
    other = (
        (FIXTURES / "vmd.xml").read_bytes().replace(b"<activePostCount>3<", b"<activePostCount>4<")
    )
    moved = EventMapper(EVENT_TABLE, case_sensitive=False).map(
        parse_alert(other), DEVICE, received_at=RECEIVED
    )
    assert isinstance(moved, DeviceEvent) and moved.event_id != first.event_id


def test_unknown_code_is_kept_raw_and_logged_once() -> None:
    mapper = EventMapper(EVENT_TABLE, case_sensitive=False)
    body = (FIXTURES / "unknown_illaccess.xml").read_bytes()
    with capture_logs() as logs:
        results = [mapper.map(parse_alert(body), DEVICE, received_at=RECEIVED) for _ in range(3)]
    assert all(isinstance(r, UnparsedEvent) and r.vendor_topic == "illaccess" for r in results)
    assert isinstance(results[0], UnparsedEvent) and "<ipAddress>10.20.30.40" in results[0].payload
    assert [entry["event"] for entry in logs] == ["unknown_vendor_event"]


def test_pictures_attached_to_anpr_alerts_are_not_events() -> None:
    assert parse_alert_part(Part({"content-type": "image/jpeg"}, b"\xff\xd8\xff")) == []


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><EventNotificationAlert><eventType>&e;</eventType></EventNotificationAlert>',
        b"<EventNotificationAlert><eventType>VMD</eventType>",
        b"<ResponseStatus><statusCode>4</statusCode></ResponseStatus>",
        b"<EventNotificationAlert><dateTime>2026-01-01T00:00:00Z</dateTime></EventNotificationAlert>",
        b"<EventNotificationAlert><eventType>VMD</eventType><channelID>-1</channelID><dateTime>2026-01-01T00:00:00Z</dateTime></EventNotificationAlert>",
        b"<EventNotificationAlert><eventType>VMD</eventType><dateTime>yesterday</dateTime></EventNotificationAlert>",
        "<EventNotificationAlert><eventType>VMD</eventType><channelID>\u00b2</channelID><dateTime>2026-01-01T00:00:00Z</dateTime></EventNotificationAlert>".encode(),
        b"<EventNotificationAlert><eventType>VMD</eventType><dateTime>0001-01-01T00:00:00+01:00</dateTime></EventNotificationAlert>",
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><EventNotificationAlert><eventType>&e;</eventType></EventNotificationAlert>'.encode(
            "utf-16"
        ),
    ],
    ids=[
        "doctype-entity",
        "truncated",
        "wrong-root",
        "no-eventType",
        "bad-channel",
        "bad-time",
        "superscript-channel",
        "time-beyond-utc",
        "utf16-doctype",
    ],
)
def test_hostile_or_broken_xml_is_a_device_data_error(body: bytes) -> None:
    with pytest.raises(DeviceDataError):
        parse_alert_part(Part({"content-type": "application/xml"}, body))


def test_json_parts_are_refused_with_a_reason() -> None:
    with pytest.raises(DeviceDataError, match="unsupported type"):
        parse_alert_part(Part({"content-type": "application/json"}, b"{}"))

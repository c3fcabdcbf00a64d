"""Dahua eventManager parsing and mapping: keepalives, records, ids, unknown codes, broken records.

What each code normalises to is the corpus table in ``tests/test_event_corpus.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from connectors.private_vendors.dahua.events import EVENT_TABLE, parse_event_part
from connectors.sdk.base import UnparsedEvent
from connectors.sdk.errors import DeviceDataError
from connectors.sdk.mapping import DeviceContext, EventMapper
from connectors.sdk.multipart import Part
from topics.models import DeviceEvent, EventKind

FIXTURES = Path(__file__).parent / "fixtures" / "dahua"
DEVICE = DeviceContext(
    connector="dahua",
    vendor="dahua",
    serial="7G0001PAZ00000001",
    device_id="dev-00000000000000000002",
)
RECEIVED = datetime(2026, 11, 27, 12, 43, tzinfo=UTC)
DEVICE_TIME = datetime.fromtimestamp(1795812127, UTC)


def parsed(name: str) -> list[DeviceEvent | UnparsedEvent | None]:
    part = Part({"content-type": "text/plain"}, (FIXTURES / name).read_bytes())
    mapper = EventMapper(EVENT_TABLE)
    return [
        mapper.map(event, DEVICE, received_at=RECEIVED)
        for event in parse_event_part(part, now=RECEIVED)
    ]


def test_index_is_zero_based_and_a_stop_without_data_uses_receive_time() -> None:
    (event,) = parsed("VideoMotion_stop_no_data.txt")
    assert isinstance(event, DeviceEvent)
    assert event.active is False and event.source.channel == 3
    assert event.device_time == RECEIVED


def test_heartbeat_is_not_an_event() -> None:
    assert parsed("Heartbeat.txt") == []


def test_one_part_may_carry_several_records() -> None:
    kinds = [e.kind for e in parsed("two_records.txt") if isinstance(e, DeviceEvent)]
    assert kinds == [EventKind.MOTION, EventKind.TAMPER]


def test_unknown_code_is_kept_raw_and_logged_once() -> None:
    with capture_logs() as logs:
        results = parsed("unknown_LoginFailure.txt") + parsed("unknown_LoginFailure.txt")
    mapper_logs = [entry for entry in logs if entry["event"] == "unknown_vendor_event"]
    # Two mappers (one per call) each log once; one mapper never logs a code twice.
    assert len(mapper_logs) == 2
    assert all(isinstance(r, UnparsedEvent) and r.vendor_topic == "LoginFailure" for r in results)
    first = results[0]
    assert isinstance(first, UnparsedEvent) and '"Address"' in first.payload
    mapper = EventMapper(EVENT_TABLE)
    part = Part({}, (FIXTURES / "unknown_LoginFailure.txt").read_bytes())
    with capture_logs() as logs:
        for _ in range(5):
            mapper.map(parse_event_part(part, now=RECEIVED)[0], DEVICE, received_at=RECEIVED)
    assert len(logs) == 1


def test_event_id_is_stable_across_receipts() -> None:
    (first,) = parsed("CrossLineDetection.txt")
    (again,) = parsed("CrossLineDetection.txt")
    assert isinstance(first, DeviceEvent) and isinstance(again, DeviceEvent)
    assert first.event_id == again.event_id


@pytest.mark.parametrize(
    "body",
    [
        b"not an event",
        b"Code=;action=Start;index=0",
        b"Code=VideoMotion;action=Explode;index=0",
        b"Code=VideoMotion;action=Start;index=-1",
        "Code=VideoMotion;action=Start;index=\u00b2".encode(),
        b"Code=VideoMotion;action=Start;index=" + b"9" * 5000,
    ],
    ids=[
        "no-code",
        "empty-code",
        "bad-action",
        "bad-index",
        "superscript-index",
        "index-beyond-int-digits",
    ],
)
def test_broken_records_are_device_data_errors(body: bytes) -> None:
    with pytest.raises(DeviceDataError):
        parse_event_part(Part({}, body))


def test_an_attribute_that_does_not_validate_is_dropped_not_the_event() -> None:
    body = b'Code=CrowdDetection;action=Start;index=0;data={"Name":"Plaza","RegionList":[{"PeopleNum":-4}]}'
    (vendor_event,) = parse_event_part(Part({}, body), now=RECEIVED)
    event = EventMapper(EVENT_TABLE).map(vendor_event, DEVICE, received_at=RECEIVED)
    assert isinstance(event, DeviceEvent) and event.kind is EventKind.CROWD_DENSITY
    assert event.attributes.model_dump(exclude_none=True) == {"rule": "Plaza"}


@pytest.mark.parametrize(
    "data",
    [
        "{broken",
        "{'Name': 'Gate'}",  # Python's repr, as some firmware writes it
        "[" * 100_000 + "]" * 100_000,
        '{"Name": "Gate", "UTC": 17958',  # cut short
    ],
    ids=["broken", "single-quotes", "too-deep", "cut-short"],
)
def test_a_record_whose_data_is_not_json_keeps_code_action_index_and_the_raw_data(
    data: str,
) -> None:
    body = f"Code=CrossLineDetection;action=Start;index=2;data={data}".encode()
    (vendor_event,) = parse_event_part(Part({}, body), now=RECEIVED)
    event = EventMapper(EVENT_TABLE).map(vendor_event, DEVICE, received_at=RECEIVED)
    assert isinstance(event, DeviceEvent)
    assert (event.kind, event.active, event.source.channel) == (EventKind.LINE_CROSSING, True, 3)
    assert event.device_time == RECEIVED
    assert event.raw is not None and event.raw["unreadable"] == "data"
    assert event.raw["data"] == data[:4096]
    assert ("truncated" in event.raw) == (len(data) > 4096)


def test_a_record_with_readable_data_carries_no_raw() -> None:
    (event,) = parsed("CrossLineDetection.txt")
    assert isinstance(event, DeviceEvent) and event.raw is None

"""The catalog admits only finite numbers, physical ranges and plausible times, and says so in its schemas."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from topics import codec
from topics.catalog import ALERTS, CAMERA_STATUS, DEAD_LETTERS, DEVICE_EVENTS, all_topics
from topics.docs import json_schema, schema_filename
from topics.examples import example
from topics.models import (
    EARLIEST,
    LATEST,
    MAX_COUNT,
    MAX_CROWD_DENSITY,
    MAX_DWELL_S,
    MAX_FLOOD_LEVEL_CM,
    MAX_LATENCY_MS,
    Alert,
    CameraStatus,
    DeviceEvent,
    StrictModel,
)

EVENT = example(DeviceEvent).model_dump(mode="json")

# attribute: (lowest admitted, highest admitted)
ATTRIBUTE_RANGES: dict[str, tuple[float, float]] = {
    "count": (0, MAX_COUNT),
    "crowd_density": (0, MAX_CROWD_DENSITY),
    "flood_level_cm": (-MAX_FLOOD_LEVEL_CM, MAX_FLOOD_LEVEL_CM),
    "mask_compliance_pct": (0, 100),
    "dwell_s": (0, MAX_DWELL_S),
    "confidence": (0, 1),
}


def event_json(**attributes: Any) -> bytes:
    """An event as raw JSON, as a producer that skips validation would send it."""
    body = json.dumps({**EVENT, "attributes": {}})
    inner = ",".join(f'"{name}":{value}' for name, value in attributes.items())
    return body.replace('"attributes": {}', '"attributes": {' + inner + "}").encode()


def refusal(spec: Any, raw: bytes) -> str:
    with pytest.raises(codec.InvalidMessage) as refused:
        codec.decode(spec, raw)
    return refused.value.reason


def test_a_401_digit_count_is_refused_with_the_field_named() -> None:
    reason = refusal(DEVICE_EVENTS, event_json(count="9" * 401))
    assert "attributes.count" in reason
    assert "9999" not in reason  # reasons never echo input values


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity", "-Infinity"])
def test_crowd_density_must_be_a_finite_number(number: str) -> None:
    assert "attributes.crowd_density" in refusal(DEVICE_EVENTS, event_json(crowd_density=number))


def test_no_catalog_payload_admits_infinity_or_nan() -> None:
    def strict_models(model: type[BaseModel]) -> set[type[BaseModel]]:
        found = {model}
        for sub in model.__subclasses__():
            found |= strict_models(sub)
        return found

    for model in strict_models(StrictModel):
        assert model.model_config.get("allow_inf_nan") is False, model.__name__
    status = example(CameraStatus).model_dump(mode="json")
    raw = json.dumps({**status, "latency_ms": 1.0}).replace("1.0", "Infinity").encode()
    assert "latency_ms" in refusal(CAMERA_STATUS, raw)
    alert = example(Alert).model_dump(mode="json")
    raw = json.dumps({**alert, "measurement": 1.5}).replace("1.5", "NaN").encode()
    assert "measurement" in refusal(ALERTS, raw)


@pytest.mark.parametrize("attribute", sorted(ATTRIBUTE_RANGES))
@given(fraction=st.floats(min_value=0, max_value=1))
def test_a_reading_within_its_physical_range_is_admitted(attribute: str, fraction: float) -> None:
    low, high = ATTRIBUTE_RANGES[attribute]
    value = low + (high - low) * fraction
    number = int(value) if attribute == "count" else min(max(value, low), high)
    event = codec.decode(DEVICE_EVENTS, event_json(**{attribute: json.dumps(number)}))
    assert isinstance(event, DeviceEvent)
    assert getattr(event.attributes, attribute) == number


@pytest.mark.parametrize("attribute", sorted(ATTRIBUTE_RANGES))
@given(beyond=st.floats(min_value=1e-6, max_value=1e300, allow_nan=False))
def test_a_reading_beyond_its_physical_range_is_refused(attribute: str, beyond: float) -> None:
    low, high = ATTRIBUTE_RANGES[attribute]
    for value in (high + max(beyond, high * 1e-9), low - max(beyond, abs(low) * 1e-9)):
        number = int(value) + (1 if value > high else -1) if attribute == "count" else value
        reason = refusal(DEVICE_EVENTS, event_json(**{attribute: json.dumps(number)}))
        assert f"attributes.{attribute}" in reason


def test_status_latency_is_bounded() -> None:
    status = example(CameraStatus).model_dump(mode="json")
    raw = json.dumps({**status, "latency_ms": MAX_LATENCY_MS * 2}).encode()
    assert "latency_ms" in refusal(CAMERA_STATUS, raw)


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        # Offsets as RFC 3339 writes them: whole minutes, up to 14 hours.
        timezones=st.integers(min_value=-14 * 60, max_value=14 * 60).map(
            lambda minutes: timezone(timedelta(minutes=minutes))
        ),
    )
)
def test_every_time_is_admitted_exactly_when_it_lies_in_the_catalogs_range(when: datetime) -> None:
    raw = json.dumps({**EVENT, "device_time": when.isoformat()}).encode()
    if EARLIEST <= when <= LATEST:
        assert isinstance(codec.decode(DEVICE_EVENTS, raw), DeviceEvent)
    else:
        assert "device_time" in refusal(DEVICE_EVENTS, raw)


def test_a_device_clock_reset_to_1970_local_time_is_still_admitted() -> None:
    reset = "1970-01-01T00:00:00+07:00"
    event = codec.decode(DEVICE_EVENTS, json.dumps({**EVENT, "device_time": reset}).encode())
    assert isinstance(event, DeviceEvent)
    assert event.device_time == datetime(1969, 12, 31, 17, tzinfo=UTC)
    too_late = (LATEST + timedelta(seconds=1)).isoformat()
    assert "received_at" in refusal(
        DEVICE_EVENTS, json.dumps({**EVENT, "received_at": too_late}).encode()
    )


def test_a_header_name_that_is_not_utf8_text_is_refused_at_the_edge() -> None:
    raw = codec.encode(DEVICE_EVENTS, example(DeviceEvent))
    bad = b"\xff\xfe".decode("utf-8", "surrogateescape")
    assert "header name is not UTF-8" in refusal_with_headers(raw, [(bad, b"1")])
    assert isinstance(codec.decode(DEVICE_EVENTS, raw, [("trace", b"1")]), DeviceEvent)


def refusal_with_headers(raw: bytes, headers: list[tuple[str, bytes]]) -> str:
    with pytest.raises(codec.InvalidMessage) as refused:
        codec.decode(DEVICE_EVENTS, raw, headers)
    return refused.value.reason


def test_published_schemas_state_the_bounds() -> None:
    events = json_schema(DEVICE_EVENTS)
    attributes = events["$defs"]["EventAttributes"]["properties"]
    count = next(s for s in attributes["count"]["anyOf"] if s.get("type") == "integer")
    assert (count["minimum"], count["maximum"]) == (0, MAX_COUNT)
    density = next(s for s in attributes["crowd_density"]["anyOf"] if s.get("type") == "number")
    assert density["maximum"] == MAX_CROWD_DENSITY
    device_time = events["properties"]["device_time"]
    assert device_time["format"] == "date-time"
    assert device_time["formatMinimum"] == "1900-01-01T00:00:00Z"
    assert device_time["formatMaximum"] == "2200-01-01T00:00:00Z"


def test_dead_letters_are_version_2_and_name_the_processing_failure_kind() -> None:
    assert DEAD_LETTERS.name == "tilik.deadletter.v2"
    assert schema_filename(DEAD_LETTERS) == "DeadLetter.v2.schema.json"
    assert DEAD_LETTERS.schema_id == "DeadLetter/v2"
    kinds = json_schema(DEAD_LETTERS)["$defs"]["DeadLetterKind"]["enum"]
    assert "processing_failed" in kinds
    assert [s.name for s in all_topics() if s.value_model.__name__ == "DeadLetter"] == [
        "tilik.deadletter.v2"
    ]

"""Reading device values: a number, a time or None, never ValueError or OverflowError."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import BaseModel, Field

from connectors.sdk.devicedata import aware_time, decimal, device_model, finite_float
from connectors.sdk.errors import DeviceDataError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7),
        (" 42 ", 42),
        ("0", 0),
        ("\u00b2", None),
        ("\u0663", None),
        ("\uff11", None),
        ("-1", None),
        ("+5", None),
        ("3.0", None),
        ("9" * 5000, None),
        ("", None),
        (None, None),
    ],
)
def test_decimal_reads_ascii_digits_only(value: str | None, expected: int | None) -> None:
    assert decimal(value) == expected


def test_decimal_bounds() -> None:
    assert decimal("9999", low=1, high=9999) == 9999
    assert decimal("10000", low=1, high=9999) is None
    assert decimal("0", low=1) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("17", 17.0),
        ("42.5", 42.5),
        ("1e3", 1000.0),
        (" 3 ", 3.0),
        ("1e400", None),
        ("-1e400", None),
        ("inf", None),
        ("nan", None),
        ("x", None),
        ("9" * 100, None),
        (None, None),
    ],
)
def test_finite_float_refuses_nan_and_infinities(value: str | None, expected: float | None) -> None:
    assert finite_float(value) == expected


def test_aware_time_keeps_the_offset_and_reads_naive_times_as_utc() -> None:
    wib = timezone(timedelta(hours=7))
    assert aware_time("2026-11-28T12:00:00+07:00") == datetime(2026, 11, 28, 12, tzinfo=wib)
    assert aware_time("2026-11-28T12:00:00+07:00").utcoffset() == timedelta(hours=7)  # type: ignore[union-attr]
    assert aware_time("2026-11-28T05:00:00Z") == datetime(2026, 11, 28, 5, tzinfo=UTC)
    assert aware_time("2026-11-28T05:00:00") == datetime(2026, 11, 28, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-23:59", "yesterday", "", None, "2" * 100],
)
def test_aware_time_is_none_for_times_utc_cannot_hold_or_read(value: str | None) -> None:
    assert aware_time(value) is None


class _Record(BaseModel):
    name: str = Field(max_length=8)
    count: int = Field(ge=0)


def test_device_model_names_the_fields_but_never_echoes_their_values() -> None:
    with pytest.raises(DeviceDataError) as caught, device_model("a record", device="10.0.0.9:80"):
        _Record(name="hunter2-secret-name", count=-5)
    message = str(caught.value)
    assert message.startswith("a record: name: String should have at most 8 characters")
    assert "count: Input should be greater than or equal to 0" in message
    assert "hunter2" not in message and "-5" not in message
    assert caught.value.device == "10.0.0.9:80"

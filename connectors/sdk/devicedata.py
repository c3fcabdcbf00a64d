"""Reading untrusted device values: numbers and times as a value or None, models as DeviceDataError.

Python's own conversions raise more than ``ValueError`` on device text: ``"²".isdigit()`` is true
but ``int("²")`` fails, ``int(float("1e400"))`` raises ``OverflowError``, ``float("nan")`` passes
every range check, a 5,000-digit number exceeds ``int``'s digit limit, and a valid ISO time such as
``0001-01-01T00:00:00+01:00`` overflows when moved to UTC. These helpers give None for all of
that, so a parser decides in one place what a missing value means.

A catalog model (``DeviceEvent``, ``CameraRecord``) built from device input may still refuse it;
``device_model`` turns that ``ValidationError`` into the SDK's ``DeviceDataError``, with a reason
that names the fields but never echoes their values. ``device_json`` reads a JSON answer into a
model of the device's API the same way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from connectors.sdk.errors import DeviceDataError

M = TypeVar("M", bound=BaseModel)

# ASCII digits only, and few enough that int() is cheap and a C long holds the value.
_DECIMAL = re.compile(r"[0-9]{1,18}")
_MAX_NUMBER_CHARS = 64
_MAX_TIME_CHARS = 64


def decimal(value: str | None, *, low: int = 0, high: int = 10**18) -> int | None:
    """A non-negative integer written in ASCII digits (surrounding blanks allowed) within
    ``low..high``, else None."""
    if value is None:
        return None
    digits = value.strip()
    if not _DECIMAL.fullmatch(digits):
        return None
    number = int(digits)
    return number if low <= number <= high else None


def finite_float(value: str | None) -> float | None:
    """A finite number (``"3"``, ``"2.5"``, ``"1e3"``), else None (also for nan and infinities)."""
    if value is None or len(value) > _MAX_NUMBER_CHARS:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def aware_time(value: str | None) -> datetime | None:
    """An ISO 8601 time (``Z`` accepted; no offset means UTC) whose instant UTC can hold, else None.

    The offset is kept as sent: event ids hash the device's own rendering of the time.
    """
    if not value or len(value) > _MAX_TIME_CHARS:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        moment.astimezone(UTC)
    except OverflowError:  # year 1 east of Greenwich, year 9999 west of it
        return None
    return moment


@contextmanager
def device_model(
    what: str, *, device: str | None, payload: bytes | str | None = None
) -> Iterator[None]:
    """Translate a ``ValidationError`` of a model built from device input into DeviceDataError."""
    try:
        yield
    except ValidationError as exc:
        raise DeviceDataError(
            f"{what}: {validation_summary(exc)}", device=device, payload=payload
        ) from None


def device_json(model: type[M], body: bytes, *, what: str, device: str | None) -> M:
    """``body`` (JSON from a device) as ``model``; DeviceDataError, carrying the body, if it is not
    JSON or does not fit the model."""
    with device_model(what, device=device, payload=body):
        try:
            return model.model_validate_json(body)
        except ValidationError as exc:
            if any(error["type"] == "json_invalid" for error in exc.errors()):
                raise DeviceDataError(f"{what}: not JSON", device=device, payload=body) from None
            raise


def validation_summary(exc: ValidationError, *, limit: int = 3) -> str:
    """``"attributes.confidence: Input should be less than or equal to 1"``: fields and rules only."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    parts = [
        f"{'.'.join(str(step) for step in error['loc']) or 'value'}: {error['msg']}"
        for error in errors[:limit]
    ]
    more = len(errors) - limit
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")

"""Registry records from what a device says: descriptive values fitted to the registry, identity never altered.

A device decides the length and range of what it reports; the registry's model
(``topics.models.CameraRecord``) does not bend. Every connector builds its records here, so one
policy decides what happens to a value that does not fit:

    clipped to the model's limit      name, vendor, model, firmware, hardware_id; a stream
                                      profile's name and codec (a cut description still describes)
    dropped (left unknown)            a stream profile's width, height and fps out of range
                                      (unknown is better than wrong)
    the device is refused             everything else: serial, MAC, ids, address, stream tokens
                                      and URIs (a cut serial is another device's serial, a cut URI
                                      points nowhere)

A refusal is a ``DeviceDataError`` naming the fields and the rule they broke, never their
values; onboarding dead-letters it and carries on with the other devices.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from connectors.sdk.errors import DeviceDataError
from topics.models import CameraRecord

_CLIPPED = frozenset({"name", "vendor", "model", "firmware", "hardware_id"})
_CLIPPED_IN_STREAM = frozenset({"name", "codec"})
_DROPPED_IN_STREAM = frozenset({"width", "height", "fps"})
_OUT_OF_RANGE = frozenset(
    {"greater_than", "greater_than_equal", "less_than", "less_than_equal", "finite_number"}
)
# Error types whose message is written by a validator and may quote the value it refused.
_FREE_TEXT_ERRORS = frozenset({"value_error", "assertion_error"})


def model_problems(exc: ValidationError, *, limit: int = 5) -> str:
    """``field: what is wrong`` for the first ``limit`` errors, never the refused values."""
    parts = []
    errors = exc.errors(include_url=False, include_input=False)
    for error in errors[:limit]:
        where = ".".join(str(step) for step in error["loc"]) or "value"
        what = error["type"] if error["type"] in _FREE_TEXT_ERRORS else error["msg"]
        parts.append(f"{where}: {what}")
    if len(errors) > limit:
        parts.append(f"and {len(errors) - limit} more")
    return "; ".join(parts)


def registry_record(fields: Mapping[str, Any], *, device: str) -> CameraRecord:
    """The ``CameraRecord`` of ``fields`` (stream profiles as mappings), fitted by the policy above."""
    record = dict(fields)
    record["streams"] = [
        dict(stream) if isinstance(stream, Mapping) else stream
        for stream in record.get("streams", [])
    ]
    try:
        return CameraRecord.model_validate(record)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            _fit(record, error)
    try:
        return CameraRecord.model_validate(record)
    except ValidationError as exc:
        raise DeviceDataError(
            f"device values do not fit the registry: {model_problems(exc)}", device=device
        ) from None


def _fit(record: dict[str, Any], error: Any) -> None:
    """Apply the policy to one validation error in place (errors it does not cover stay)."""
    loc, kind = error["loc"], error["type"]
    if len(loc) == 1 and loc[0] in _CLIPPED and kind == "string_too_long":
        record[loc[0]] = record[loc[0]][: error["ctx"]["max_length"]]
        return
    if len(loc) == 3 and loc[0] == "streams" and isinstance(loc[1], int):
        stream = record["streams"][loc[1]]
        if not isinstance(stream, dict):
            return
        if loc[2] in _CLIPPED_IN_STREAM and kind == "string_too_long":
            stream[loc[2]] = stream[loc[2]][: error["ctx"]["max_length"]]
        elif loc[2] in _DROPPED_IN_STREAM and kind in _OUT_OF_RANGE:
            stream[loc[2]] = None

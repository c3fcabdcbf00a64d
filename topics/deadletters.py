"""Building dead letters from raw input: payload as UTF-8 or base64, capped, reason and headers scrubbed.

Every component that refuses input (a consumer at a topic edge, a connector reading a device,
delivery giving up, an agent whose processing of a record failed) builds its ``DeadLetter`` here,
so the dead-letter topic has one shape.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import ValidationError

from core.redact import REDACTED, is_secret_key, redact_text
from topics.models import DeadLetter, DeadLetterKind, utcnow

# Raw bytes kept per dead letter: enough to diagnose and replay ordinary messages, while base64
# of the cap (4/3 of it) stays far below the model's 1 MiB payload limit.
MAX_DEAD_LETTER_PAYLOAD = 256 * 1024
_LONG_TEXT = 4096
_SHORT_TEXT = 256

PayloadEncoding = Literal["utf-8", "base64"]
RawHeaders = Iterable[tuple[str, bytes | str | None]] | Mapping[str, bytes | str | None]


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def encode_payload(
    payload: bytes | str | None, *, cap: int = MAX_DEAD_LETTER_PAYLOAD
) -> tuple[str, PayloadEncoding, bool]:
    """(text, encoding, truncated): UTF-8 when the bytes are text, base64 otherwise; cut at ``cap`` bytes."""
    raw = payload.encode("utf-8") if isinstance(payload, str) else (payload or b"")
    truncated = len(raw) > cap
    if truncated:
        raw = raw[:cap]
    try:
        return raw.decode("utf-8"), "utf-8", truncated
    except UnicodeDecodeError as exc:
        # A cut through a multi-byte character is still text: drop the partial character only.
        if truncated and exc.start >= len(raw) - 3 and exc.reason == "unexpected end of data":
            return raw[: exc.start].decode("utf-8"), "utf-8", truncated
        return base64.b64encode(raw).decode("ascii"), "base64", truncated


def printable_name(name: str) -> str:
    """A header name as text that can be published: bytes that were not UTF-8 written as ``\\xNN``.

    Such bytes arrive as lone surrogates (``topics.kafka_workarounds``), which JSON cannot carry.
    """
    try:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return name.encode("utf-8", "backslashreplace").decode("utf-8")


def scrub_headers(headers: RawHeaders | None) -> dict[str, str]:
    """Headers as text, secret-named ones replaced, long ones clipped to the model's limits."""
    if not headers:
        return {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    scrubbed: dict[str, str] = {}
    for name, value in items:
        key = _clip(printable_name(name), _SHORT_TEXT)
        scrubbed[key] = (
            REDACTED if is_secret_key(name) else _clip(redact_text(_text(value)), _LONG_TEXT)
        )
    return scrubbed


def make_dead_letter(
    *,
    kind: DeadLetterKind = DeadLetterKind.INVALID_MESSAGE,
    reason: str,
    component: str,
    payload: bytes | str | None,
    key: bytes | str | None = None,
    headers: RawHeaders | None = None,
    source_topic: str | None = None,
    source_partition: int | None = None,
    source_offset: int | None = None,
    source_device: str | None = None,
    error_type: str | None = None,
    attempts: int = 0,
    failed_at: datetime | None = None,
    cap: int = MAX_DEAD_LETTER_PAYLOAD,
) -> DeadLetter:
    """A ``DeadLetter`` for refused input. The reason is scrubbed of credentials; the payload is kept as is."""
    text, encoding, truncated = encode_payload(payload, cap=cap)
    return DeadLetter(
        kind=kind,
        reason=_clip(redact_text(reason), _LONG_TEXT),
        error_type=_clip(error_type, _SHORT_TEXT) if error_type else None,
        component=_clip(component, _SHORT_TEXT),
        source_topic=source_topic,
        source_partition=source_partition,
        source_offset=source_offset,
        source_device=_clip(source_device, _SHORT_TEXT) if source_device else None,
        key=_clip(_text(key), _LONG_TEXT) if key is not None else None,
        payload=text,
        payload_encoding=encoding,
        payload_truncated=truncated,
        headers=scrub_headers(headers),
        attempts=attempts,
        failed_at=failed_at or utcnow(),
    )


class SourceRecord(Protocol):
    """What a dead letter needs of a consumed record: an aiokafka ``ConsumerRecord``, a Faust
    ``Message`` or a record the hub fetched itself all have it."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Any: ...


def record_dead_letter(
    record: SourceRecord,
    *,
    kind: DeadLetterKind,
    reason: str,
    component: str,
    error_type: str,
) -> DeadLetter:
    """A ``DeadLetter`` for one consumed record, with its topic, partition and offset."""
    return make_dead_letter(
        kind=kind,
        reason=reason,
        error_type=error_type,
        component=component,
        payload=record.value,
        key=record.key,
        headers=record.headers or None,
        source_topic=record.topic,
        source_partition=record.partition,
        source_offset=record.offset,
    )


def processing_failure(record: SourceRecord, error: Exception, *, component: str) -> DeadLetter:
    """The dead letter of a valid record whose processing raised ``error``: a defect to fix.

    Kind ``processing_failed`` with the exception type, so an operator can find every record a
    defect hit and replay them (``tilik dlq replay --kind processing_failed``) once it is fixed.
    """
    return record_dead_letter(
        record,
        kind=DeadLetterKind.PROCESSING_FAILED,
        reason=f"{component} failed to process the record: {describe_error(error)}",
        component=component,
        error_type=type(error).__name__,
    )


def describe_error(error: Exception) -> str:
    """``Type: message``, for a pydantic error its locations and messages only (no input values)."""
    if isinstance(error, ValidationError):
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or '(value)'}: {e['msg']}"
            for e in error.errors(include_input=False, include_url=False)[:10]
        ]
        return f"ValidationError: {error.title}: " + "; ".join(problems)
    message = str(error).strip().splitlines()
    return type(error).__name__ + (f": {message[0]}" if message else "")

"""Building dead letters from raw input: payload as UTF-8 or base64, capped, reason and headers scrubbed.

Every component that refuses input (a consumer at a topic edge, a connector reading a device,
delivery giving up) builds its ``DeadLetter`` here, so the dead-letter topic has one shape.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Literal

from tilik.redact import REDACTED, is_secret_key, redact_text
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


def scrub_headers(headers: RawHeaders | None) -> dict[str, str]:
    """Headers as text, secret-named ones replaced, long ones clipped to the model's limits."""
    if not headers:
        return {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    scrubbed: dict[str, str] = {}
    for name, value in items:
        key = _clip(name, _SHORT_TEXT)
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

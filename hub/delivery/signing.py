"""Webhook signatures: HMAC-SHA256 over ``"<timestamp>.<body>"``, sent as ``sha256=<hex>``.

The timestamp is signed with the body, so a captured request cannot be replayed later with a new
timestamp; receivers refuse timestamps outside a tolerance window.
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Tilik-Timestamp"
SIGNATURE_HEADER = "X-Tilik-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SCHEME = "sha256="


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return SCHEME + digest


def signed_headers(
    secret: bytes, timestamp: int, body: bytes, idempotency_key: str
) -> dict[str, str]:
    stamp = str(timestamp)
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: signature(secret, stamp, body),
        IDEMPOTENCY_HEADER: idempotency_key,
    }


class SignatureRejected(ValueError):
    """Why a request's signature or timestamp is not acceptable."""


def verify(
    secret: bytes,
    timestamp: str | None,
    body: bytes,
    presented: str | None,
    *,
    now: float,
    tolerance_s: float = 300.0,
) -> None:
    """Raises ``SignatureRejected`` unless the signature matches and the timestamp is fresh."""
    if not timestamp or not presented:
        raise SignatureRejected("missing timestamp or signature header")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SignatureRejected("timestamp is not an integer") from None
    if abs(now - sent_at) > tolerance_s:
        raise SignatureRejected("timestamp outside the tolerance window")
    if not hmac.compare_digest(signature(secret, timestamp, body), presented):
        raise SignatureRejected("signature does not match")

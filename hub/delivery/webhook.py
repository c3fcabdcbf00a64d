"""Posting one dispatch to an agency's webhook, signed, retried with backoff until it lands or gives up.

Errors are classified once here (``DeliveryError`` with ``retriable``): a 4xx other than 408/429
means the receiver refuses this dispatch and retrying cannot help; anything else is worth retrying.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

import aiohttp
import structlog

from hub.delivery.policy import RetryPolicy
from hub.delivery.signing import signed_headers
from topics.models import Dispatch

log = structlog.get_logger(__name__)

RETRIABLE_STATUS = {408, 425, 429}


class DeliveryError(Exception):
    def __init__(self, reason: str, *, retriable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retriable = retriable


@dataclass(frozen=True)
class DeliveryResult:
    attempts: int
    acknowledged: bool


@dataclass(frozen=True)
class WebhookTarget:
    agency: str
    url: str
    secret: bytes
    timeout_s: float


async def post_once(
    session: aiohttp.ClientSession, target: WebhookTarget, body: bytes, idempotency_key: str
) -> bool:
    """One signed POST; returns whether the receiver acknowledged (``{"ack": true}``)."""
    headers = signed_headers(target.secret, int(time.time()), body, idempotency_key)
    try:
        async with session.post(
            target.url,
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=target.timeout_s),
            allow_redirects=False,
        ) as response:
            text = await response.content.read(64 * 1024)
            if 200 <= response.status < 300:
                return _acknowledges(text)
            retriable = response.status >= 500 or response.status in RETRIABLE_STATUS
            raise DeliveryError(
                f"HTTP {response.status} from {target.agency} webhook", retriable=retriable
            )
    except TimeoutError:
        raise DeliveryError(
            f"no response from {target.agency} webhook within {target.timeout_s:g} s",
            retriable=True,
        ) from None
    except aiohttp.ClientError as exc:
        # The exception text may echo the URL; the type is enough to act on.
        raise DeliveryError(
            f"{target.agency} webhook unreachable ({type(exc).__name__})", retriable=True
        ) from None


def _acknowledges(text: bytes) -> bool:
    try:
        reply = json.loads(text) if text.strip() else None
    except ValueError:
        return False
    return isinstance(reply, dict) and reply.get("ack") is True


async def deliver(
    session: aiohttp.ClientSession,
    target: WebhookTarget,
    dispatch: Dispatch,
    policy: RetryPolicy,
) -> DeliveryResult:
    """Retries until delivered; raises the last ``DeliveryError`` (with ``attempts``) when it gives up."""
    body = dispatch.model_dump_json().encode("utf-8")
    attempt = 0
    while True:
        attempt += 1
        try:
            acknowledged = await post_once(session, target, body, dispatch.idempotency_key)
            return DeliveryResult(attempts=attempt, acknowledged=acknowledged)
        except DeliveryError as exc:
            log.warning(
                "webhook delivery failed",
                agency=target.agency,
                dispatch_id=dispatch.dispatch_id,
                attempt=attempt,
                reason=exc.reason,
            )
            if not exc.retriable or attempt >= policy.max_attempts:
                raise GaveUp(exc.reason, attempts=attempt) from None
            await asyncio.sleep(policy.delay_s(attempt))


class GaveUp(Exception):
    def __init__(self, reason: str, *, attempts: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attempts = attempts

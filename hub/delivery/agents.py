"""Webhook delivery agents: one per agency with a webhook, reading that agency's dispatch topic.

The dispatch topic stays the record: the webhook is a second path fed from it, at-least-once, so a
receiver drops repeats by ``Idempotency-Key``. A dispatch that exhausts its retries becomes a
``delivery_failed`` dead letter (replayable with ``tilik dlq replay``). A 2xx answer is a delivery
receipt on the audit topic (``hub.delivery.receipt``); only an answer of ``{"ack": true}`` is
also the agency's ``AlertAck``, which stops escalation.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import aiohttp
import structlog

from connectors.sdk.secrets import resolve_secret
from hub.context import Hub, utcnow
from hub.delivery.policy import RetryPolicy
from hub.delivery.receipt import delivery_receipt
from hub.delivery.webhook import GaveUp, WebhookTarget, deliver
from hub.dispatching.agents import routing_of
from hub.isolation import RecordIsolation, catalog_payload
from topics.catalog import AUDIT, ack_spec, dispatch_spec
from topics.deadletters import make_dead_letter
from topics.models import AlertAck, DeadLetterKind, Dispatch

log = structlog.get_logger(__name__)
COMPONENT = "hub.delivery"


def webhook_targets(hub: Hub) -> list[WebhookTarget]:
    targets = []
    for agency in routing_of(hub).agencies.values():
        if agency.webhook is None:
            continue
        secret = resolve_secret(agency.webhook.secret_ref).get_secret_value().encode("utf-8")
        targets.append(
            WebhookTarget(
                agency=agency.id,
                url=agency.webhook.url,
                secret=secret,
                timeout_s=agency.webhook.timeout_s,
            )
        )
    return targets


def install(hub: Hub) -> None:
    policy = hub.config.webhook_policy
    for target in webhook_targets(hub):
        _install_agency(hub, target, policy)


def _install_agency(hub: Hub, target: WebhookTarget, policy: RetryPolicy) -> None:
    spec = dispatch_spec(target.agency)
    session: aiohttp.ClientSession | None = None
    isolation = RecordIsolation(hub.catalog, COMPONENT)
    dispatch_of = catalog_payload(spec, Dispatch)

    async def post(session: aiohttp.ClientSession, message: Any, dispatch: Dispatch) -> None:
        try:
            result = await deliver(session, target, dispatch, policy)
        except GaveUp as exc:
            await hub.catalog.dead_letter(
                make_dead_letter(
                    kind=DeadLetterKind.DELIVERY_FAILED,
                    reason=f"webhook delivery to {target.agency} failed after {exc.attempts} attempts: {exc.reason}",
                    error_type="DeliveryFailed",
                    component=COMPONENT,
                    payload=dispatch.model_dump_json(),
                    key=dispatch.idempotency_key,
                    source_topic=message.topic,
                    source_partition=message.partition,
                    source_offset=message.offset,
                    attempts=exc.attempts,
                )
            )
            return
        receipt = delivery_receipt(dispatch, attempts=result.attempts, at=utcnow())
        await hub.catalog.send(AUDIT, receipt)
        if result.acknowledged:
            ack = AlertAck(
                alert_id=dispatch.alert.alert_id,
                agency=target.agency,
                acked_at=utcnow(),
                acked_by="webhook",
            )
            await hub.catalog.send(ack_spec(target.agency), ack)

    @hub.app.agent(hub.catalog.topic(spec), name=f"hub.delivery.webhook.{target.agency}")
    async def post_dispatches(stream: Any) -> None:
        nonlocal session
        if session is None:
            session = aiohttp.ClientSession()
        async for event in stream.events():
            await isolation.handle(event, dispatch_of, partial(post, session, event.message))

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
import faust
import structlog

from core.secrets import resolve_secret
from hub.delivery.policy import RetryPolicy
from hub.delivery.receipt import delivery_receipt
from hub.delivery.webhook import GaveUp, WebhookTarget, deliver
from hub.edge import Edges
from hub.gaps import GapGuard, guarded
from hub.isolation import RecordIsolation, catalog_payload
from hub.routing import RoutingTable
from topics.catalog import AUDIT, ack_spec, dispatch_spec
from topics.deadletters import make_dead_letter
from topics.models import AlertAck, DeadLetterKind, Dispatch, utcnow

log = structlog.get_logger(__name__)
COMPONENT = "hub.delivery"


def webhook_targets(routing: RoutingTable) -> list[WebhookTarget]:
    targets = []
    for agency in routing.agencies.values():
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


class Delivery:
    """Webhook delivery of one worker: an agent per agency with a webhook."""

    def __init__(
        self,
        app: faust.App,
        edges: Edges,
        routing: RoutingTable,
        gaps: GapGuard,
        policy: RetryPolicy,
    ) -> None:
        self.agencies = [
            AgencyWebhook(app, edges, target, gaps, policy) for target in webhook_targets(routing)
        ]


class AgencyWebhook:
    """Posts each dispatch of one agency to its webhook."""

    def __init__(
        self,
        app: faust.App,
        edges: Edges,
        target: WebhookTarget,
        gaps: GapGuard,
        policy: RetryPolicy,
    ) -> None:
        self.edges = edges
        self.target = target
        self.gaps = gaps
        self.policy = policy
        self.spec = dispatch_spec(target.agency)
        self.dispatch_of = catalog_payload(self.spec, Dispatch)
        self.isolation = RecordIsolation(edges, COMPONENT)
        self.session: aiohttp.ClientSession | None = None
        name = f"hub.delivery.webhook.{target.agency}"
        self.agent = app.agent(edges.topic(self.spec), name=name)(self.post_dispatches)

    async def post_dispatches(self, stream: Any) -> None:
        """Agent: the agency's dispatches, each posted until it lands or gives up."""
        if self.session is None:
            self.session = aiohttp.ClientSession()
        async for event in guarded(stream.events(), self.gaps):
            await self.isolation.handle(event, self.dispatch_of, partial(self.post, event.message))

    async def post(self, message: Any, dispatch: Dispatch) -> None:
        assert self.session is not None
        target = self.target
        try:
            result = await deliver(self.session, target, dispatch, self.policy)
        except GaveUp as exc:
            await self.edges.dead_letter(
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
        await self.edges.publish(
            AUDIT, delivery_receipt(dispatch, attempts=result.attempts, at=utcnow())
        )
        if result.acknowledged:
            ack = AlertAck(
                alert_id=dispatch.alert.alert_id,
                agency=target.agency,
                acked_at=utcnow(),
                acked_by="webhook",
            )
            await self.edges.publish(ack_spec(target.agency), ack)

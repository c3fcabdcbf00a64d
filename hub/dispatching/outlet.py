"""Where every alert the hub raises goes: the alerts topic, and in the same step its agencies.

Routing where the alert is raised keeps each event to one Faust hop: the agent that judged the
event publishes the alert, its dispatches and its escalation arming together, and counts the
event as processed only when all of them are delivered. The alerts topic stays the record that
`tilik alerts` and other readers follow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import faust
import structlog

from hub.dispatching.inbox import InboxMessage, Resolved, Routed
from hub.edge import Delivery, Edges
from hub.routing import RoutingTable, make_dispatch
from topics.catalog import ALERTS, dispatch_spec
from topics.models import Alert, AlertStatus, Dispatch, utcnow

log = structlog.get_logger(__name__)


class AlertOutlet:
    """Publishes alerts; with a routing table, routes each one to its agencies as well."""

    def __init__(
        self,
        edges: Edges,
        routing: RoutingTable | None = None,
        escalation_inbox: faust.TopicT | None = None,
    ) -> None:
        self.edges = edges
        self.routing = routing
        self.escalation_inbox = escalation_inbox

    async def publish(self, alert: Alert) -> list[Delivery]:
        """Send the alert and its dispatches; the returned futures complete on delivery."""
        deliveries = [await self.edges.publish(ALERTS, alert)]
        if self.routing is None:
            return deliveries
        now = utcnow()
        dispatches = [make_dispatch(alert, d, now) for d in self.routing.route(alert)]
        for dispatch in dispatches:
            deliveries.append(await self.dispatch(dispatch))
        if any(d.ack_deadline is not None for d in dispatches):
            # Every agency it went to, so that any of them may acknowledge it.
            deliveries.append(await self.to_inbox(alert.alert_id, Routed(arm=dispatches)))
        if alert.status == AlertStatus.RESOLVED:
            deliveries.append(await self.to_inbox(alert.alert_id, Resolved()))
        return deliveries

    async def publish_all(self, alerts: Iterable[Alert]) -> None:
        """Publish several alerts and wait until the broker has everything they imply."""
        deliveries: list[Delivery] = []
        for alert in alerts:
            deliveries += await self.publish(alert)
        if deliveries:
            await asyncio.gather(*deliveries)

    async def dispatch(self, dispatch: Dispatch) -> Delivery:
        delivery = await self.edges.publish(dispatch_spec(dispatch.agency), dispatch)
        log.debug(
            "dispatched",
            agency=dispatch.agency,
            alert_id=dispatch.alert.alert_id,
            status=dispatch.alert.status,
            escalation_level=dispatch.escalation_level,
        )
        return delivery

    async def to_inbox(self, alert_id: str, message: InboxMessage) -> Delivery:
        """A message for the escalation agent, in the partition of the alert's escalation state."""
        assert self.escalation_inbox is not None
        return await self.edges.post(self.escalation_inbox, alert_id, message)

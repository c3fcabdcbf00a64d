"""Routing and escalation agents: alerts to agency dispatch topics, acks stopping escalation timers.

Alerts, acknowledgements and timer wake-ups all reach the escalation table through one internal
topic keyed by alert id, so each alert's escalation state lives in exactly one partition.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import structlog

from hub.context import Hub, scan, utcnow
from hub.dispatching.escalation import Escalation, acknowledge, arm, escalate_due
from hub.edge import Refused, accept_as
from hub.gaps import GapGuard
from hub.routing import RoutingTable, load_routes, make_dispatch
from topics.catalog import ALERT_ACKS, ALERTS, dispatch_spec
from topics.models import Alert, AlertAck, AlertStatus, Dispatch

log = structlog.get_logger(__name__)
COMPONENT = "hub.dispatching"
BATCH_MAX = 500
BATCH_WITHIN_S = 0.01
STALL_CHECK_EVERY_S = 2.0
STALL_IDLE_S = 10.0


def install(hub: Hub) -> None:
    assert hub.config.routes_path is not None
    routing = load_routes(hub.config.routes_path)
    hub.extras["routing"] = routing
    app = hub.app
    partitions = ALERTS.partitions
    escalations = hub.table("escalations", partitions)
    escalation_inbox = hub.internal_topic("escalation-inbox", partitions)
    gaps = GapGuard(hub.config.bootstrap, hub.config.app_id)

    async def send_dispatch(dispatch: Dispatch) -> asyncio.Future[Any]:
        delivery = await hub.catalog.send(dispatch_spec(dispatch.agency), dispatch)
        log.debug(
            "dispatched",
            agency=dispatch.agency,
            alert_id=dispatch.alert.alert_id,
            status=dispatch.alert.status,
            escalation_level=dispatch.escalation_level,
        )
        return delivery

    @app.agent(hub.catalog.topic(ALERTS), name="hub.dispatching.route")
    async def route_alerts(stream: Any) -> None:
        # A batch's dispatches are delivered before its alerts count as processed.
        async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
            deliveries: list[asyncio.Future[Any]] = []
            for event in events:
                for skipped in await gaps.missed(event):
                    deliveries += await route(skipped)
                deliveries += await route(event)
            await asyncio.gather(*deliveries)

    @app.timer(STALL_CHECK_EVERY_S, name="hub.dispatching.stall-check")
    async def recover_stalled_alerts() -> None:
        stalled = await gaps.stalled(GapGuard.assigned(app, ALERTS.name), STALL_IDLE_S)
        deliveries: list[asyncio.Future[Any]] = []
        for event in stalled:
            deliveries += await route(event)
        await asyncio.gather(*deliveries)

    async def route(event: Any) -> list[asyncio.Future[Any]]:
        try:
            alert = await accept_as(hub.catalog, ALERTS, Alert, event, component=COMPONENT)
        except Refused:
            return []
        now = utcnow()
        deliveries = []
        for decision in routing.route(alert):
            dispatch = make_dispatch(alert, decision, now)
            deliveries.append(await send_dispatch(dispatch))
            if dispatch.ack_deadline is not None:
                deliveries.append(
                    await _to_inbox(alert.alert_id, {"arm": dispatch.model_dump(mode="json")})
                )
        if alert.status == AlertStatus.RESOLVED:
            deliveries.append(await _to_inbox(alert.alert_id, {"resolved": True}))
        return deliveries

    async def _to_inbox(alert_id: str, message: dict[str, Any]) -> asyncio.Future[Any]:
        return asyncio.ensure_future(await escalation_inbox.send(key=alert_id, value=message))

    @app.agent(hub.catalog.topic(ALERT_ACKS), name="hub.dispatching.acks")
    async def forward_acks(stream: Any) -> None:
        async for event in stream.events():
            try:
                ack = await accept_as(hub.catalog, ALERT_ACKS, AlertAck, event, component=COMPONENT)
            except Refused:
                continue
            await _to_inbox(ack.alert_id, {"ack": ack.agency})

    @app.agent(escalation_inbox, name="hub.dispatching.escalate")
    async def escalate(stream: Any) -> None:
        async for event in stream.events():
            alert_id = str(event.key)
            message = event.value
            stored = escalations.get(alert_id)
            current = Escalation.model_validate(stored) if stored is not None else None
            if "arm" in message:
                updated = arm(current, Dispatch.model_validate(message["arm"]))
            elif "ack" in message:
                updated = acknowledge(current, alert_id, str(message["ack"]))
                log.info(
                    "escalation stopped by acknowledgement",
                    alert_id=alert_id,
                    agency=message["ack"],
                )
            elif "resolved" in message:
                if current is not None:
                    del escalations[alert_id]
                continue
            elif "due" in message and current is not None:
                updated, sent = escalate_due(
                    current, routing, datetime.fromisoformat(message["due"])
                )
                # The escalation state is stored next: its dispatches must be out first.
                await asyncio.gather(*[await send_dispatch(dispatch) for dispatch in sent])
            else:
                continue
            escalations[alert_id] = updated.model_dump(mode="json")

    @app.timer(hub.config.escalation_check_every_s, name="hub.dispatching.escalation-timer")
    async def find_due_escalations() -> None:
        now = utcnow()
        async for alert_id, stored in scan(list(escalations.items())):
            deadline = Escalation.model_validate(stored).next_deadline()
            if deadline is not None and deadline <= now:
                await escalation_inbox.send(key=alert_id, value={"due": now.isoformat()})


def routing_of(hub: Hub) -> RoutingTable:
    routing = hub.extras["routing"]
    assert isinstance(routing, RoutingTable)
    return routing

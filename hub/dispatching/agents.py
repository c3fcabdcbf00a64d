"""Escalation agents: acknowledgements stop escalation timers, due deadlines reach the next agency.

Alerts are routed where they are raised (``hub.dispatching.outlet``). Their arming, the
acknowledgements and timer wake-ups all reach the escalation table through one internal topic
keyed by alert id, so each alert's escalation state lives in exactly one partition.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from hub.context import Hub, due_entries, utcnow
from hub.dispatching import inbox
from hub.dispatching.escalation import (
    Escalation,
    NotDispatched,
    acknowledge,
    arm,
    escalate_due,
)
from hub.dispatching.inbox import Acknowledged, Due, RecordRef, Resolved, Routed
from hub.dispatching.outlet import AlertOutlet
from hub.due import RECHECK_CAP_S, DueIndex
from hub.gaps import guarded, watch_stalls
from hub.isolation import RecordIsolation, internal_json, message_headers
from hub.routing import RoutingTable, load_routes
from topics import codec
from topics.catalog import ALERTS, ack_spec, agency_of_ack_topic
from topics.deadletters import make_dead_letter
from topics.models import AlertAck

log = structlog.get_logger(__name__)
COMPONENT = "hub.dispatching"


def install(hub: Hub) -> AlertOutlet:
    assert hub.config.routes_path is not None
    routing = load_routes(hub.config.routes_path)
    hub.extras["routing"] = routing
    app = hub.app
    partitions = ALERTS.partitions
    escalations = hub.table("escalations", partitions)
    escalation_inbox = hub.internal_topic("escalation-inbox", partitions)
    inbox_name = escalation_inbox.get_topic_name()
    due = DueIndex()

    outlet = AlertOutlet(hub.catalog, routing, escalation_inbox)
    isolation = RecordIsolation(hub.catalog, COMPONENT)
    # Each agency acknowledges on its own topic, which only its principal may write: the topic,
    # not the payload, says who acknowledged.
    ack_specs = {spec.name: spec for spec in map(ack_spec, sorted(routing.agencies))}

    def ack_of(message: Any) -> Acknowledged:
        spec = ack_specs[message.topic]
        ack = codec.decode_as(spec, AlertAck, message.value, message_headers(message))
        sender = agency_of_ack_topic(spec.name)
        if sender is None or ack.agency != sender:
            raise codec.InvalidMessage(
                f"an acknowledgement on {spec.name} must name agency {sender!r}, not {ack.agency!r}"
            )
        source = RecordRef(topic=message.topic, partition=message.partition, offset=message.offset)
        return Acknowledged(ack=ack, source=source)

    async def forward_ack(acknowledged: Acknowledged) -> None:
        await outlet.to_inbox(acknowledged.ack.alert_id, acknowledged)

    async def on_ack_event(event: Any) -> None:
        await isolation.handle(event, ack_of, forward_ack)

    @app.agent(hub.catalog.topics(list(ack_specs.values())), name="hub.dispatching.acks")
    async def forward_acks(stream: Any) -> None:
        async for event in guarded(stream.events(), hub.gaps):
            await on_ack_event(event)

    async def refuse(acknowledged: Acknowledged, refusal: NotDispatched) -> None:
        source = acknowledged.source
        await hub.catalog.dead_letter(
            make_dead_letter(
                reason=str(refusal),
                error_type=type(refusal).__name__,
                component=COMPONENT,
                payload=acknowledged.ack.model_dump_json(),
                key=acknowledged.ack.alert_id,
                source_topic=source.topic,
                source_partition=source.partition,
                source_offset=source.offset,
            )
        )
        log.warning(
            "acknowledgement refused",
            alert_id=acknowledged.ack.alert_id,
            agency=acknowledged.ack.agency,
            topic=source.topic,
            offset=source.offset,
        )

    async def on_inbox_record(record: tuple[Any, Any]) -> None:
        key, value = record
        alert_id = str(key)
        message = inbox.read(value)
        stored = escalations.get(alert_id)
        current = Escalation.model_validate(stored) if stored is not None else None
        if isinstance(message, Routed):
            updated = arm(current, message.arm)
        elif isinstance(message, Acknowledged):
            if current is None:
                # Nothing escalates for this alert (no deadline, or it resolved): nothing to stop.
                log.info("acknowledgement of an alert without escalation", alert_id=alert_id)
                return
            try:
                updated = acknowledge(current, message.ack.agency)
            except NotDispatched as refusal:
                await refuse(message, refusal)
                return
            log.info(
                "escalation stopped by acknowledgement",
                alert_id=alert_id,
                agency=message.ack.agency,
            )
        elif isinstance(message, Resolved):
            if current is not None:
                del escalations[alert_id]
            return
        elif current is not None:
            updated, sent = escalate_due(current, routing, message.due)
            # The escalation state is stored next: its dispatches must be out first.
            await asyncio.gather(*[await outlet.dispatch(dispatch) for dispatch in sent])
        else:
            return
        escalations[alert_id] = updated.model_dump(mode="json")
        due.touch(alert_id)

    async def on_inbox_event(event: Any) -> None:
        await isolation.handle(event, internal_json, on_inbox_record)

    @app.agent(escalation_inbox, name="hub.dispatching.escalate")
    async def escalate(stream: Any) -> None:
        async for event in guarded(stream.events(), hub.gaps):
            await on_inbox_event(event)

    # One timer for every agency's acknowledgements: one end-offsets request, not one per agency.
    watch_stalls(
        app, hub.gaps, list(ack_specs), on_ack_event, name="hub.dispatching.acks-stall-check"
    )
    watch_stalls(
        app, hub.gaps, inbox_name, on_inbox_event, name=f"hub.dispatching.stall-check.{inbox_name}"
    )

    @app.timer(hub.config.escalation_check_every_s, name="hub.dispatching.escalation-timer")
    async def find_due_escalations() -> None:
        # Only escalations whose deadline may have passed are looked at (hub/due.py).
        now = utcnow()
        async for alert_id, version, stored in due_entries(due, escalations, now):
            deadline = Escalation.model_validate(stored).next_deadline()
            if deadline is not None and deadline <= now:
                await outlet.to_inbox(alert_id, Due(due=now))
                # The escalate agent's write touches it again; until then, not before next run.
                next_at = now.timestamp() + hub.config.escalation_check_every_s
            elif deadline is not None:
                next_at = min(deadline.timestamp(), now.timestamp() + RECHECK_CAP_S)
            else:
                next_at = now.timestamp() + RECHECK_CAP_S
            due.schedule(alert_id, next_at, version)

    return outlet


def routing_of(hub: Hub) -> RoutingTable:
    routing = hub.extras["routing"]
    assert isinstance(routing, RoutingTable)
    return routing

"""Escalation agents: acknowledgements stop escalation timers, due deadlines reach the next agency.

Alerts are routed where they are raised (``hub.dispatching.outlet``). Their arming, the
acknowledgements and timer wake-ups all reach the escalation table through one internal topic
keyed by alert id (``hub.dispatching.inbox``), so each alert's escalation state lives in exactly
one partition; what a message does to it is ``hub.dispatching.escalation.receive``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
import structlog

from hub.dispatching import inbox
from hub.dispatching.escalation import Escalation, NotDispatched, receive
from hub.dispatching.inbox import Acknowledged, Due, RecordRef
from hub.dispatching.outlet import AlertOutlet
from hub.due import RECHECK_CAP_S, DueIndex, due_entries
from hub.edge import Edges
from hub.gaps import GapGuard, guarded, watch_stalls
from hub.isolation import RecordIsolation, internal_json, message_headers
from hub.routing import RoutingTable
from topics import codec
from topics.catalog import ALERTS, ack_spec, agency_of_ack_topic
from topics.deadletters import make_dead_letter
from topics.models import AlertAck, utcnow

log = structlog.get_logger(__name__)
COMPONENT = "hub.dispatching"


class Dispatching:
    """Routing and escalation of one worker: the outlet every alert leaves by, the escalation
    table and inbox, the acknowledgement agent and the escalation timer."""

    def __init__(
        self,
        app: faust.App,
        edges: Edges,
        routing: RoutingTable,
        gaps: GapGuard,
        *,
        check_every_s: float,
    ) -> None:
        self.edges = edges
        self.routing = routing
        self.gaps = gaps
        self.check_every_s = check_every_s
        self.escalations = edges.table("escalations", ALERTS.partitions)
        self.inbox = edges.internal_topic("escalation-inbox", ALERTS.partitions)
        self.due = DueIndex()
        self.outlet = AlertOutlet(edges, routing, self.inbox)
        self.isolation = RecordIsolation(edges, COMPONENT)
        # Each agency acknowledges on its own topic, which only its principal may write: the
        # topic, not the payload, says who acknowledged.
        self.ack_specs = {spec.name: spec for spec in map(ack_spec, sorted(routing.agencies))}
        acks = edges.topics(self.ack_specs.values())
        self.acks_agent = app.agent(acks, name="hub.dispatching.acks")(self.forward_acks)
        self.escalate_agent = app.agent(self.inbox, name="hub.dispatching.escalate")(self.escalate)
        app.timer(check_every_s, name="hub.dispatching.escalation-timer")(self.find_due)
        # One timer for every agency's acknowledgements: one end-offsets request, not one each.
        watch_stalls(
            app, gaps, list(self.ack_specs), self.on_ack_event, "hub.dispatching.acks-stall-check"
        )
        name = self.inbox.get_topic_name()
        watch_stalls(app, gaps, name, self.on_inbox_event, f"hub.dispatching.stall-check.{name}")

    async def forward_acks(self, stream: Any) -> None:
        """Agent: each agency's acknowledgements, to the inbox of the alert they name."""
        async for event in guarded(stream.events(), self.gaps):
            await self.on_ack_event(event)

    async def on_ack_event(self, event: Any) -> None:
        await self.isolation.handle(event, self.ack_of, self.forward_ack)

    def ack_of(self, message: Any) -> Acknowledged:
        spec = self.ack_specs[message.topic]
        ack = codec.decode_as(spec, AlertAck, message.value, message_headers(message))
        sender = agency_of_ack_topic(spec.name)
        if sender is None or ack.agency != sender:
            raise codec.InvalidMessage(
                f"an acknowledgement on {spec.name} must name agency {sender!r}, not {ack.agency!r}"
            )
        source = RecordRef(topic=message.topic, partition=message.partition, offset=message.offset)
        return Acknowledged(ack=ack, source=source)

    async def forward_ack(self, acknowledged: Acknowledged) -> None:
        await self.outlet.to_inbox(acknowledged.ack.alert_id, acknowledged)

    async def escalate(self, stream: Any) -> None:
        """Agent: the inbox, applied to each alert's escalation state."""
        async for event in guarded(stream.events(), self.gaps):
            await self.on_inbox_event(event)

    async def on_inbox_event(self, event: Any) -> None:
        await self.isolation.handle(event, internal_json, self.on_inbox_record)

    async def on_inbox_record(self, record: tuple[Any, Any]) -> None:
        key, value = record
        alert_id = str(key)
        message = inbox.read(value)
        stored = self.escalations.get(alert_id)
        current = Escalation.model_validate(stored) if stored is not None else None
        outcome = receive(current, message, self.routing)
        if outcome.refused is not None:
            assert isinstance(message, Acknowledged)
            await self.refuse(message, outcome.refused)
        elif isinstance(message, Acknowledged) and outcome.changed:
            log.info(
                "escalation stopped by acknowledgement",
                alert_id=alert_id,
                agency=message.ack.agency,
            )
        if not outcome.changed:
            return
        # The escalation state is stored next: its dispatches must be out first.
        await asyncio.gather(*[await self.outlet.dispatch(d) for d in outcome.sent])
        if outcome.state is None:
            del self.escalations[alert_id]
        else:
            self.escalations[alert_id] = outcome.state.model_dump(mode="json")
            self.due.touch(alert_id)

    async def refuse(self, acknowledged: Acknowledged, refusal: NotDispatched) -> None:
        source = acknowledged.source
        await self.edges.dead_letter(
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

    async def find_due(self) -> None:
        """Timer: only escalations whose deadline may have passed are looked at (hub/due.py)."""
        now = utcnow()
        async for alert_id, version, stored in due_entries(self.due, self.escalations, now):
            deadline = Escalation.model_validate(stored).next_deadline()
            if deadline is not None and deadline <= now:
                await self.outlet.to_inbox(alert_id, Due(due=now))
                # The escalate agent's write touches it again; until then, not before next run.
                next_at = now.timestamp() + self.check_every_s
            elif deadline is not None:
                next_at = min(deadline.timestamp(), now.timestamp() + RECHECK_CAP_S)
            else:
                next_at = now.timestamp() + RECHECK_CAP_S
            self.due.schedule(alert_id, next_at, version)

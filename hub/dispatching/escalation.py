"""Escalation state of one alert, and the pure transitions on it.

Armed by the dispatches of an alert state when one of them carries an ``ack_deadline``; stopped by
an acknowledgement or by the alert resolving; when a deadline passes, the next step of the
route's chain receives the alert. Only an agency the alert was dispatched to may acknowledge it:
the state keeps every agency that received it (escalations included).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from hub.dispatching.inbox import Acknowledged, InboxMessage, Resolved, Routed
from hub.routing import RoutingTable, make_dispatch
from topics.models import Dispatch


class Escalation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alert_id: str
    dispatched_to: list[str] = Field(
        default_factory=list, description="Every agency the alert was dispatched to, sorted."
    )
    acknowledged_by: str | None = None
    waiting: dict[str, Dispatch] = Field(
        default_factory=dict,
        description="Per agency, the dispatch whose acknowledgement is awaited.",
    )

    def next_deadline(self) -> datetime | None:
        deadlines = [d.ack_deadline for d in self.waiting.values() if d.ack_deadline is not None]
        return min(deadlines) if deadlines else None


class NotDispatched(ValueError):
    """An acknowledgement from an agency the alert was never dispatched to: refused."""

    def __init__(self, alert_id: str, agency: str) -> None:
        super().__init__(
            f"acknowledgement by {agency!r} refused: alert {alert_id} was not dispatched to it"
        )


def arm(current: Escalation | None, dispatches: Iterable[Dispatch]) -> Escalation:
    """Record where an alert state went; wait for acknowledgements that have a deadline."""
    sent = list(dispatches)
    state = current or Escalation(alert_id=sent[0].alert.alert_id)
    agencies = sorted({*state.dispatched_to, *(d.agency for d in sent)})
    waiting = dict(state.waiting)
    if state.acknowledged_by is None:
        for dispatch in sent:
            # A later state of the same alert keeps the first deadline: the clock started at open.
            if dispatch.ack_deadline is not None and dispatch.agency not in waiting:
                waiting[dispatch.agency] = dispatch
    return state.model_copy(update={"dispatched_to": agencies, "waiting": waiting})


def acknowledge(state: Escalation, agency: str) -> Escalation:
    """The agency took the alert on: escalation stops. Raises ``NotDispatched`` for any other."""
    if agency not in state.dispatched_to:
        raise NotDispatched(state.alert_id, agency)
    if state.acknowledged_by is not None:
        return state
    return state.model_copy(update={"acknowledged_by": agency, "waiting": {}})


def escalate_due(
    state: Escalation, routing: RoutingTable, now: datetime
) -> tuple[Escalation, list[Dispatch]]:
    """Dispatches for the next step of every chain whose deadline has passed."""
    if state.acknowledged_by is not None:
        return state, []
    waiting = dict(state.waiting)
    sent: list[Dispatch] = []
    for agency, dispatch in state.waiting.items():
        if dispatch.ack_deadline is None or dispatch.ack_deadline > now:
            continue
        del waiting[agency]
        step = routing.escalation_for(dispatch.route_id, dispatch.escalation_level + 1)
        if step is None:
            continue
        escalated = make_dispatch(dispatch.alert, step, now)
        sent.append(escalated)
        if escalated.ack_deadline is not None and step.agency not in waiting:
            waiting[step.agency] = escalated
    agencies = sorted({*state.dispatched_to, *(d.agency for d in sent)})
    return state.model_copy(update={"waiting": waiting, "dispatched_to": agencies}), sent


@dataclass(frozen=True)
class Outcome:
    """What one inbox message does to an alert's escalation: the state to keep (``None``: none
    any more), the dispatches of escalation to send first, and an acknowledgement refused."""

    state: Escalation | None
    sent: list[Dispatch] = field(default_factory=list)
    refused: NotDispatched | None = None
    changed: bool = True


def receive(current: Escalation | None, message: InboxMessage, routing: RoutingTable) -> Outcome:
    """One inbox message applied to the alert's escalation state."""
    unchanged = Outcome(current, changed=False)
    if isinstance(message, Routed):
        return Outcome(arm(current, message.arm))
    if isinstance(message, Resolved):
        return Outcome(None, changed=current is not None)
    if current is None:
        # An acknowledgement or a deadline of an alert without escalation (none was armed, or
        # it resolved): nothing to stop or send.
        return unchanged
    if isinstance(message, Acknowledged):
        try:
            return Outcome(acknowledge(current, message.ack.agency))
        except NotDispatched as refusal:
            return Outcome(current, refused=refusal, changed=False)
    updated, sent = escalate_due(current, routing, message.due)
    return Outcome(updated, sent)

"""Escalation state of one alert, and the pure transitions on it.

Armed by each dispatch that carries an ``ack_deadline``; stopped by an acknowledgement or by the
alert resolving; when a deadline passes, the next step of the route's chain receives the alert.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from hub.routing import RoutingTable, make_dispatch
from topics.models import Dispatch


class Escalation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alert_id: str
    acknowledged_by: str | None = None
    waiting: dict[str, Dispatch] = Field(
        default_factory=dict,
        description="Per agency, the dispatch whose acknowledgement is awaited.",
    )

    def next_deadline(self) -> datetime | None:
        deadlines = [d.ack_deadline for d in self.waiting.values() if d.ack_deadline is not None]
        return min(deadlines) if deadlines else None


def arm(current: Escalation | None, dispatch: Dispatch) -> Escalation:
    state = current or Escalation(alert_id=dispatch.alert.alert_id)
    if state.acknowledged_by is not None or dispatch.ack_deadline is None:
        return state
    # A later state of the same alert keeps the first deadline: the clock started when it opened.
    if dispatch.agency in state.waiting:
        return state
    return state.model_copy(update={"waiting": {**state.waiting, dispatch.agency: dispatch}})


def acknowledge(current: Escalation | None, alert_id: str, agency: str) -> Escalation:
    state = current or Escalation(alert_id=alert_id)
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
    return state.model_copy(update={"waiting": waiting}), sent

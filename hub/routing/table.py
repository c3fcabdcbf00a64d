"""The routing table: which agencies an alert goes to, the escalation chain, and the dispatch record.

Pure and deterministic: ``now`` is passed in, ids come from ``topics.identity``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.routing.model import SEVERITY_ORDER, AgencyConfig, Route, RoutesDocument
from topics.identity import dispatch_id, idempotency_key
from topics.models import Alert, AlertStatus, Dispatch

FALLBACK_ROUTE_ID = "fallback"


@dataclass(frozen=True)
class RouteDecision:
    """Send the alert to ``agency``; if unacknowledged after ``ack_timeout_s``, escalate to ``escalate_to``."""

    agency: str
    route_id: str
    escalation_level: int = 0
    ack_timeout_s: float | None = None
    escalate_to: str | None = None


class RoutingTable:
    """Routes alerts by category, severity and jurisdiction (the camera's kecamatan/kelurahan)."""

    def __init__(self, document: RoutesDocument) -> None:
        self.document = document
        self.agencies: dict[str, AgencyConfig] = {a.id: a for a in document.agencies}
        self._routes: dict[str, Route] = {r.id: r for r in document.routes}

    def route(self, alert: Alert) -> list[RouteDecision]:
        """One decision per agency (the first matching route for an agency wins), in file order."""
        decisions: list[RouteDecision] = []
        seen: set[str] = set()
        for route, reasons in self.explain(alert):
            if not reasons and route.agency not in seen:
                seen.add(route.agency)
                decision = self.escalation_for(route.id, 0)
                assert decision is not None
                decisions.append(decision)
        if not decisions and self.document.fallback_agency is not None:
            decisions.append(
                RouteDecision(agency=self.document.fallback_agency, route_id=FALLBACK_ROUTE_ID)
            )
        return decisions

    def explain(self, alert: Alert) -> list[tuple[Route, list[str]]]:
        """Every route with the reasons it does not take this alert (empty: it does)."""
        report: list[tuple[Route, list[str]]] = []
        for route in self.document.routes:
            reasons: list[str] = []
            if alert.category not in route.categories:
                reasons.append(
                    f"category {alert.category} is not one of {', '.join(route.categories)}"
                )
            if SEVERITY_ORDER[alert.severity] < SEVERITY_ORDER[route.min_severity]:
                reasons.append(f"severity {alert.severity} is below {route.min_severity}")
            reasons.extend(route.jurisdiction.outside(alert.location.area))
            report.append((route, reasons))
        return report

    def escalation_for(self, route_id: str, level: int) -> RouteDecision | None:
        """The decision at ``level`` of a route's chain (0: the route's own agency); None past its end."""
        route = self._routes.get(route_id)
        if route is None or level < 0 or level > len(route.escalation):
            return None
        agency = route.agency if level == 0 else route.escalation[level - 1].to
        step = route.escalation[level] if level < len(route.escalation) else None
        return RouteDecision(
            agency=agency,
            route_id=route.id,
            escalation_level=level,
            ack_timeout_s=None if step is None else step.after_s,
            escalate_to=None if step is None else step.to,
        )


def make_dispatch(alert: Alert, decision: RouteDecision, now: datetime) -> Dispatch:
    """The dispatch record for one alert state and one agency, with its idempotency key.

    A resolved alert needs no acknowledgement, so it carries no deadline.
    """
    deadline = None
    if decision.ack_timeout_s is not None and alert.status is not AlertStatus.RESOLVED:
        deadline = now + timedelta(seconds=decision.ack_timeout_s)
    return Dispatch(
        dispatch_id=dispatch_id(
            alert_id=alert.alert_id,
            agency=decision.agency,
            sequence=alert.sequence,
            escalation_level=decision.escalation_level,
        ),
        idempotency_key=idempotency_key(
            alert_id=alert.alert_id, agency=decision.agency, sequence=alert.sequence
        ),
        agency=decision.agency,
        route_id=decision.route_id,
        escalation_level=decision.escalation_level,
        alert=alert,
        routed_at=now,
        ack_deadline=deadline,
    )

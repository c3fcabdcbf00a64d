"""Routing as data: alert category and jurisdiction → agency, with escalation when nobody acknowledges.

How the hub uses it::

    from hub.routing import load_routes, make_dispatch

    routing = load_routes("config/routes.yaml")                 # RoutesError: FILE:LINE: what is wrong
    for decision in routing.route(alert):                       # RouteDecision, one per agency
        dispatch = make_dispatch(alert, decision, now)          # ids and idempotency key from identity
        publish(dispatch_topic_name(decision.agency), dispatch)

    # escalation: an unacknowledged dispatch past its ack_deadline
    nxt = routing.escalation_for(dispatch.route_id, dispatch.escalation_level + 1)
    if nxt is not None:
        publish(dispatch_topic_name(nxt.agency), make_dispatch(alert, nxt, now))

    routing.agencies["dlh"].webhook                             # WebhookSettings | None (secret_ref only)

Jurisdiction is the alert's ``location.area`` (kecamatan, kelurahan; compared without case).
An alert no route takes goes to ``fallback_agency`` (route id ``fallback``) if one is set; a
document without a fallback must route every category city-wide, so no alert reaches nobody.
"""

from hub.routing.loader import RoutesError, default_routes_text, load_default_routes, load_routes
from hub.routing.model import AgencyConfig, EscalationStep, Route, RoutesDocument, WebhookSettings
from hub.routing.table import FALLBACK_ROUTE_ID, RouteDecision, RoutingTable, make_dispatch

__all__ = [
    "FALLBACK_ROUTE_ID",
    "AgencyConfig",
    "EscalationStep",
    "Route",
    "RouteDecision",
    "RoutesDocument",
    "RoutesError",
    "RoutingTable",
    "WebhookSettings",
    "default_routes_text",
    "load_default_routes",
    "load_routes",
    "make_dispatch",
]

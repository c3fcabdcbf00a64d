"""The routes document: what a city writes in ``routes.yaml``, validated strictly (unknown keys are errors).

Agencies are declared once (id, name, optional webhook settings); each route sends alert
categories, optionally limited to a jurisdiction and a minimum severity, to one agency, with an
escalation chain for when nobody acknowledges.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.secrets import SecretRef
from hub.rules.area import AreaLimit
from topics.models import AgencyId, AlertCategory, Severity

Loc = tuple[str | int, ...]
RouteId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Seconds = Annotated[float, Field(gt=0, le=7 * 24 * 3600)]

SEVERITY_ORDER = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class ConfigModel(BaseModel):
    # A webhook's secret_ref may hold the secret itself by mistake: errors never repeat input.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class WebhookSettings(ConfigModel):
    """Where delivery posts an agency's alerts; the signing secret is a reference, never the value."""

    url: Annotated[str, Field(pattern=r"^https?://[^\s@/]+(/\S*)?$", max_length=2048)]
    secret_ref: SecretRef
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 10


class AgencyConfig(ConfigModel):
    id: AgencyId
    name: Annotated[str, Field(min_length=1, max_length=200)]
    webhook: WebhookSettings | None = None


class EscalationStep(ConfigModel):
    """If the previous agency has not acknowledged after ``after_s``, send to ``to``."""

    after_s: Seconds
    to: AgencyId


class Route(ConfigModel):
    id: RouteId
    description: Annotated[str, Field(max_length=1024)] | None = None
    categories: Annotated[list[AlertCategory], Field(min_length=1)]
    agency: AgencyId
    jurisdiction: AreaLimit = Field(default_factory=AreaLimit)
    min_severity: Severity = Severity.INFO
    escalation: list[EscalationStep] = Field(default_factory=list, max_length=5)


class RoutesDocument(ConfigModel):
    """A whole ``routes.yaml``."""

    version: Literal[1] = 1
    agencies: Annotated[list[AgencyConfig], Field(min_length=1, max_length=100)]
    routes: list[Route] = Field(default_factory=list, max_length=1000)
    fallback_agency: AgencyId | None = Field(
        default=None, description="Receives alerts no route matches, so none is lost."
    )


def references_resolve(doc: RoutesDocument) -> list[tuple[Loc, str]]:
    """Cross-reference checks: unique ids, known agencies, no escalation back to the same agency."""
    problems: list[tuple[Loc, str]] = []
    agencies: set[str] = set()
    for index, agency in enumerate(doc.agencies):
        if agency.id in agencies:
            problems.append((("agencies", index, "id"), f"duplicate agency id {agency.id!r}"))
        agencies.add(agency.id)

    def known(agency_id: str, loc: Loc) -> None:
        if agency_id not in agencies:
            problems.append((loc, f"unknown agency {agency_id!r} (not in agencies)"))

    route_ids: set[str] = set()
    for index, route in enumerate(doc.routes):
        if route.id in route_ids:
            problems.append((("routes", index, "id"), f"duplicate route id {route.id!r}"))
        route_ids.add(route.id)
        known(route.agency, ("routes", index, "agency"))
        chain = [route.agency]
        for step_index, step in enumerate(route.escalation):
            loc: Loc = ("routes", index, "escalation", step_index, "to")
            known(step.to, loc)
            if step.to in chain:
                problems.append((loc, f"escalation returns to {step.to!r}, already in the chain"))
            chain.append(step.to)
    if doc.fallback_agency is not None:
        known(doc.fallback_agency, ("fallback_agency",))
    return problems


def every_category_routed(doc: RoutesDocument) -> list[tuple[Loc, str]]:
    """Nothing is missed: without a fallback agency, each category needs a city-wide route."""
    if doc.fallback_agency is not None:
        return []
    citywide = {
        category
        for route in doc.routes
        if not route.jurisdiction.limited and route.min_severity is Severity.INFO
        for category in route.categories
    }
    missing = [category for category in AlertCategory if category not in citywide]
    if not missing:
        return []
    return [
        (
            ("routes",),
            f"no city-wide route for {', '.join(missing)} and no fallback_agency: "
            "such alerts would reach nobody",
        )
    ]

"""Routing: category and jurisdiction to agency, escalation chains, dispatch records."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.routing import (
    FALLBACK_ROUTE_ID,
    RouteDecision,
    load_default_routes,
    load_routes,
    make_dispatch,
)
from topics.identity import dispatch_id, idempotency_key
from topics.models import (
    AdminArea,
    Alert,
    AlertCategory,
    AlertStatus,
    Location,
    Severity,
)

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("Asia/Jakarta"))


def alert(
    category: AlertCategory,
    *,
    severity: Severity = Severity.WARNING,
    kecamatan: str | None = "Semarang Tengah",
    kelurahan: str | None = "Sekayu",
    status: AlertStatus = AlertStatus.OPENED,
    sequence: int = 0,
) -> Alert:
    return Alert(
        alert_id="alr-" + "0" * 23 + "1",
        rule_id="test",
        category=category,
        severity=severity,
        status=status,
        sequence=sequence,
        camera_id="cam-" + "a" * 20,
        location=Location(area=AdminArea(kecamatan=kecamatan, kelurahan=kelurahan)),
        title="Test",
        opened_at=T0,
        updated_at=T0,
        resolved_at=T0 if status is AlertStatus.RESOLVED else None,
    )


@pytest.mark.parametrize(
    ("category", "agency"),
    [
        (AlertCategory.CROWD, "satpol-pp"),
        (AlertCategory.ILLEGAL_PARKING, "dishub"),
        (AlertCategory.TRAFFIC, "dishub"),
        (AlertCategory.TAMPER, "polisi"),
        (AlertCategory.INTRUSION, "polisi"),
        (AlertCategory.LINE_CROSSING, "polisi"),
        (AlertCategory.FLOOD, "bpbd"),
        (AlertCategory.GARBAGE, "dlh"),
        (AlertCategory.MASK_COMPLIANCE, "dinkes"),
        (AlertCategory.CAMERA_OFFLINE, "diskominfo"),
        (AlertCategory.STORAGE_FAILURE, "diskominfo"),
    ],
)
def test_default_routes_send_each_category_to_its_agency(category, agency):
    decisions = load_default_routes().route(alert(category))
    assert [d.agency for d in decisions] == [agency]


def test_default_crowd_route_escalates_to_police_after_15_minutes():
    [decision] = load_default_routes().route(alert(AlertCategory.CROWD))
    assert decision == RouteDecision(
        agency="satpol-pp",
        route_id="crowd",
        escalation_level=0,
        ack_timeout_s=900,
        escalate_to="polisi",
    )


def test_jurisdiction_adds_an_agency_only_inside_it():
    routing = load_default_routes()
    coastal = alert(AlertCategory.FLOOD, severity=Severity.CRITICAL, kecamatan="Semarang Utara")
    assert [d.agency for d in routing.route(coastal)] == ["bpbd", "dishub"]
    inland = alert(AlertCategory.FLOOD, severity=Severity.CRITICAL, kecamatan="Tembalang")
    assert [d.agency for d in routing.route(inland)] == ["bpbd"]
    minor = alert(AlertCategory.FLOOD, severity=Severity.WARNING, kecamatan="Semarang Utara")
    assert [d.agency for d in routing.route(minor)] == ["bpbd"]


SPLIT = """
version: 1
agencies:
  - {id: satpol-pp, name: Satpol PP}
  - {id: satpol-pp-north, name: Satpol PP north}
  - {id: polisi, name: Polisi}
  - {id: diskominfo, name: Diskominfo}
fallback_agency: diskominfo
routes:
  - id: crowd-north
    categories: [crowd]
    agency: satpol-pp-north
    jurisdiction: {kecamatan: [Semarang Utara, genuk]}
  - id: crowd-kelurahan
    categories: [crowd]
    agency: satpol-pp
    jurisdiction: {kelurahan: [Sekayu]}
  - id: crowd-police
    categories: [crowd]
    agency: polisi
    min_severity: critical
  - id: crowd-police-again
    categories: [crowd]
    agency: polisi
"""


@pytest.mark.parametrize(
    ("kecamatan", "kelurahan", "severity", "agencies"),
    [
        ("Semarang Utara", "Kuningan", Severity.WARNING, ["satpol-pp-north", "polisi"]),
        ("GENUK", "Trimulyo", Severity.WARNING, ["satpol-pp-north", "polisi"]),
        ("Semarang Tengah", "Sekayu", Severity.WARNING, ["satpol-pp", "polisi"]),
        ("Semarang Tengah", "Pekunden", Severity.INFO, ["polisi"]),
        (None, None, Severity.CRITICAL, ["polisi"]),
    ],
)
def test_routing_by_kecamatan_and_kelurahan(kecamatan, kelurahan, severity, agencies):
    routing = load_routes(SPLIT)
    decisions = routing.route(
        alert(AlertCategory.CROWD, kecamatan=kecamatan, kelurahan=kelurahan, severity=severity)
    )
    assert [d.agency for d in decisions] == agencies


def test_one_decision_per_agency_first_route_wins():
    routing = load_routes(SPLIT)
    decisions = routing.route(
        alert(AlertCategory.CROWD, severity=Severity.CRITICAL, kelurahan="Pekunden")
    )
    assert [(d.agency, d.route_id) for d in decisions] == [("polisi", "crowd-police")]


def test_unrouted_alert_goes_to_the_fallback_agency():
    routing = load_routes(SPLIT)
    [decision] = routing.route(alert(AlertCategory.GARBAGE))
    assert decision.agency == "diskominfo" and decision.route_id == FALLBACK_ROUTE_ID


def test_explain_gives_reasons_per_route():
    routing = load_routes(SPLIT)
    report = dict(
        (route.id, reasons)
        for route, reasons in routing.explain(
            alert(AlertCategory.CROWD, kecamatan="Tugu", kelurahan="Tugurejo")
        )
    )
    assert report["crowd-north"] == ["kecamatan 'Tugu' is not one of Semarang Utara, genuk"]
    assert report["crowd-police"] == ["severity warning is below critical"]
    assert report["crowd-police-again"] == []


CHAIN = """
version: 1
agencies:
  - {id: satpol-pp, name: Satpol PP}
  - {id: polisi, name: Polisi}
  - {id: bpbd, name: BPBD}
fallback_agency: satpol-pp
routes:
  - id: flood
    categories: [flood]
    agency: bpbd
    escalation:
      - {after_s: 600, to: satpol-pp}
      - {after_s: 1200, to: polisi}
"""


def test_escalation_chain_step_by_step():
    routing = load_routes(CHAIN)
    assert routing.escalation_for("flood", 0) == RouteDecision("bpbd", "flood", 0, 600, "satpol-pp")
    assert routing.escalation_for("flood", 1) == RouteDecision(
        "satpol-pp", "flood", 1, 1200, "polisi"
    )
    assert routing.escalation_for("flood", 2) == RouteDecision("polisi", "flood", 2, None, None)
    assert routing.escalation_for("flood", 3) is None
    assert routing.escalation_for("no-such-route", 1) is None
    assert routing.escalation_for(FALLBACK_ROUTE_ID, 1) is None


def test_make_dispatch_ids_and_deadline():
    routing = load_routes(CHAIN)
    flood = alert(AlertCategory.FLOOD, sequence=2, status=AlertStatus.UPDATED)
    [decision] = routing.route(flood)
    now = T0 + timedelta(minutes=3)
    dispatch = make_dispatch(flood, decision, now)
    assert dispatch.agency == "bpbd" and dispatch.route_id == "flood"
    assert dispatch.escalation_level == 0
    assert dispatch.idempotency_key == idempotency_key(
        alert_id=flood.alert_id, agency="bpbd", sequence=2
    )
    assert dispatch.dispatch_id == dispatch_id(
        alert_id=flood.alert_id, agency="bpbd", sequence=2, escalation_level=0
    )
    assert dispatch.ack_deadline == now + timedelta(seconds=600)
    assert dispatch.routed_at == now and dispatch.alert == flood


def test_escalated_dispatch_is_a_different_record_with_its_own_deadline():
    routing = load_routes(CHAIN)
    flood = alert(AlertCategory.FLOOD)
    first = make_dispatch(flood, routing.escalation_for("flood", 0), T0)  # type: ignore[arg-type]
    second = make_dispatch(flood, routing.escalation_for("flood", 1), T0 + timedelta(seconds=600))  # type: ignore[arg-type]
    last = make_dispatch(flood, routing.escalation_for("flood", 2), T0 + timedelta(seconds=1800))  # type: ignore[arg-type]
    assert len({first.dispatch_id, second.dispatch_id, last.dispatch_id}) == 3
    assert (second.agency, second.escalation_level) == ("satpol-pp", 1)
    assert second.ack_deadline == T0 + timedelta(seconds=1800)
    assert last.ack_deadline is None  # end of the chain


def test_resolved_alert_needs_no_acknowledgement():
    routing = load_routes(CHAIN)
    resolved = alert(AlertCategory.FLOOD, status=AlertStatus.RESOLVED, sequence=3)
    [decision] = routing.route(resolved)
    assert make_dispatch(resolved, decision, T0).ack_deadline is None


def test_same_alert_state_gives_the_same_dispatch():
    routing = load_routes(CHAIN)
    flood = alert(AlertCategory.FLOOD)
    [decision] = routing.route(flood)
    assert make_dispatch(flood, decision, T0) == make_dispatch(flood, decision, T0)

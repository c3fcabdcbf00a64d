"""Sharing is enforced by the hub's rules: a ``registry_only`` camera's events raise no alert and
reach no agency, whoever owns the camera; its health still counts (docs/sharing.md)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.harness import RuleHarness
from hub.routing import load_default_routes
from hub.rules import RuleEngine, load_default_rules
from hub.rules.testing import camera, event, status
from topics.models import AlertCategory, CameraState, EventKind, OwnerKind, SharingLevel, SiteType

JKT = ZoneInfo("Asia/Jakarta")
NIGHT = datetime(2026, 11, 23, 23, 0, tzinfo=JKT)


def _dispatched_agencies(sharing: SharingLevel, owner_kind: OwnerKind) -> list[str]:
    """Three tampers of one camera (what a new user tried): the agencies they reach."""
    shop = camera(
        "TOKO-1", site_type=SiteType.SHOP, owner_kind=owner_kind, sharing=sharing, at=NIGHT
    )
    harness = RuleHarness(RuleEngine(load_default_rules()), [shop])
    routing = load_default_routes()
    agencies: list[str] = []
    for minute in (0, 10, 20):
        for alert in harness.feed(event(shop, EventKind.TAMPER, NIGHT + timedelta(minutes=minute))):
            agencies += [decision.agency for decision in routing.route(alert)]
    return agencies


@pytest.mark.parametrize("owner_kind", [OwnerKind.PRIVATE, OwnerKind.MUNICIPAL])
def test_a_registry_only_camera_raises_no_alert_and_no_dispatch(owner_kind):
    assert _dispatched_agencies(SharingLevel.REGISTRY_ONLY, owner_kind) == []


@pytest.mark.parametrize(
    "sharing", [SharingLevel.ALARM_LIVE, SharingLevel.LIVE, SharingLevel.PUBLIC]
)
def test_cameras_sharing_their_events_still_reach_the_police(sharing):
    assert "polisi" in _dispatched_agencies(sharing, OwnerKind.PRIVATE)


def test_a_registry_only_camera_still_gets_its_offline_alert():
    shop = camera("TOKO-2", sharing=SharingLevel.REGISTRY_ONLY, at=NIGHT)
    harness = RuleHarness(RuleEngine(load_default_rules()), [shop])
    harness.health(status(shop, CameraState.ONLINE, NIGHT))
    opened = harness.tick(NIGHT + timedelta(hours=2))
    assert [alert.category for alert in opened] == [AlertCategory.CAMERA_OFFLINE]


def test_explain_says_why_a_registry_only_camera_raises_nothing():
    shop = camera("TOKO-3", sharing=SharingLevel.REGISTRY_ONLY, at=NIGHT)
    engine = RuleEngine(load_default_rules())
    reasons = dict(
        (rule.id, why) for rule, why in engine.explain(event(shop, EventKind.TAMPER, NIGHT), shop)
    )
    assert any("registry_only" in why for why in reasons["camera-tamper"])

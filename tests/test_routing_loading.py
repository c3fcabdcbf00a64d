"""Loading routes.yaml: the defaults validate, and every mistake is reported with its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.routing import RoutesError, default_routes_text, load_default_routes, load_routes
from topics.models import Agency

REPO = Path(__file__).resolve().parent.parent

BASE = """\
version: 1
agencies:
  - id: satpol-pp
    name: Satpol PP
  - id: polisi
    name: Polisi
fallback_agency: polisi
routes:
  - id: crowd
    categories: [crowd]
    agency: satpol-pp
    escalation:
      - after_s: 900
        to: polisi
"""


def issues(text: str) -> list[str]:
    with pytest.raises(RoutesError) as caught:
        load_routes(text, source="routes.yaml")
    return [str(issue) for issue in caught.value.issues]


def test_default_routes_validate_and_name_every_default_agency():
    routing = load_default_routes()
    assert set(routing.agencies) == {agency.value for agency in Agency}


def test_repository_config_is_the_shipped_default():
    assert (REPO / "config" / "routes.yaml").read_text(encoding="utf-8") == default_routes_text()


def test_unknown_agency_in_a_route():
    assert issues(BASE.replace("agency: satpol-pp", "agency: damkar")) == [
        "routes.yaml:11: routes.0.agency: unknown agency 'damkar' (not in agencies)"
    ]


def test_unknown_escalation_target():
    assert issues(BASE.replace("to: polisi", "to: tni")) == [
        "routes.yaml:14: routes.0.escalation.0.to: unknown agency 'tni' (not in agencies)"
    ]


def test_escalation_back_to_an_agency_already_in_the_chain():
    text = BASE + "      - after_s: 600\n        to: satpol-pp\n"
    assert issues(text) == [
        "routes.yaml:16: routes.0.escalation.1.to: escalation returns to 'satpol-pp', already in the chain"
    ]


def test_duplicate_route_and_agency_ids():
    text = BASE.replace(
        "  - id: polisi\n    name: Polisi\n",
        "  - id: polisi\n    name: Polisi\n  - id: polisi\n    name: Again\n",
    )
    text += "  - id: crowd\n    categories: [tamper]\n    agency: polisi\n"
    assert issues(text) == [
        "routes.yaml:7: agencies.2.id: duplicate agency id 'polisi'",
        "routes.yaml:17: routes.1.id: duplicate route id 'crowd'",
    ]


def test_every_category_needs_a_route_without_a_fallback():
    [issue] = issues(BASE.replace("fallback_agency: polisi\n", ""))
    assert issue.startswith(
        "routes.yaml:8: routes: no city-wide route for traffic, illegal_parking"
    )
    assert "would reach nobody" in issue


def test_webhook_secret_must_be_a_reference_not_the_secret():
    text = BASE.replace(
        "    name: Polisi\n",
        "    name: Polisi\n    webhook:\n      url: https://polisi.example/hook\n      secret_ref: hunter2\n",
    )
    [issue] = issues(text)
    assert issue.startswith("routes.yaml:9: agencies.1.webhook.secret_ref: not a secret reference")
    assert "hunter2" not in issue


def test_webhook_url_without_credentials():
    text = BASE.replace(
        "    name: Polisi\n",
        "    name: Polisi\n    webhook:\n      url: https://user:pw@polisi.example/hook\n      secret_ref: env:POLISI_HOOK\n",
    )
    [issue] = issues(text)
    assert issue.startswith("routes.yaml:8: agencies.1.webhook.url:")


def test_webhook_settings_are_loaded():
    text = BASE.replace(
        "    name: Polisi\n",
        "    name: Polisi\n    webhook:\n      url: https://polisi.example/hook\n      secret_ref: env:POLISI_HOOK\n",
    )
    webhook = load_routes(text).agencies["polisi"].webhook
    assert webhook is not None and webhook.secret_ref == "env:POLISI_HOOK"


def test_unknown_category_and_key():
    text = BASE.replace("categories: [crowd]", "categories: [crowd, weather]\n    colour: red")
    found = issues(text)
    assert [issue.split(":")[1] for issue in found] == ["10", "11"]
    assert "routes.0.categories.1" in found[0] and "routes.0.colour" in found[1]

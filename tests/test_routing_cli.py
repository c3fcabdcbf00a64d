"""``tilik routes check|show|explain`` through the root command."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import jsonschema
import yaml
from click.testing import CliRunner

from tilik.cli import cli
from topics.models import Alert, AlertCategory, AlertStatus, Severity

REPO = Path(__file__).resolve().parent.parent
ROUTES = str(REPO / "config" / "routes.yaml")
NIGHT = datetime(2026, 11, 25, 23, 30, tzinfo=ZoneInfo("Asia/Jakarta"))


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_routes_check_default_file():
    result = run("routes", "check", ROUTES)
    assert result.exit_code == 0
    assert result.output == "OK: 11 routes, 7 agencies\n"


def test_routes_check_reports_file_and_line(tmp_path):
    bad = tmp_path / "routes.yaml"
    bad.write_text(
        "version: 1\nagencies:\n  - {id: dlh, name: DLH}\nfallback_agency: dlh\nroutes:\n"
        "  - id: g\n    categories: [garbage]\n    agency: dhl\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["routes", "check", str(bad)])
    assert result.exit_code == 1
    assert result.output == f"{bad}:8: routes.0.agency: unknown agency 'dhl' (not in agencies)\n"


def test_routes_show_and_explain(tmp_path):
    shown = run("routes", "show", ROUTES)
    assert "crowd" in shown.output and "polisi after 900s" in shown.output
    alert = Alert(
        alert_id="alr-" + "1" * 24,
        rule_id="flood-critical",
        category=AlertCategory.FLOOD,
        severity=Severity.CRITICAL,
        status=AlertStatus.OPENED,
        sequence=0,
        camera_id="cam-" + "2" * 20,
        title="Flooding",
        opened_at=NIGHT,
        updated_at=NIGHT,
    )
    (tmp_path / "alert.json").write_text(alert.model_dump_json(), encoding="utf-8")
    result = run("routes", "explain", ROUTES, "--alert", str(tmp_path / "alert.json"))
    assert "ROUTE  flood: bpbd" in result.output
    assert "no     flood-coastal-roads: kecamatan None is not one of" in result.output
    assert result.output.endswith("-> bpbd\n")


def test_routes_schema_accepts_the_default_file():
    schema = json.loads(run("routes", "schema").output)
    jsonschema.validate(yaml.safe_load(Path(ROUTES).read_text(encoding="utf-8")), schema)

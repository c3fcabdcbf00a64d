"""``tilik rules check|show|explain`` through the root command."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import jsonschema
import yaml
from click.testing import CliRunner

from hub.rules.testing import camera, event
from tilik.cli import cli
from topics.models import EventKind, SiteType

REPO = Path(__file__).resolve().parent.parent
RULES = str(REPO / "config" / "rules.yaml")
NIGHT = datetime(2026, 11, 25, 23, 30, tzinfo=ZoneInfo("Asia/Jakarta"))


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_rules_check_default_file():
    result = run("rules", "check", RULES)
    assert result.exit_code == 0
    assert result.output == "OK: 19 rules\n"


def test_rules_check_reports_file_and_line(tmp_path):
    bad = tmp_path / "rules.yaml"
    bad.write_text(
        "version: 1\nrules:\n  - id: x\n    kind: instant\n    category: tamper\n    title: T\n"
        "    events: [tamper]\n    severity: huge\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["rules", "check", str(bad)])
    assert result.exit_code == 1
    assert result.output.startswith(f"{bad}:8: rules.0.severity: Input should be")


def test_rules_show_lists_every_rule():
    result = run("rules", "show", RULES)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split()[:4] == ["ID", "KIND", "CATEGORY", "SEVERITY"]
    assert len(lines) == 20
    assert any(line.startswith("line-crossing-night") and "22:00-05:00" in line for line in lines)


def test_rules_explain_says_which_rules_match_and_why_not(tmp_path):
    cam = camera("X-1", site_type=SiteType.MARKET, at=NIGHT)
    evt = event(cam, EventKind.LINE_CROSSING, NIGHT)
    (tmp_path / "event.json").write_text(evt.model_dump_json(), encoding="utf-8")
    (tmp_path / "camera.json").write_text(cam.model_dump_json(), encoding="utf-8")
    result = run(
        "rules",
        "explain",
        RULES,
        "--event",
        str(tmp_path / "event.json"),
        "--camera",
        str(tmp_path / "camera.json"),
    )
    assert result.exit_code == 0
    assert "MATCH  line-crossing-night: any event" in result.output
    assert "no     camera-tamper: event kind line_crossing is not one of tamper" in result.output
    without_camera = run("rules", "explain", RULES, "--event", str(tmp_path / "event.json"))
    assert "no     line-crossing-night: camera is not in the registry" in without_camera.output


def test_rules_explain_rejects_a_bad_event_file(tmp_path):
    (tmp_path / "event.json").write_text("{}", encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["rules", "explain", RULES, "--event", str(tmp_path / "event.json")]
    )
    assert result.exit_code == 1
    assert "not a valid DeviceEvent" in result.output


def test_rules_schema_accepts_the_default_file():
    schema = json.loads(run("rules", "schema").output)
    jsonschema.validate(yaml.safe_load(Path(RULES).read_text(encoding="utf-8")), schema)

"""``tilik rules``: check a rules file, list its rules, explain which rules an event matches and why not."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, TypeVar

import click
from pydantic import BaseModel, ValidationError

from hub.rules.engine import RuleEngine
from hub.rules.loader import RulesError, load_rules
from hub.rules.model import (
    DwellRule,
    OfflineRule,
    Rule,
    RuleSet,
    ThresholdRule,
    WindowRule,
)
from hub.rules.yamldoc import ConfigError
from topics.models import CameraRecord, DeviceEvent

M = TypeVar("M", bound=BaseModel)

FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def fail_with(error: ConfigError) -> NoReturn:
    """Print every issue as ``FILE:LINE: what is wrong`` on stderr and exit 1."""
    for issue in error.issues:
        click.echo(str(issue), err=True)
    raise SystemExit(1)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    for line in [headers, *rows]:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )


def read_json_model(path: Path, model: type[M]) -> M:
    try:
        return model.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, ValidationError) as exc:
        raise click.ClickException(f"{path}: not a valid {model.__name__}: {exc}") from exc


def _load(path: Path) -> RuleSet:
    try:
        return load_rules(path)
    except RulesError as exc:
        fail_with(exc)


def describe_condition(rule: Rule) -> str:
    sign = {"above": ">=", "below": "<="}
    if isinstance(rule, ThresholdRule):
        text = f"{rule.measure} {sign[rule.direction]} {rule.threshold:g}"
        return text + (f" for {rule.for_s:g}s" if rule.for_s else "")
    if isinstance(rule, WindowRule):
        return (
            f"{rule.aggregate}({rule.measure})/{rule.window_s:g}s "
            f"{sign[rule.direction]} {rule.threshold:g}"
        )
    if isinstance(rule, DwellRule):
        return f"present > {rule.min_s:g}s"
    if isinstance(rule, OfflineRule):
        return f"silent > {rule.after_s:g}s"
    return "any event"


def describe_scope(rule: Rule) -> str:
    scope = rule.scope
    parts = [
        ",".join(values)
        for values in (scope.site_types, scope.kecamatan, scope.kelurahan, scope.owner_kinds)
        if values
    ]
    return "; ".join(parts) or "all cameras"


@click.group()
def rules() -> None:
    """Rules as data: events to alerts (see config/rules.yaml)."""


@rules.command("check")
@click.argument("path", type=FILE)
def check(path: Path) -> None:
    """Validate a rules file: prints OK or FILE:LINE: what is wrong (exit 1)."""
    ruleset = _load(path)
    click.echo(f"OK: {len(ruleset.rules)} rules")


@rules.command("show")
@click.argument("path", type=FILE)
def show(path: Path) -> None:
    """List the rules of a file as a table."""
    ruleset = _load(path)
    rows = [
        [
            rule.id + ("" if rule.enabled else " (disabled)"),
            rule.kind,
            rule.category,
            rule.severity,
            describe_condition(rule),
            describe_scope(rule),
            rule.schedule.describe() if rule.schedule.days or rule.schedule.times else "always",
        ]
        for rule in ruleset.rules
    ]
    print_table(["ID", "KIND", "CATEGORY", "SEVERITY", "CONDITION", "SCOPE", "SCHEDULE"], rows)


@rules.command("schema")
def schema() -> None:
    """Print the JSON Schema of a rules file (for editors and CI)."""
    click.echo(json.dumps(RuleSet.model_json_schema(), indent=2))


@rules.command("explain")
@click.argument("path", type=FILE)
@click.option("--event", "event_path", type=FILE, required=True, help="A DeviceEvent as JSON.")
@click.option("--camera", "camera_path", type=FILE, help="The camera's CameraRecord as JSON.")
def explain(path: Path, event_path: Path, camera_path: Path | None) -> None:
    """Which rules an event feeds, and why the others do not apply."""
    engine = RuleEngine(_load(path))
    event = read_json_model(event_path, DeviceEvent)
    camera = None if camera_path is None else read_json_model(camera_path, CameraRecord)
    for rule, reasons in engine.explain(event, camera):
        if reasons:
            click.echo(f"no     {rule.id}: {'; '.join(reasons)}")
        else:
            click.echo(f"MATCH  {rule.id}: {describe_condition(rule)}")

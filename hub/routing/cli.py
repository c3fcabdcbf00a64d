"""``tilik routes``: check a routes file, list its routes, explain where an alert would go."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hub.routing.loader import RoutesError, load_routes
from hub.routing.model import RoutesDocument
from hub.routing.table import RoutingTable
from hub.rules.cli import FILE, fail_with, print_table, read_json_model
from topics.models import Alert


def _load(path: Path) -> RoutingTable:
    try:
        return load_routes(path)
    except RoutesError as exc:
        fail_with(exc)


@click.group()
def routes() -> None:
    """Routing as data: alert category and jurisdiction to agency (see config/routes.yaml)."""


@routes.command("check")
@click.argument("path", type=FILE)
def check(path: Path) -> None:
    """Validate a routes file: prints OK or FILE:LINE: what is wrong (exit 1)."""
    table = _load(path)
    doc = table.document
    click.echo(f"OK: {len(doc.routes)} routes, {len(doc.agencies)} agencies")


@routes.command("show")
@click.argument("path", type=FILE)
def show(path: Path) -> None:
    """List the routes of a file as a table."""
    table = _load(path)
    rows = []
    for route in table.document.routes:
        area = route.jurisdiction
        chain = " -> ".join(f"{step.to} after {step.after_s:g}s" for step in route.escalation)
        rows.append(
            [
                route.id,
                ",".join(route.categories),
                route.agency,
                route.min_severity,
                "; ".join(",".join(v) for v in (area.kecamatan, area.kelurahan) if v)
                or "city-wide",
                chain or "-",
            ]
        )
    print_table(["ID", "CATEGORIES", "AGENCY", "MIN SEVERITY", "JURISDICTION", "ESCALATION"], rows)
    if table.document.fallback_agency:
        click.echo(f"unrouted alerts go to {table.document.fallback_agency}")


@routes.command("schema")
def schema() -> None:
    """Print the JSON Schema of a routes file (for editors and CI)."""
    click.echo(json.dumps(RoutesDocument.model_json_schema(), indent=2))


@routes.command("explain")
@click.argument("path", type=FILE)
@click.option("--alert", "alert_path", type=FILE, required=True, help="An Alert as JSON.")
def explain(path: Path, alert_path: Path) -> None:
    """Which agencies an alert goes to, and why the other routes do not take it."""
    table = _load(path)
    alert = read_json_model(alert_path, Alert)
    for route, reasons in table.explain(alert):
        status = (
            f"no     {route.id}: {'; '.join(reasons)}"
            if reasons
            else f"ROUTE  {route.id}: {route.agency}"
        )
        click.echo(status)
    agencies = [decision.agency for decision in table.route(alert)]
    click.echo(f"-> {', '.join(agencies) if agencies else 'nobody'}")

"""The ``tilik`` command line: one entry point, each area's commands living in that area's package."""

from __future__ import annotations

import sys

import click

from core import __version__
from core.lazy import LazyGroup

# Each area owns its commands; this table is the only place that names them all.
COMMANDS: dict[str, str] = {
    "kafka": "core.localkafka.cli:kafka",
    "topics": "topics.cli:topics",
    "produce": "topics.cli:produce",
    "tail": "topics.cli:tail",
    "access": "topics.access.cli:access",
    "discover": "connectors.cli:discover",
    "simulate": "connectors.cli:simulate",
    "connectors": "connectors.sdk.cli:connectors",
    "vault": "connectors.sdk.vaultcli:vault",
    "edge": "connectors.edge.cli:edge",
    "hub": "hub.cli:hub",
    "coverage": "hub.cli:coverage",
    "rules": "hub.rules.cli:rules",
    "routes": "hub.routing.cli:routes",
    "alerts": "hub.cli:alerts",
    "dlq": "hub.cli:dlq",
    "api": "api.cli:api",
    "keys": "api.cli:keys",
    "tenants": "api.cli:tenants",
    "demo": "tilik.demo:demo",
    "drill": "tilik.drill.cli:drill",
    "docs": "tilik.docs:docs",
}


@click.group(cls=LazyGroup, lazy_subcommands=COMMANDS)
@click.version_option(__version__, prog_name="tilik")
def cli() -> None:
    """Tilik: every camera in one registry and one event stream, every alert to its agency."""
    from core.logconfig import configure_logging

    configure_logging()


def main() -> None:
    from topics.connection import KafkaSetupError

    try:
        cli()
    except KafkaSetupError as exc:
        # Refused credentials, missing topics, unreachable brokers: one line, no traceback.
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)

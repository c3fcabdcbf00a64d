"""``tilik discover`` and ``tilik simulate``: one subcommand per connector, each owned by its connector package."""

from __future__ import annotations

import click

from core.lazy import LazyGroup

DISCOVER_COMMANDS: dict[str, str] = {
    "onvif": "connectors.onvif.cli:discover_onvif",
}

SIMULATE_COMMANDS: dict[str, str] = {
    "onvif": "connectors.onvif.simulator.cli:simulate_onvif",
    "hikvision": "connectors.private_vendors.hikvision.simulator:simulate_hikvision",
    "dahua": "connectors.private_vendors.dahua.simulator:simulate_dahua",
}


@click.group(cls=LazyGroup, lazy_subcommands=DISCOVER_COMMANDS)
def discover() -> None:
    """Find cameras and publish them to the registry."""


@click.group(cls=LazyGroup, lazy_subcommands=SIMULATE_COMMANDS)
def simulate() -> None:
    """Run simulated devices on loopback for tests, demos and benchmarks."""

"""``tilik discover`` and ``tilik simulate``: one subcommand per connector, each owned by its connector package."""

from __future__ import annotations

import importlib
from typing import Any

import click

from core.lazy import LazyGroup

DISCOVER_COMMANDS: dict[str, str] = {
    "onvif": "connectors.onvif.cli:discover_onvif",
}


@click.group(cls=LazyGroup, lazy_subcommands=DISCOVER_COMMANDS)
def discover() -> None:
    """Find cameras and publish them to the registry."""


class ConnectorSimulators(click.Group):
    """One subcommand per installed connector (entry-point group ``tilik.connectors``): the click
    command its class names in ``simulator``, imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from connectors.sdk.registry import available_connectors

        return sorted(available_connectors(load=False))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        from connectors.sdk.errors import ConfigurationError
        from connectors.sdk.registry import load_connector

        try:
            connector_cls = load_connector(cmd_name)
        except ConfigurationError as exc:
            raise click.UsageError(str(exc), ctx) from None
        return simulator_of(connector_cls, ctx)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows: list[tuple[str, str]] = []
        for name in self.list_commands(ctx):
            try:
                command = self.get_command(ctx, name)
            except click.UsageError as exc:
                rows.append((name, f"[unavailable: {exc.message}]"))
                continue
            if command is not None:
                rows.append((name, command.get_short_help_str(formatter.width - 6 - len(name))))
        with formatter.section("Connectors"):
            formatter.write_dl(rows)


def simulator_of(connector_cls: Any, ctx: click.Context | None = None) -> click.Command:
    """The simulator command a connector class names; a UsageError says what is missing."""
    target = getattr(connector_cls, "simulator", None)
    name = connector_cls.name
    if not target:
        raise click.UsageError(
            f'connector {name!r} names no simulator: set `simulator = "package.module:command"` '
            f"on {connector_cls.__name__} (see connectors.sdk.simulator.simulator_command)",
            ctx,
        )
    module_name, _, attribute = str(target).partition(":")
    try:
        command = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise click.UsageError(
            f"connector {name!r}: its simulator {target} cannot be loaded "
            f"({type(exc).__name__}: {exc})",
            ctx,
        ) from None
    if not isinstance(command, click.Command):
        raise click.UsageError(f"connector {name!r}: its simulator {target} is not a click command")
    return command


@click.group(cls=ConnectorSimulators)
def simulate() -> None:
    """Serve simulated devices of any installed connector on loopback (tests, demos, benchmarks).

    Each prints one host:port a line once its devices listen, and serves until interrupted.
    """

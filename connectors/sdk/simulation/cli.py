"""The ``tilik simulate <vendor>`` command of every vendor simulator: the SDK's simulator command
with the vendors' own switches (channels per device, injected faults)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click

from connectors.sdk.simulation.device import DeviceFleet, StreamingDevice
from connectors.sdk.simulation.faults import FAULT_NAMES, Faults
from connectors.sdk.simulator import simulator_command as sdk_simulator_command


def _faults(_ctx: click.Context, _param: click.Parameter, value: str) -> Faults:
    try:
        return Faults.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def simulator_command(
    name: str,
    fleet_class: type[DeviceFleet[StreamingDevice]],
    summary: str,
    *,
    options: Sequence[Callable[[Any], Any]] = (),
) -> click.Command:
    """A click command that runs ``fleet_class`` until stopped, printing one address a line;
    ``options`` are the vendor's own switches beyond channels and faults."""
    return sdk_simulator_command(
        name,
        fleet_class,
        help=summary,
        options=[
            *options,
            click.option(
                "--channels",
                type=click.IntRange(1, 256),
                default=1,
                show_default=True,
                help="Channels per device (more than one makes it a recorder).",
            ),
            click.option(
                "--faults",
                default="",
                callback=_faults,
                help=f"Comma-separated faults to inject: {', '.join(FAULT_NAMES)}.",
            ),
        ],
    )

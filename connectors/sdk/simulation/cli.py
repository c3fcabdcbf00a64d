"""The ``tilik simulate <vendor>`` command, built once for every vendor simulator."""

from __future__ import annotations

import asyncio
import contextlib

import click

from connectors.sdk.simulation.device import DeviceFleet, StreamingDevice
from connectors.sdk.simulation.faults import FAULT_NAMES, Faults


def simulator_command(
    name: str, fleet_class: type[DeviceFleet[StreamingDevice]], summary: str
) -> click.Command:
    """A click command that runs ``fleet_class`` until interrupted, printing one address a line."""

    @click.command(name=name, help=summary)
    @click.option("--devices", type=click.IntRange(1, 10_000), default=1, show_default=True)
    @click.option(
        "--channels",
        type=click.IntRange(1, 256),
        default=1,
        show_default=True,
        help="Channels per device (more than one makes it a recorder).",
    )
    @click.option("--username", default="admin", show_default=True)
    @click.option(
        "--password",
        envvar="TILIK_SIM_PASSWORD",
        default="tilik-sim",
        show_default=True,
        help="Also read from TILIK_SIM_PASSWORD.",
    )
    @click.option(
        "--event-rate",
        type=click.FloatRange(0, 10_000),
        default=1.0,
        show_default=True,
        help="Events per second per device stream.",
    )
    @click.option(
        "--faults",
        default="",
        help=f"Comma-separated faults to inject: {', '.join(FAULT_NAMES)}.",
    )
    @click.option("--seed", type=int, default=1, show_default=True, help="Selects serial numbers.")
    def command(
        devices: int,
        channels: int,
        username: str,
        password: str,
        event_rate: float,
        faults: str,
        seed: int,
    ) -> None:
        try:
            parsed = Faults.parse(faults)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--faults") from exc
        fleet = fleet_class(
            devices=devices,
            channels=channels,
            username=username,
            password=password,
            event_rate=event_rate,
            faults=parsed,
            seed=seed,
        )
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(fleet))

    return command


async def _serve(fleet: DeviceFleet[StreamingDevice]) -> None:
    async with fleet:
        for address in fleet.addresses:
            click.echo(address)
        await asyncio.Event().wait()

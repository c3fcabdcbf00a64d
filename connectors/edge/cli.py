"""``tilik edge run``: a tenant's edge agent at its site (``connectors.edge.agent``)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import click


@click.group()
def edge() -> None:
    """The edge agent: a business's cameras into the city, from behind its own router."""


@edge.command()
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The site file (docs/access.md, 'Edge agent').",
)
def run(config_path: Path) -> None:
    """Discover the site's devices, send its cameras, then watch them until stopped."""
    from connectors.edge.agent import EdgeAgent
    from connectors.edge.site import SiteFile, SiteFileError
    from connectors.sdk.registry import ConnectorNotFound

    try:
        site = SiteFile.load(config_path)
    except SiteFileError as exc:
        raise click.ClickException(str(exc)) from None
    agent = EdgeAgent(site, say=click.echo)
    click.echo(
        f"edge agent of tenant {site.tenant}, site {site.site}: "
        f"{len(site.devices)} device(s), writing tilik.tenant.{site.tenant}.*"
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await agent.run(stop)

    try:
        asyncio.run(main())
    except ConnectorNotFound as exc:
        raise click.ClickException(str(exc)) from None

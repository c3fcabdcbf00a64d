"""``tilik simulate onvif``: serve a fleet of simulated ONVIF cameras on loopback until stopped."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from connectors.onvif.simulator.device import MediaServices
from connectors.onvif.simulator.faults import FaultPlan
from connectors.onvif.simulator.fleet import OnvifFleet
from connectors.sdk.simulator import password_option, serve_until_stopped


def _fault_plan(_ctx: click.Context, _param: click.Parameter, value: str) -> FaultPlan:
    try:
        return FaultPlan.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _announce_discovery(fleet: OnvifFleet) -> None:
    if fleet.discovery is not None:
        host, port = fleet.discovery.address
        click.echo(f"ws-discovery on udp {host}:{port}", err=True)


@click.command("onvif")
@click.option("--cameras", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--username", default="admin", show_default=True)
@password_option
@click.option(
    "--event-rate",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Events per second per camera while subscribed.",
)
@click.option(
    "--faults",
    default="",
    callback=_fault_plan,
    help=(
        "e.g. slow=0.05,malformed=0.01,unauthorized=0.01,reboot=0.001,xxe=0.01,"
        "huge_header=0.01,clock_offset=3600,clock_year=99999"
    ),
)
@click.option("--base-port", type=click.IntRange(0, 65535), default=0, help="0 picks free ports.")
@click.option(
    "--addresses",
    is_flag=True,
    help="One 127.100.x.y address per camera on a common port instead of one port each.",
)
@click.option(
    "--discovery-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Answer WS-Discovery Probes on this loopback UDP port (0 picks one).",
)
@click.option(
    "--discovery-multicast",
    is_flag=True,
    help="Also answer Probes sent to 239.255.255.250 over loopback (port defaults to 3702).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--media",
    type=click.Choice(["media", "media2", "both"]),
    default="media",
    show_default=True,
    help="Media services offered: Media (ver10), Media2 (ver20, Profile T; H.265 models that "
    "have only it), or both.",
)
@click.option(
    "--variants",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Replay the NotificationMessages of this directory's *.xml files (vendor variants, "
    "e.g. tests/fixtures/onvif/events) instead of drawing events.",
)
@click.option(
    "--video-sources",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Video sources per device: more than one makes each an encoder of that many channels.",
)
def simulate_onvif(
    cameras: int,
    username: str,
    password: str,
    event_rate: float,
    faults: FaultPlan,
    base_port: int,
    addresses: bool,
    discovery_port: int | None,
    discovery_multicast: bool,
    seed: int,
    media: MediaServices,
    variants: Path | None,
    video_sources: int,
) -> None:
    """Serve simulated ONVIF cameras; prints one host:port per camera once all are listening."""
    fleet = OnvifFleet(
        cameras,
        username=username,
        password=password,
        event_rate=event_rate,
        faults=faults,
        host_mode="addresses" if addresses else "ports",
        base_port=base_port,
        seed=seed,
        discovery_port=0 if discovery_multicast and discovery_port is None else discovery_port,
        discovery_multicast=discovery_multicast,
        variants=variants,
        media=media,
        video_sources=video_sources,
    )
    asyncio.run(serve_until_stopped(fleet, announce=lambda: _announce_discovery(fleet)))

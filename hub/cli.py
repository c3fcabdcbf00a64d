"""Operator commands of the hub: ``tilik hub worker``, ``tilik coverage``, ``tilik alerts``, ``tilik dlq``."""

from __future__ import annotations

from pathlib import Path

import click

from tilik.settings import get_settings


@click.group()
def hub() -> None:
    """Run and inspect the hub (health, rules, routing, delivery)."""


@hub.command()
@click.option("--bootstrap", default=None, help="Kafka bootstrap (default: TILIK_BOOTSTRAP).")
@click.option("--app-id", default="tilik-hub", show_default=True, help="Workers sharing it share the work.")
@click.option("--web-port", type=int, default=6066, show_default=True, help="HTTP port (/coverage).")
@click.option("--web-host", default="127.0.0.1", show_default=True)
@click.option("--rules", "rules_path", type=click.Path(exists=True, path_type=Path), default=None)
@click.option("--routes", "routes_path", type=click.Path(exists=True, path_type=Path), default=None)
@click.option("--offline-after", type=float, default=300.0, show_default=True, help="Seconds of silence before a camera is offline.")
@click.option("--health-check-every", type=float, default=10.0, show_default=True)
@click.option("--tick-every", type=float, default=5.0, show_default=True, help="Rule timers (windows, dwell, expiry).")
@click.option("--escalation-check-every", type=float, default=5.0, show_default=True)
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
@click.option("--loglevel", default="info", show_default=True)
def worker(
    bootstrap: str | None,
    app_id: str,
    web_port: int,
    web_host: str,
    rules_path: Path | None,
    routes_path: Path | None,
    offline_after: float,
    health_check_every: float,
    tick_every: float,
    escalation_check_every: float,
    data_dir: Path | None,
    loglevel: str,
) -> None:
    """Run one hub worker; start more with the same --app-id to share the load."""
    from hub.config import HubConfig
    from hub.worker import agencies_of, run_worker

    settings = get_settings()
    config = HubConfig(
        bootstrap=bootstrap or settings.bootstrap,
        app_id=app_id,
        web_port=web_port,
        web_host=web_host,
        rules_path=rules_path,
        routes_path=routes_path,
        offline_after_s=offline_after,
        health_check_every_s=health_check_every,
        rules_tick_every_s=tick_every,
        escalation_check_every_s=escalation_check_every,
        data_dir=data_dir or settings.state_dir / "hub" / app_id,
        replication_factor=settings.replication_factor,
    )
    run_worker(config, agencies_of(config), loglevel=loglevel)

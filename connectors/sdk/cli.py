"""``tilik connectors``: list installed connectors, onboard and remove devices, run the watch
service, and generate a new connector package."""

from __future__ import annotations

import asyncio
import getpass
import json
import re
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import structlog
import yaml

from connectors.sdk.errors import ConfigurationError
from connectors.sdk.onboard import VERIFY_S, OnboardOptions
from connectors.sdk.runtime import RuntimeOptions
from core.cliopts import field_option

log = structlog.get_logger(__name__)

#: what Kafka accepts as a group instance id (``--instance-id``)
INSTANCE_ID = re.compile(r"[A-Za-z0-9._-]{1,249}")


def instance_id_checked(value: str | None) -> str | None:
    if value is not None and not INSTANCE_ID.fullmatch(value):
        raise click.BadParameter("letters, digits, '.', '_' and '-' only, at most 249 of them")
    return value


@click.group()
def connectors() -> None:
    """Connector plugins: list, describe, onboard, remove, run, new."""


@connectors.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per connector.")
def list_connectors(as_json: bool) -> None:
    """Built-in and installed connectors with their versions; broken plugins show their error."""
    from connectors.sdk.registry import available_connectors

    infos = available_connectors()
    if as_json:
        click.echo(json.dumps([info.as_dict() for info in infos.values()], indent=2))
        return
    for info in infos.values():
        row = info.as_dict()
        status = "ok" if info.loaded else f"error: {info.error}"
        click.echo(f"{info.name:<16} {row['version'] or '-':<10} {row['source']:<28} {status}")


def _load(name: str) -> Any:
    from connectors.sdk.registry import load_connector

    try:
        return load_connector(name)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None


def _read_configs(path: Path) -> list[dict[str, Any]]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from None
    if isinstance(raw, dict) and isinstance(raw.get("devices"), list):
        raw = raw["devices"]
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise click.ClickException(
            f"{path} must hold a YAML list of device configs (or a mapping with `devices:`)"
        )
    return raw


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def onboarding_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every onboarding command shares (``connectors onboard``, ``discover onvif``)."""
    options = [
        click.option(
            "--actor",
            default=None,
            help="Who onboards, for the audit topic (default: the OS user).",
        ),
        click.option(
            "--readmit",
            is_flag=True,
            help="Register cameras that were removed (default: withhold them and say so).",
        ),
        click.option(
            "--verify-timeout",
            "verify_s",
            default=VERIFY_S,
            show_default=True,
            type=click.FloatRange(min=0),
            help="Seconds to wait for the watching runtime to confirm it can watch the cameras "
            "published (its credential references resolve there); 0: do not ask.",
        ),
        click.option(
            "--watch-group",
            default=None,
            help="Consumer group of the watching runtimes (default: tilik-connector-NAME).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def actor_or_os_user(actor: str | None) -> str:
    return actor or _os_user()


@connectors.command()
@click.argument("name")
def describe(name: str) -> None:
    """Every config field of connector NAME: type, default, limits, meaning (Markdown)."""
    from connectors.sdk.describe import describe_connector

    click.echo(describe_connector(_load(name)), nl=False)


@connectors.command()
@click.argument("name")
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="YAML list of device configs (credentials as credential_ref, never passwords).",
)
@click.option(
    "--concurrency",
    default=OnboardOptions.concurrency,
    show_default=True,
    type=click.IntRange(1, 256),
)
@click.option("--bootstrap", default=None, help="Kafka bootstrap (default: TILIK_BOOTSTRAP).")
@onboarding_options
def onboard(
    name: str,
    config_path: Path,
    concurrency: int,
    bootstrap: str | None,
    actor: str | None,
    readmit: bool,
    verify_s: float,
    watch_group: str | None,
) -> None:
    """Check and discover every device in the config file and register its cameras.

    Cameras the registry knows keep their owner, name, location, site type and sharing unless a
    device's `cameras:` entries name them; removed cameras are withheld unless --readmit.
    """
    from connectors.sdk.onboard import onboard as run_onboard
    from topics.client import CatalogProducer

    connector_cls = _load(name)
    configs = _read_configs(config_path)
    options = OnboardOptions(
        concurrency=concurrency,
        actor=actor_or_os_user(actor),
        readmit=readmit,
        verify_s=verify_s,
        watch_group=watch_group,
    )

    async def main() -> dict[str, Any]:
        async with CatalogProducer(bootstrap, client_id=f"tilik-onboard-{name}") as producer:
            summary = await run_onboard(
                connector_cls, configs, producer=producer, options=options, bootstrap=bootstrap
            )
        return summary.as_dict()

    result = asyncio.run(main())
    click.echo(json.dumps(result, indent=2))
    if not result["ok"]:
        sys.exit(1)


@connectors.command()
@click.option("--camera", "cameras", multiple=True, help="Camera id to remove (repeatable).")
@click.option(
    "--device", "devices", multiple=True, help="Device id: every camera of it (repeatable)."
)
@click.option(
    "--address",
    "addresses",
    multiple=True,
    help="host:port: every camera registered at it (repeatable; with --connector, only its).",
)
@click.option("--connector", "connector_name", default=None, help="Only this connector's cameras.")
@click.option("--reason", default=None, help="Why, for the audit topic and the removal record.")
@click.option(
    "--actor", default=None, help="Who removes, for the audit topic (default: the OS user)."
)
@click.option("--bootstrap", default=None, help="Kafka bootstrap (default: TILIK_BOOTSTRAP).")
def remove(
    cameras: tuple[str, ...],
    devices: tuple[str, ...],
    addresses: tuple[str, ...],
    connector_name: str | None,
    reason: str | None,
    actor: str | None,
    bootstrap: str | None,
) -> None:
    """Remove cameras from the registry: tombstones, an audit record each, and a removal record
    that keeps later scans and onboardings from registering them again (until --readmit)."""
    from connectors.sdk.removal import remove as run_remove
    from topics.client import CatalogProducer

    if not (cameras or devices or addresses):
        raise click.UsageError("name what to remove: --camera, --device or --address")

    async def main() -> dict[str, Any]:
        async with CatalogProducer(bootstrap, client_id="tilik-remove") as producer:
            summary = await run_remove(
                producer,
                actor=actor_or_os_user(actor),
                cameras=cameras,
                devices=devices,
                addresses=addresses,
                connector=connector_name,
                reason=reason,
                bootstrap=bootstrap,
            )
        return summary.as_dict()

    try:
        result = asyncio.run(main())
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(result, indent=2))
    if not result["ok"]:
        sys.exit(1)


@connectors.command("upgrade-registry")
@click.option("--bootstrap", default=None, help="Kafka bootstrap (default: TILIK_BOOTSTRAP).")
def upgrade_registry(bootstrap: str | None) -> None:
    """Copy the cameras of the v1 registry topic that the v2 topic does not hold yet."""
    from connectors.sdk.upgrade import upgrade_registry as run_upgrade
    from topics.client import CatalogProducer

    async def main() -> int:
        async with CatalogProducer(bootstrap, client_id="tilik-registry-upgrade") as producer:
            return await run_upgrade(producer, bootstrap=bootstrap)

    copied = asyncio.run(main())
    click.echo(f"{copied} cameras copied to the v2 registry")


@connectors.command()
@click.argument("name")
@click.option("--group", default=None, help="Consumer group (default: tilik-connector-NAME).")
@field_option(
    RuntimeOptions,
    "health_interval_s",
    "--health-interval",
    type=click.FloatRange(0.1),
    help="Seconds between health rounds over every watched device.",
)
@field_option(
    RuntimeOptions,
    "concurrency",
    "--concurrency",
    type=click.IntRange(1, 1024),
    help="Devices health-checked at once.",
)
@field_option(
    RuntimeOptions,
    "max_in_flight_events",
    "--max-in-flight",
    type=click.IntRange(1, 10_000),
    help="Unacknowledged event sends per device (1: await each).",
)
@field_option(
    RuntimeOptions,
    "session_timeout_s",
    "--session-timeout",
    type=click.FloatRange(6, 1800),
    help=(
        "Seconds the registry's consumer group waits for this process's heartbeat before "
        "moving its cameras to the other processes."
    ),
)
@field_option(
    RuntimeOptions,
    "instance_id",
    "--instance-id",
    type=str,
    show_default=False,
    callback=lambda _ctx, _param, value: instance_id_checked(value),
    help=(
        "A stable name for this process, unique in its group (Kafka static membership): "
        "restarted under it after a crash, the process takes its cameras back at once instead "
        "of after the session timeout."
    ),
)
@click.option(
    "--metrics-port",
    default=None,
    type=click.IntRange(0, 65535),
    help="Serve /metrics and /healthz on 127.0.0.1:PORT.",
)
@click.option("--bootstrap", default=None, help="Kafka bootstrap (default: TILIK_BOOTSTRAP).")
def run(
    name: str,
    group: str | None,
    health_interval: float,
    concurrency: int,
    max_in_flight: int,
    session_timeout: float,
    instance_id: str | None,
    metrics_port: int | None,
    bootstrap: str | None,
) -> None:
    """Watch this connector's devices on the registry partitions this process is assigned."""
    from connectors.sdk.metrics import serve_metrics
    from connectors.sdk.runtime import WatchService

    service = WatchService(
        _load(name),
        bootstrap=bootstrap,
        options=RuntimeOptions(
            group_id=group,
            health_interval_s=health_interval,
            concurrency=concurrency,
            max_in_flight_events=max_in_flight,
            session_timeout_s=session_timeout,
            instance_id=instance_id,
        ),
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if metrics_port is None:
            await service.run(stop)
            return
        async with serve_metrics(name, service.metrics, service.healthy, port=metrics_port) as port:
            log.info("metrics endpoint", url=f"http://127.0.0.1:{port}/metrics")
            await service.run(stop)

    asyncio.run(main())


@connectors.command()
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to create the package directory.",
)
def new(name: str, directory: Path) -> None:
    """Generate a connector package NAME that passes the conformance kit out of the box."""
    from connectors.sdk.scaffold import create_package

    try:
        root = create_package(name, directory)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {root}")
    click.echo(f"next: pip install -e {root} && pytest {root}/tests")

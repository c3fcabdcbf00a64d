"""``tilik demo``: a simulated city on the embedded default, with alerts arriving at the agencies.

It starts (or reuses) the local broker, applies the catalog and the access declaration, serves
simulated ONVIF cameras and a Hikvision NVR on loopback, onboards them with Semarang locations,
runs a hub worker and the connectors (each as its own principal: the broker allows each only what
docs/access.md says), feeds a simulated analytics engine, switches a few cameras off, and prints
every dispatch as an agency would receive it; with ``--map`` the command-center map runs beside it.
Everything it started is stopped at the end, when interrupted (Ctrl-C, SIGTERM) too.

A few thousand cameras fit on a laptop: the simulated cameras are served by several processes of
at most ``CAMERAS_PER_PROCESS`` each (every camera holds a listening socket and its connections,
and a process may open a limited number of files), watched by as many connector runtimes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, ParamSpec, TypeVar

import click
import yaml

from connectors.sdk.secrets import camera_secret_env
from core.settings import Settings, get_settings
from tilik.analytics_sim import AnalyticsEngine
from tilik.city import place_cameras
from tilik.demo_map import MapAccess, announce, operator_key, wait_answering
from topics.catalog import CAMERA_REGISTRY, DEVICE_EVENTS, all_topics
from topics.models import CameraRecord, Dispatch

# The cameras' password is a variable of the camera secrets namespace: the only place a
# registry record's credential reference may point.
PASSWORD_ENV = camera_secret_env("DEMO")
CREDENTIAL_REF = f"admin@env:{PASSWORD_ENV}"
P = ParamSpec("P")
R = TypeVar("R")

#: the most simulated cameras one process serves, and one connector runtime watches
CAMERAS_PER_PROCESS = 8000


def shares(total: int, most: int = CAMERAS_PER_PROCESS) -> list[int]:
    """``total`` split into as few near-equal parts of at most ``most`` as it takes."""
    parts = max(1, -(-total // most))
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


class Stage:
    """Prints what the demo is doing, with elapsed time."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        click.secho(f"[{time.monotonic() - self.started:6.1f}s] {message}", fg="cyan", err=True)


class Processes:
    """Child processes of the demo, stopped in reverse order at the end."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.logs: list[IO[bytes]] = []

    def spawn(
        self,
        name: str,
        *args: str,
        stdout: int | IO[bytes] | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("ab")
        self.logs.append(log)
        child = subprocess.Popen(
            [sys.executable, "-m", "tilik", *args],
            env={**self.env, **(env or {})},
            stdout=stdout if stdout is not None else log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
        self.children.append((name, child))
        return child

    def stop(self, child: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    def stop_all(self) -> None:
        for _, child in reversed(self.children):
            self.stop(child)
        for log in self.logs:
            log.close()


def read_addresses(child: subprocess.Popen[bytes], count: int, timeout: float = 120.0) -> list[str]:
    """The simulator prints one host:port per device once all of them listen."""
    assert child.stdout is not None
    addresses: list[str] = []
    deadline = time.monotonic() + timeout
    while len(addresses) < count:
        if time.monotonic() > deadline or child.poll() is not None:
            raise click.ClickException(
                "a simulator did not come up; see its log under the demo dir"
            )
        line = child.stdout.readline().decode().strip()
        if line:
            addresses.append(line)
    return addresses


def write_inventory(path: Path, addresses: list[str], *, seed: int) -> None:
    rows = []
    for index, (address, place) in enumerate(
        zip(addresses, place_cameras(len(addresses), seed=seed), strict=True)
    ):
        area = place.location.area
        point = place.location.point
        rows.append(
            {
                "address": address,
                "credential_ref": CREDENTIAL_REF,
                "name": f"{area.kelurahan} {place.site_type.value.replace('_', ' ')} {index + 1}",
                "kecamatan": area.kecamatan,
                "kelurahan": area.kelurahan,
                "rw": area.rw,
                "rt": area.rt,
                "lat": point.lat if point else None,
                "lon": point.lon if point else None,
                "site_type": place.site_type.value,
                "sharing": "live",
            }
        )
    path.write_text(yaml.safe_dump({"cameras": rows}, sort_keys=False))


def write_nvr_config(path: Path, address: str) -> None:
    path.write_text(
        yaml.safe_dump(
            [
                {
                    "address": address,
                    "credential_ref": CREDENTIAL_REF,
                    "owner": {"kind": "private", "id": "mall-paragon", "name": "Paragon Mall"},
                    "location": {
                        "area": {"kecamatan": "Semarang Tengah", "kelurahan": "Pekunden"},
                        "point": {"lat": -6.9855, "lon": 110.4148},
                    },
                    "site_type": "mall",
                    "sharing": "alarm_live",
                }
            ],
            sort_keys=False,
        )
    )


# Ports handed to children: a child binds its port only once it has started, and until then the
# system may hand the same free port out again (the hub worker's web port to the map, say).
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A free loopback port, never one handed out before by this process."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def run_tilik(env: dict[str, str], *args: str) -> None:
    """Runs one ``tilik`` command to completion; a failure stops the demo."""
    result = subprocess.run(
        [sys.executable, "-m", "tilik", *args],
        env=env,
        check=False,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        raise click.ClickException(f"`tilik {' '.join(args)}` failed (exit {result.returncode})")


def format_dispatch(dispatch: Dispatch) -> str:
    alert = dispatch.alert
    area = alert.location.area
    where = " / ".join(p for p in (area.kecamatan, area.kelurahan) if p) or "unknown area"
    escalated = f" (escalated x{dispatch.escalation_level})" if dispatch.escalation_level else ""
    return (
        f"{dispatch.agency:<11} {alert.status.value:<8} {alert.category.value:<16} "
        f"{alert.severity.value:<8} {where:<32} {alert.camera_name or alert.camera_id}"
        f"  [{alert.title}]{escalated}"
    )


async def watch_dispatches(
    bootstrap: str,
    settings: Settings,
    duration: float,
    counts: Counter[str],
    analytics: AnalyticsEngine | None,
    analytics_every: float,
    until: int | None = None,
) -> None:
    """Print dispatches as they arrive (for ``duration`` seconds, or until ``until`` arrived);
    meanwhile feed the analytics engine's readings."""
    from topics.catalog import dispatch_spec
    from topics.client import CatalogConsumer, CatalogProducer
    from topics.models import Agency

    specs = [dispatch_spec(agency.value) for agency in Agency]
    async with CatalogProducer(
        bootstrap, client_id="tilik-demo-analytics", settings=settings
    ) as producer:
        consumer = CatalogConsumer(
            *specs,
            group_id=None,
            component="demo",
            bootstrap=bootstrap,
            producer=producer,
            auto_offset_reset="latest",
            settings=settings,
        )
        await consumer.start()
        try:
            deadline = time.monotonic() + duration
            next_reading = time.monotonic()
            while time.monotonic() < deadline and (until is None or counts.total() < until):
                if analytics is not None and time.monotonic() >= next_reading:
                    await producer.send_batch(DEVICE_EVENTS, analytics.readings())
                    next_reading = time.monotonic() + analytics_every
                try:
                    received = await asyncio.wait_for(consumer.__anext__(), timeout=1.0)
                except TimeoutError:
                    continue
                except StopAsyncIteration:
                    break
                if isinstance(received.value, Dispatch):
                    counts[received.value.agency] += 1
                    click.echo(format_dispatch(received.value))
        finally:
            await consumer.stop()


async def registered_cameras(bootstrap: str, settings: Settings) -> list[CameraRecord]:
    from topics.client import read_table

    table = await read_table(
        CAMERA_REGISTRY, bootstrap=bootstrap, component="demo", timeout_s=60, settings=settings
    )
    return [record for record in table.values() if isinstance(record, CameraRecord)]


@contextlib.contextmanager
def local_broker(
    bootstrap: str | None, state_dir: Path, stage: Stage, *, keep: bool
) -> Iterator[tuple[str, Settings, bool]]:
    """The broker to use and the operator's settings for it: the given broker (as the
    environment's principal), or the local one as its admin (stopped at the end if started here)."""
    if bootstrap:
        yield bootstrap, get_settings(), False
        return
    from core.localkafka import LocalKafka

    kafka = LocalKafka(state_dir)
    was_running = kafka.status().state == "running"
    stage("starting the local Kafka broker (first run fetches it from Maven Central)")
    address = kafka.start()
    admin = kafka.admin_file if kafka.admin_file.is_file() else None
    operator = Settings(bootstrap=address, state_dir=state_dir, client_config=admin)
    try:
        yield address, operator, not was_running
    finally:
        if not was_running and not keep:
            kafka.stop()


def service_principals(
    address: str, operator: Settings, out: Path, *, own_broker: bool, api: bool = False
) -> dict[str, dict[str, str]]:
    """The catalog, the hub's and the connectors' principals (and the API's, with ``api``; made
    once, their client configs kept in ``out``) and the declared ACLs: each process's environment
    to run as its own principal. On a broker the demo did not start, a principal that exists
    without its config in ``out`` is refused rather than rotated: rotating would cut off the
    services using it."""
    from topics.access.manage import AccessAdmin, Issuer
    from topics.access.roles import api_role, connector_role, hub_role
    from topics.admin import apply_catalog

    roles = [hub_role(), connector_role(), *([api_role()] if api else [])]
    if operator.client_config_file() is None:
        # A broker without authentication (`tilik kafka start --insecure`): nothing to issue.
        apply_catalog(all_topics(), bootstrap=address, settings=operator)
        return {role.kind.value: {} for role in roles}
    access = AccessAdmin(address, settings=operator, issuer=Issuer(address, None), actor="demo")
    configs = asyncio.run(access.provision(out, roles, rotate=own_broker))
    return {
        role.kind.value: {"TILIK_CLIENT_CONFIG": str(config)}
        for role, config in zip(roles, configs, strict=True)
    }


def onboard_simulated_city(
    env: dict[str, str],
    directory: Path,
    onvif_addresses: list[str],
    nvr_address: str,
    bootstrap: str,
    *,
    seed: int,
) -> None:
    """Onboard the simulated ONVIF cameras (an inventory in ``directory``) and the Hikvision NVR
    as the connector principal whose environment is ``env``."""
    inventory = directory / "inventory.yaml"
    write_inventory(inventory, onvif_addresses, seed=seed)
    run_tilik(env, "discover", "onvif", "--inventory", str(inventory), "--bootstrap", bootstrap)
    nvr_config = directory / "nvr.yaml"
    write_nvr_config(nvr_config, nvr_address)
    run_tilik(
        env, "connectors", "onboard", "hikvision", "--config", str(nvr_config),
        "--bootstrap", bootstrap,
    )  # fmt: skip


def start_map(processes: Processes, env: dict[str, str], operator: Settings) -> MapAccess:
    """``tilik api serve`` on a free loopback port as the API's principal (``env``), answering."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = processes.spawn("api", "api", "serve", "--port", str(port), env=env)
    wait_answering(api, f"{base}/health")
    return MapAccess(f"{base}/map", f"{base}/map/public", operator_key(operator))


def serve_simulated_cameras(
    processes: Processes, cameras: int, *, seed: int, per_process: int = CAMERAS_PER_PROCESS
) -> list[str]:
    """``cameras`` simulated ONVIF cameras in as many processes as it takes (a seed of its own
    each, so no two share an identity); their addresses once all of them listen."""
    simulators = [
        processes.spawn(
            f"sim-onvif-{index}" if index else "sim-onvif",
            "simulate",
            "onvif",
            "--cameras",
            str(count),
            "--event-rate",
            "0.05",
            # seed + 1 is the doomed cameras'
            "--seed",
            str(seed + 1 + index if index else seed),
            stdout=subprocess.PIPE,
        )
        for index, count in enumerate(shares(cameras, per_process))
    ]
    timeout = 120.0 + cameras / 50
    return [
        address
        for simulator, count in zip(simulators, shares(cameras, per_process), strict=True)
        for address in read_addresses(simulator, count, timeout=timeout)
    ]


def stopped_by_sigterm(command: Callable[P, R]) -> Callable[P, R]:
    """SIGTERM ends ``command`` as Ctrl-C does, through the code that stops what it started."""

    def interrupt(_signal: int, _frame: object) -> None:
        raise KeyboardInterrupt

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        previous = signal.signal(signal.SIGTERM, interrupt)
        try:
            return command(*args, **kwargs)
        finally:
            signal.signal(signal.SIGTERM, previous)

    return run


@click.command()
@click.option(
    "--cameras",
    default=48,
    show_default=True,
    type=click.IntRange(min=1),
    help=f"Simulated municipal ONVIF cameras (a few thousand fit on a laptop; "
    f"{CAMERAS_PER_PROCESS} per process).",
)
@click.option(
    "--cameras-per-process",
    default=CAMERAS_PER_PROCESS,
    show_default=True,
    type=click.IntRange(1, CAMERAS_PER_PROCESS),
    help="The most simulated cameras one simulator process serves and one connector runtime "
    "watches.",
)
@click.option("--nvr-channels", default=8, show_default=True, help="Channels of the private NVR.")
@click.option(
    "--duration", default=120.0, show_default=True, help="Seconds to watch alerts arrive."
)
@click.option("--bootstrap", default=None, help="Use this broker instead of the local one.")
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the broker and demo logs live (default: TILIK_STATE_DIR).",
)
@click.option("--keep-broker", is_flag=True, help="Leave a broker the demo started running.")
@click.option(
    "--until-dispatches",
    type=click.IntRange(min=1),
    default=None,
    help="Stop watching once this many dispatches arrived (within --duration).",
)
@click.option(
    "--principals",
    "principals_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the hub's and connectors' client configs are kept "
    "(<dir>/hub/client.properties, <dir>/connector/client.properties; made when absent). "
    "Default: <state-dir>/demo/principals.",
)
@click.option(
    "--map",
    "with_map",
    is_flag=True,
    help="Run the command-center map (tilik api) beside the demo and print its address.",
)
@click.option("--open", "open_map", is_flag=True, help="Open the map in a browser (implies --map).")
@click.option("--seed", default=7, show_default=True)
@stopped_by_sigterm
def demo(
    cameras: int,
    cameras_per_process: int,
    nvr_channels: int,
    duration: float,
    bootstrap: str | None,
    state_dir: Path | None,
    keep_broker: bool,
    until_dispatches: int | None,
    principals_dir: Path | None,
    with_map: bool,
    open_map: bool,
    seed: int,
) -> None:
    """Run a simulated Semarang end to end: cameras → registry and events → hub → agencies
    (and the map, with --map)."""
    with_map = with_map or open_map
    stage = Stage()
    state = state_dir or get_settings().state_dir
    log_dir = state / "demo"
    log_dir.mkdir(parents=True, exist_ok=True)
    with local_broker(
        bootstrap or get_settings().configured_bootstrap(), state, stage, keep=keep_broker
    ) as (
        address,
        operator,
        started,
    ):
        env = {
            **os.environ,
            "TILIK_BOOTSTRAP": address,
            "TILIK_STATE_DIR": str(state),
            PASSWORD_ENV: secrets.token_urlsafe(12),
        }
        if operator.client_config is not None:
            env["TILIK_CLIENT_CONFIG"] = str(operator.client_config)
        env["TILIK_SIM_PASSWORD"] = env[PASSWORD_ENV]
        click.echo(f"broker: {address}")
        stage("applying the topic catalog and the access declaration")
        principals = service_principals(
            address,
            operator,
            principals_dir or log_dir / "principals",
            own_broker=started,
            api=with_map,
        )
        processes = Processes(env, log_dir)
        counts: Counter[str] = Counter()
        try:
            stage(
                f"serving {cameras} ONVIF cameras, 2 more that will fail, and a {nvr_channels}-channel NVR"
            )
            doomed_sim = processes.spawn(
                "sim-onvif-doomed",
                "simulate",
                "onvif",
                "--cameras",
                "2",
                "--seed",
                str(seed + 1),
                stdout=subprocess.PIPE,
            )
            nvr_sim = processes.spawn(
                "sim-hikvision",
                "simulate",
                "hikvision",
                "--channels",
                str(nvr_channels),
                "--event-rate",
                "0.5",
                stdout=subprocess.PIPE,
            )
            onvif_addresses = serve_simulated_cameras(
                processes, cameras, seed=seed, per_process=cameras_per_process
            )
            onvif_addresses += read_addresses(doomed_sim, 2)
            nvr_address = read_addresses(nvr_sim, 1)[0]

            stage("onboarding: probing every camera and publishing the registry")
            as_connector = {**env, **principals["connector"]}
            onboard_simulated_city(
                as_connector, log_dir, onvif_addresses, nvr_address, address, seed=seed
            )
            records = asyncio.run(registered_cameras(address, operator))
            click.echo(f"registry: {len(records)} cameras")

            stage("starting the hub worker and the connectors")
            processes.spawn(
                "hub-worker",
                "hub",
                "worker",
                "--bootstrap",
                address,
                "--web-port",
                str(free_port()),
                # A hub of its own per run: its health table starts empty, so only this
                # run's cameras are watched for silence.
                "--app-id",
                f"tilik-hub-demo-{secrets.token_hex(3)}",
                "--offline-after",
                "30",
                "--health-check-every",
                "5",
                "--from-latest",
                "--data-dir",
                str(log_dir / "hub-data"),
                env=principals["hub"],
            )
            onvif_runtimes = len(shares(cameras, cameras_per_process))
            runtimes = [f"onvif-{n}" for n in range(onvif_runtimes)] + ["hikvision-0"]
            for runtime in runtimes:
                name = runtime.split("-")[0]
                processes.spawn(
                    f"connector-{runtime}",
                    "connectors",
                    "run",
                    name,
                    "--health-interval",
                    "10",
                    "--bootstrap",
                    address,
                    env=principals["connector"],
                )
            if with_map:
                stage("starting the command-center map (tilik api)")
                access = start_map(processes, principals["api"], operator)
                announce(access, open_browser=open_map)
            time.sleep(8)
            stage("switching 2 cameras off; the hub will raise camera_offline after 30 s")
            processes.stop(doomed_sim)

            click.echo(
                f"\nwatching dispatches for {duration:.0f}s (agency, status, category, "
                "severity, area, camera):"
            )
            analytics = AnalyticsEngine(records, seed=seed)
            asyncio.run(
                watch_dispatches(
                    address,
                    operator,
                    duration,
                    counts,
                    analytics,
                    analytics_every=10.0,
                    until=until_dispatches,
                )
            )
        finally:
            stage("stopping the demo's processes")
            processes.stop_all()
        summary = ", ".join(f"{agency}: {n}" for agency, n in sorted(counts.items())) or "none"
        click.echo(f"\ndispatches per agency: {summary}")
        click.echo(f"logs: {log_dir}")
        if started and keep_broker:
            click.echo(f"the broker keeps running at {address}; stop it with `tilik kafka stop`")
    if not counts:
        raise click.ClickException(
            f"no dispatch reached any agency within {duration:g}s; see the logs in {log_dir}"
        )

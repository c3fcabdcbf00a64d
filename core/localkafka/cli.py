"""``tilik kafka``: fetch, start, stop and inspect the local Kafka broker or cluster."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from types import FrameType

import click

from core.localkafka.cluster import DEFAULT_HEAP_MB, LocalKafka, wait_for_exit
from core.localkafka.errors import LocalKafkaError
from core.localkafka.layout import DEFAULT_REAUTH_MS
from core.localkafka.resolve import KAFKA_VERSION, ensure_runtime, is_resolved, runtime_cache_dir

EXIT_STOPPED = 3

state_dir_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the broker keeps data and logs (default: TILIK_STATE_DIR or .tilik).",
)


def _state_dir(option: Path | None) -> Path:
    if option is not None:
        return option
    from core.settings import get_settings

    return get_settings().state_dir


@click.group()
def kafka() -> None:
    """A Kafka broker on loopback, fetched from Maven Central and run with Java (KRaft mode)."""


@kafka.command()
def fetch() -> None:
    """Download the Kafka jars into the cache (TILIK_KAFKA_CACHE) and print where they are."""
    try:
        libs = ensure_runtime()
    except LocalKafkaError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"kafka {KAFKA_VERSION}: {libs}")


@kafka.command()
@click.option(
    "--nodes",
    type=click.IntRange(1, 9),
    default=None,
    help="Combined broker+controller nodes; 3 gives a controller quorum of 3. "
    "Default: the size of the cluster in the state dir, else 1.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Client port of node 1 (node i: port+2i, controller port+2i+1); 0 = any free ports. "
    "Default: the ports of the previous start, else 9092.",
)
@click.option("--heap-mb", type=click.IntRange(128), default=DEFAULT_HEAP_MB, show_default=True)
@click.option(
    "--foreground", is_flag=True, help="Stay attached; Ctrl-C or SIGTERM stops the cluster."
)
@click.option(
    "--tls",
    is_flag=True,
    help="Add a SASL_SSL listener (node i: port+2n+i) with a generated CA and broker "
    "certificate; edge agents and agencies connect through it.",
)
@click.option(
    "--tls-host",
    default="127.0.0.1",
    show_default=True,
    help="The name or address clients use for the TLS listener (in its certificate); "
    "a name other than loopback makes it listen on every interface.",
)
@click.option(
    "--reauth-s",
    type=click.IntRange(1),
    default=None,
    help=f"Seconds a connection outlives a revoked or rotated credential "
    f"[default for a new cluster: {DEFAULT_REAUTH_MS // 1000}].",
)
@click.option(
    "--insecure",
    is_flag=True,
    help="PLAINTEXT without authentication or ACLs, for benchmarks only; fixed when the cluster "
    "is created.",
)
@state_dir_option
def start(
    nodes: int | None,
    port: int | None,
    heap_mb: int,
    foreground: bool,
    tls: bool,
    tls_host: str,
    reauth_s: int | None,
    insecure: bool,
    state_dir: Path | None,
) -> None:
    """Start the local cluster (a no-op when it runs) and print its bootstrap address.

    A new cluster authenticates clients with SASL/SCRAM-SHA-512 and allows only what ACLs allow.
    Its admin, the only super user, is generated once; its client config is written to
    <state dir>/kafka/admin.properties (mode 0600), where every tilik command on this host finds it.
    """
    local = LocalKafka(
        _state_dir(state_dir),
        nodes=nodes,
        port=port,
        heap_mb=heap_mb,
        insecure=insecure,
        tls=tls,
        tls_host=tls_host,
        reauth_ms=reauth_s * 1000 if reauth_s is not None else None,
    )
    began = time.monotonic()
    if not is_resolved(runtime_cache_dir()):
        click.echo(f"fetching Kafka {KAFKA_VERSION} from Maven Central (once)", err=True)
    try:
        bootstrap = local.start()
    except LocalKafkaError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"kafka ready in {time.monotonic() - began:.1f} s", err=True)
    current = local.status()
    if current.security == "insecure":
        click.echo("INSECURE: no authentication, no ACLs (benchmarks only)", err=True)
    else:
        click.echo(f"admin client config: {local.admin_file}", err=True)
    if current.tls_bootstrap:
        click.echo(f"tls: {current.tls_bootstrap} (CA {local.tls_files.ca})", err=True)
    click.echo(bootstrap)
    if foreground:
        _stay_attached(local)


@kafka.command()
@click.option(
    "--timeout",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds to wait after SIGTERM before SIGKILL.",
)
@state_dir_option
def stop(timeout: float, state_dir: Path | None) -> None:
    """Stop every node of the local cluster (a no-op when nothing runs)."""
    try:
        stopped = LocalKafka(_state_dir(state_dir)).stop(timeout=timeout)
    except LocalKafkaError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"stopped pids {' '.join(map(str, stopped))}" if stopped else "not running")


@kafka.command()
@state_dir_option
def status(state_dir: Path | None) -> None:
    """Print running/degraded/stopped, each node's pid and the bootstrap address (exit 3 if stopped)."""
    try:
        current = LocalKafka(_state_dir(state_dir)).status()
    except LocalKafkaError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(current.state)
    for node in current.nodes:
        pid = node.pid if node.running else "-"
        click.echo(
            f"node {node.node_id}: pid {pid} port {node.broker_port} controller {node.controller_port}"
        )
    if current.bootstrap:
        click.echo(f"bootstrap {current.bootstrap}")
    if current.tls_bootstrap:
        click.echo(f"tls bootstrap {current.tls_bootstrap}")
    if current.security is not None:
        click.echo(f"security {current.security}")
    if current.state == "stopped":
        sys.exit(EXIT_STOPPED)


def _stay_attached(local: LocalKafka) -> None:
    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        wait_for_exit(local)
    except KeyboardInterrupt:
        click.echo("stopping kafka", err=True)
    finally:
        local.stop()


@kafka.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory (a volume shared with the broker containers) to write into.",
)
@click.option(
    "--node",
    "nodes",
    multiple=True,
    required=True,
    metavar="HOST:EXTERNAL_PORT:TLS_PORT",
    help="One per node, in node id order: its host name on the compose network and the ports "
    "its SASL_PLAINTEXT (operator) and SASL_SSL (agencies, edge agents) listeners use.",
)
@click.option(
    "--tls-host", default="127.0.0.1", show_default=True, help="The name clients use for TLS."
)
@click.option(
    "--reauth-s", type=click.IntRange(1), default=DEFAULT_REAUTH_MS // 1000, show_default=True
)
def render(out: Path, nodes: tuple[str, ...], tls_host: str, reauth_s: int) -> None:
    """Write the configuration of a secure cluster that runs elsewhere (compose/): each node's
    server.properties, the admin's credentials and client config, the CA and broker certificate."""
    from core.localkafka.compose import ComposeNode, render_compose

    try:
        parsed = [ComposeNode.parse(node) for node in nodes]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--node") from None
    try:
        written = render_compose(out, parsed, tls_host=tls_host, reauth_ms=reauth_s * 1000)
    except LocalKafkaError as exc:
        raise click.ClickException(str(exc)) from exc
    for path in written:
        click.echo(str(path))

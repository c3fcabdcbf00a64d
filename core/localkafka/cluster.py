"""``LocalKafka``: start, stop and inspect a loopback KRaft cluster kept under ``<state_dir>/kafka``.

Layout on disk::

    <state_dir>/kafka/cluster.json            cluster id, ports and security, reused on the next start
    <state_dir>/kafka/admin.properties        the admin's client config (0600): bootstrap, password
    <state_dir>/kafka/tls/                    CA and broker certificate, with ``--tls`` (see ``tls``)
    <state_dir>/kafka/node-<id>/server.properties (0600: it holds the admin password), log4j2.yaml, kafka.pid
    <state_dir>/kafka/node-<id>/data/         KRaft metadata and topic data
    <state_dir>/kafka/node-<id>/logs/         server.log (broker), stdout.log (JVM)
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from core.clientconfig import SCRAM_MECHANISM, ClientConfig, ClientConfigError, write_secret_file
from core.localkafka import process
from core.localkafka.config import BrokerSecrets, render_log4j2, render_server_properties
from core.localkafka.errors import LocalKafkaError
from core.localkafka.layout import (
    DEFAULT_REAUTH_MS,
    ClusterLayout,
    NodeLayout,
    NodePorts,
    Security,
    any_free_ports,
    busy_ports,
    consecutive_ports,
    free_ports,
    load_layout,
    save_layout,
)
from core.localkafka.ready import wait_until_ready
from core.localkafka.resolve import ensure_runtime
from core.localkafka.security import ADMIN_USER, new_password, salted_scram_credential
from core.localkafka.tls import TlsFiles, ensure_tls
from core.settings import LOCAL_ADMIN_CONFIG

DEFAULT_PORT = 9092
DEFAULT_HEAP_MB = 768
PORT_RACE_ATTEMPTS = 3
_BIND_FAILURE = "Address already in use"


class _PortTaken(LocalKafkaError):
    """A node could not bind a port chosen moments earlier; new ports may well work."""


@dataclass(frozen=True)
class NodeStatus:
    node_id: int
    pid: int | None
    running: bool
    broker_port: int
    controller_port: int


@dataclass(frozen=True)
class ClusterStatus:
    nodes: tuple[NodeStatus, ...]
    bootstrap: str | None
    tls_bootstrap: str | None = None
    security: Security | None = None

    @property
    def state(self) -> Literal["running", "stopped", "degraded"]:
        running = sum(1 for node in self.nodes if node.running)
        if running == 0:
            return "stopped"
        return "running" if running == len(self.nodes) else "degraded"


class NodeFiles:
    """Where one node keeps its configuration, data, logs and pid file."""

    PID_FILE = "kafka.pid"

    def __init__(self, root: Path, node_id: int):
        self.dir = root / f"node-{node_id}"
        self.properties = self.dir / "server.properties"
        self.log4j2 = self.dir / "log4j2.yaml"
        self.data = self.dir / "data"
        self.server_log = self.dir / "logs" / "server.log"
        self.stdout_log = self.dir / "logs" / "stdout.log"
        self.pid_file = self.dir / self.PID_FILE

    @property
    def formatted(self) -> bool:
        return (self.data / "meta.properties").is_file()


class LocalKafka:
    """A loopback Kafka cluster of ``nodes`` combined broker+controller JVMs.

    ``nodes=None`` means the size of the cluster already in ``state_dir``, or one node for a new one.
    ``stop_with_this_process`` ties the nodes' lives to this Python process (test sessions); by
    default they outlive it, as ``tilik kafka start`` needs. The kernel watches the thread that
    called ``start()``, so call it from a thread that lives as long as the cluster should.

    ``port=None`` reuses the ports of an earlier start (or 9092 for a new cluster), ``port=0``
    takes any free ports, any other value puts node i on ``port + 2i`` (controller ``port + 2i + 1``).

    A new cluster authenticates with SCRAM and authorizes with ACLs; ``insecure=True`` makes a
    PLAINTEXT cluster without either, for benchmarks only. Security is fixed when the cluster is
    formatted. ``tls=True`` adds a SASL_SSL listener named ``tls_host`` (it stays on once added);
    ``reauth_ms`` bounds how long a connection outlives a revoked or rotated credential.
    ``tls_relay=True`` tells TLS clients other ports than the listener's (``NodeLayout.
    tls_advertised_port``): a relay the caller runs there carries their traffic, so their
    network path can be cut and restored (the failure drill's edge agent).
    """

    def __init__(
        self,
        state_dir: Path,
        nodes: int | None = None,
        port: int | None = None,
        heap_mb: int = DEFAULT_HEAP_MB,
        runtime_cache: Path | None = None,
        ready_timeout: float = 90.0,
        stop_with_this_process: bool = False,
        insecure: bool = False,
        tls: bool = False,
        tls_host: str = "127.0.0.1",
        reauth_ms: int | None = None,
        tls_relay: bool = False,
    ):
        if nodes is not None and nodes < 1:
            raise ValueError("a cluster needs at least one node")
        if reauth_ms is not None and reauth_ms < 1000:
            raise ValueError("reauth_ms below one second would end sessions as they start")
        self.root = Path(state_dir) / "kafka"
        self.admin_file = Path(state_dir) / LOCAL_ADMIN_CONFIG
        self.tls_files = TlsFiles(self.root / "tls")
        self.security: Security = "insecure" if insecure else "scram"
        self.tls = tls
        self.tls_host = tls_host
        self.tls_relay = tls_relay
        self.reauth_ms = reauth_ms
        self.requested_nodes = nodes
        self.port = port
        self.heap_mb = heap_mb
        self.runtime_cache = runtime_cache
        self.ready_timeout = ready_timeout
        self.stop_with_this_process = stop_with_this_process
        self._layout_file = self.root / "cluster.json"

    @property
    def node_count(self) -> int:
        if self.requested_nodes is not None:
            return self.requested_nodes
        layout = self.layout
        return 1 if layout is None else len(layout.nodes)

    @property
    def layout(self) -> ClusterLayout | None:
        return load_layout(self._layout_file)

    @property
    def bootstrap(self) -> str | None:
        layout = self.layout
        return None if layout is None else layout.bootstrap

    def admin_config(self) -> ClientConfig | None:
        """The admin's client config (``None`` for an insecure or never started cluster)."""
        if not self.admin_file.is_file():
            return None
        try:
            return ClientConfig.load(self.admin_file)
        except ClientConfigError as exc:
            raise LocalKafkaError(str(exc)) from None

    def client_options(self) -> dict[str, object]:
        """aiokafka/kafka-python options that connect to this cluster as its admin."""
        admin = self.admin_config()
        layout = self.layout
        if admin is None or layout is None or layout.security == "insecure":
            return {"bootstrap_servers": self.bootstrap, "security_protocol": "PLAINTEXT"}
        return admin.with_bootstrap(layout.bootstrap).kafka_options()

    def start(self) -> str:
        """Starts whatever is not running yet, waits for every broker, returns the bootstrap address."""
        with self._locked():
            layout = self.layout
            if layout is not None and self._status(layout).state == "running":
                self._check_requested(layout)
                return layout.bootstrap
            libs = ensure_runtime(self.runtime_cache)
            # With any-free-ports, another program may take a port between choosing and binding it.
            attempts = PORT_RACE_ATTEMPTS if self.port == 0 else 1
            attempt = 1
            while True:
                layout = self._plan(self.layout, fresh_ports=attempt > 1)
                try:
                    return self._launch(layout, libs)
                except _PortTaken as exc:
                    if attempt >= attempts:
                        raise LocalKafkaError(str(exc)) from exc
                    attempt += 1

    def _launch(self, layout: ClusterLayout, libs: Path) -> str:
        unformatted = [files for files in map(self._files, layout.nodes) if not files.formatted]
        secrets = self._secrets(layout, formatting=bool(unformatted))
        self._write_configs(layout, secrets)
        if unformatted:
            process.format_storage(
                libs,
                [files.properties for files in unformatted],
                layout.cluster_id,
                scram_credentials=(
                    (salted_scram_credential(secrets.admin_user, secrets.admin_password),)
                    if secrets is not None
                    else ()
                ),
            )
        started = self._spawn_missing(layout, libs)
        try:
            wait_until_ready(
                layout.bootstrap,
                expected_brokers=len(layout.nodes),
                timeout=self.ready_timeout,
                failure=lambda: self._exited(layout, started),
                client_options=self.client_options(),
            )
        except LocalKafkaError as exc:
            self._stop_nodes(layout, timeout=10.0, only=set(started.values()))
            tail = self.log_tail(40)
            message = f"{exc}\n--- broker log tail ---\n{tail}"
            if started and _BIND_FAILURE in tail:
                raise _PortTaken(message) from exc
            raise LocalKafkaError(message) from exc
        return layout.bootstrap

    def stop(self, timeout: float = 30.0) -> list[int]:
        """Stops every node (SIGTERM, SIGKILL after ``timeout``); returns the pids that were running."""
        with self._locked():
            layout = self.layout
            return [] if layout is None else self._stop_nodes(layout, timeout)

    def status(self) -> ClusterStatus:
        layout = self.layout
        if layout is None:
            return ClusterStatus(nodes=(), bootstrap=None)
        return self._status(layout)

    def _secrets(self, layout: ClusterLayout, *, formatting: bool) -> BrokerSecrets | None:
        """The admin credentials (made, and saved before anything else, for a new cluster) and
        the TLS keystore, or ``None`` for an insecure cluster."""
        if layout.security == "insecure":
            return None
        admin = self.admin_config()
        if admin is None:
            if not formatting:
                raise LocalKafkaError(
                    f"{self.admin_file} is missing: the admin credentials of the cluster in "
                    f"{self.root} are lost; restore the file or remove {self.root} to start afresh"
                )
            admin = ClientConfig(
                bootstrap=layout.bootstrap,
                security_protocol="SASL_PLAINTEXT",
                mechanism=SCRAM_MECHANISM,
                username=ADMIN_USER,
                password=new_password(),
            )
            # Saved before the credential exists anywhere else: a failed start cannot lose it.
            write_secret_file(self.admin_file, _admin_file_text(admin))
        elif admin.bootstrap != layout.bootstrap:
            admin = admin.with_bootstrap(layout.bootstrap)
            write_secret_file(self.admin_file, _admin_file_text(admin), replace=True)
        if admin.username is None or admin.password is None:
            raise LocalKafkaError(f"{self.admin_file} names no admin user and password")
        keystore = None
        if layout.tls_host is not None:
            ensure_tls(self.tls_files, layout.tls_host)
            keystore = self.tls_files.keystore.resolve()
        return BrokerSecrets(admin.username, admin.password, keystore)

    def log_tail(self, lines: int = 60) -> str:
        """The last lines of each node's broker log (and JVM output), for error messages and reports."""
        layout = self.layout
        if layout is None:
            return ""
        sections: list[str] = []
        for node in layout.nodes:
            files = self._files(node)
            for log in (files.server_log, files.stdout_log):
                if log.is_file() and log.stat().st_size > 0:
                    tail = _tail(log, lines)
                    sections.append(f"== node {node.node_id}: {log.name} ==\n{tail}")
        return "\n".join(sections)

    def _plan(self, existing: ClusterLayout | None, fresh_ports: bool = False) -> ClusterLayout:
        if existing is not None and len(existing.nodes) != self.node_count:
            raise LocalKafkaError(
                f"{self.root} holds a {len(existing.nodes)}-node cluster; start it with "
                f"--nodes {len(existing.nodes)} or use another state dir for {self.node_count} nodes"
            )
        if existing is not None and existing.security != self.security:
            raise LocalKafkaError(
                f"the cluster in {self.root} was created {_describe(existing.security)} and cannot "
                f"become {_describe(self.security)} in place; "
                + (
                    "start it with --insecure, or "
                    if existing.security == "insecure"
                    else "start it without --insecure, or "
                )
                + "use another state dir"
            )
        running = existing is not None and self._status(existing).state != "stopped"
        if existing is not None:
            existing = self._with_requested_security(existing, running)
        if existing is not None and (running or (not fresh_ports and self._keeps_ports(existing))):
            # A partly running cluster keeps its ports: the live nodes know the quorum by them.
            self._check_requested(existing)
            layout = existing
        else:
            ports = self._requested_ports(tls=self._wants_tls(existing))
            layout = (
                ClusterLayout.plan(
                    self.node_count,
                    ports,
                    security=self.security,
                    tls_host=self.tls_host if self.tls else None,
                    reauth_ms=self.reauth_ms or DEFAULT_REAUTH_MS,
                )
                if existing is None
                else existing.with_ports(ports)
            )
            if self.tls_relay and layout.tls_host is not None:
                layout = layout.with_tls_advertised(free_ports(self.node_count))
        if not running:
            busy = busy_ports(layout.ports)
            if busy:
                raise LocalKafkaError(
                    f"ports {busy} are in use; pick another base with --port or any free ports with --port 0"
                )
        save_layout(self._layout_file, layout)
        return layout

    def _wants_tls(self, existing: ClusterLayout | None) -> bool:
        return self.tls or (existing is not None and existing.tls_host is not None)

    def _with_requested_security(self, existing: ClusterLayout, running: bool) -> ClusterLayout:
        """The stored layout with a TLS listener added or renamed and the reauth bound changed,
        as this start asks; a running cluster must be stopped for either."""
        updated = existing
        if self.tls and existing.tls_host != self.tls_host:
            updated = updated.with_tls_host(self.tls_host)
        if self.reauth_ms is not None and self.reauth_ms != existing.reauth_ms:
            updated = replace(updated, reauth_ms=self.reauth_ms)
        if updated == existing:
            return existing
        if running:
            raise LocalKafkaError(
                f"the cluster in {self.root} is running without these TLS or re-authentication "
                "settings; stop it first to change them"
            )
        if updated.tls_host is not None and any(node.tls_port is None for node in updated.nodes):
            updated = updated.with_ports(self._requested_ports(tls=True))
        return updated

    def _keeps_ports(self, existing: ClusterLayout) -> bool:
        current = existing.ports
        if self.port is None:
            return True
        if self.port == 0:
            return not busy_ports(current)
        wanted = consecutive_ports(self.port, self.node_count, tls=existing.tls_host is not None)
        return current == wanted

    def _requested_ports(self, tls: bool) -> list[NodePorts]:
        if self.port == 0:
            return any_free_ports(self.node_count, tls=tls)
        base = DEFAULT_PORT if self.port is None else self.port
        return consecutive_ports(base, self.node_count, tls=tls)

    def _check_requested(self, layout: ClusterLayout) -> None:
        if self.port not in (None, 0) and layout.nodes[0].broker_port != self.port:
            raise LocalKafkaError(
                f"the cluster in {self.root} is running at {layout.bootstrap}; stop it to move it to port {self.port}"
            )
        if len(layout.nodes) != self.node_count:
            raise LocalKafkaError(
                f"the cluster in {self.root} has {len(layout.nodes)} nodes, not {self.node_count}"
            )
        if layout.security != self.security:
            raise LocalKafkaError(
                f"the cluster in {self.root} runs {_describe(layout.security)}, "
                f"not {_describe(self.security)}"
            )
        if (self.tls and layout.tls_host != self.tls_host) or (
            self.reauth_ms is not None and self.reauth_ms != layout.reauth_ms
        ):
            raise LocalKafkaError(
                f"the cluster in {self.root} is running without these TLS or re-authentication "
                "settings; stop it first to change them"
            )

    def _write_configs(self, layout: ClusterLayout, secrets: BrokerSecrets | None) -> None:
        for node in layout.nodes:
            files = self._files(node)
            files.server_log.parent.mkdir(parents=True, exist_ok=True)
            write_secret_file(
                files.properties,
                render_server_properties(layout, node, files.data.resolve(), secrets),
                replace=True,
            )
            files.log4j2.write_text(render_log4j2(files.server_log.resolve()), encoding="utf-8")

    def _spawn_missing(self, layout: ClusterLayout, libs: Path) -> dict[int, int]:
        started: dict[int, int] = {}
        for node in layout.nodes:
            files = self._files(node)
            if self._running_pid(files) is not None:
                continue
            command = process.broker_command(
                libs, files.properties.resolve(), files.log4j2.resolve(), self.heap_mb
            )
            pid = process.spawn_detached(
                command,
                files.stdout_log,
                cwd=files.dir,
                stop_with_parent=self.stop_with_this_process,
            )
            process.write_pid(files.pid_file, pid)
            started[node.node_id] = pid
        return started

    def _exited(self, layout: ClusterLayout, started: dict[int, int]) -> str | None:
        for node in layout.nodes:
            files = self._files(node)
            pid = started.get(node.node_id)
            if pid is not None and not process.is_broker_process(pid, files.properties.resolve()):
                return f"broker node {node.node_id} (pid {pid}) exited during startup"
        return None

    def _stop_nodes(
        self, layout: ClusterLayout, timeout: float, only: set[int] | None = None
    ) -> list[int]:
        running: list[tuple[int, Path]] = []
        for node in layout.nodes:
            files = self._files(node)
            pid = self._running_pid(files)
            if pid is not None and (only is None or pid in only):
                running.append((pid, files.properties.resolve()))
        process.terminate(running, timeout)
        for _pid, properties in running:
            (properties.parent / NodeFiles.PID_FILE).unlink(missing_ok=True)
        return [pid for pid, _ in running]

    def _status(self, layout: ClusterLayout) -> ClusterStatus:
        nodes = []
        for node in layout.nodes:
            files = self._files(node)
            pid = self._running_pid(files)
            nodes.append(
                NodeStatus(
                    node.node_id, pid, pid is not None, node.broker_port, node.controller_port
                )
            )
        return ClusterStatus(
            nodes=tuple(nodes),
            bootstrap=layout.bootstrap,
            tls_bootstrap=layout.tls_bootstrap,
            security=layout.security,
        )

    def _running_pid(self, files: NodeFiles) -> int | None:
        """The node's pid if its pid file names a live broker for this node; a stale file is removed."""
        pid = process.read_pid(files.pid_file)
        if pid is None:
            return None
        if process.is_broker_process(pid, files.properties.resolve()):
            return pid
        files.pid_file.unlink(missing_ok=True)
        return None

    def _files(self, node: NodeLayout) -> NodeFiles:
        return NodeFiles(self.root, node.node_id)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        # Two `tilik kafka start` runs on one state dir must not both spawn brokers.
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _describe(security: Security) -> str:
    return "insecure (PLAINTEXT, no ACLs)" if security == "insecure" else "secure (SCRAM and ACLs)"


def _admin_file_text(admin: ClientConfig) -> str:
    return admin.render(
        "The local Kafka cluster's admin, its only super user (written by `tilik kafka start`).\n"
        "Every tilik command on this host connects with it unless TILIK_CLIENT_CONFIG says otherwise.\n"
        "Keep it secret: it holds the password."
    )


def _tail(path: Path, lines: int) -> str:
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - 64 * 1024))
        text = handle.read().decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def wait_for_exit(kafka: LocalKafka, poll_s: float = 1.0) -> None:
    """Blocks while any node runs (the ``--foreground`` mode)."""
    while kafka.status().state != "stopped":
        time.sleep(poll_s)

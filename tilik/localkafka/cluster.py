"""``LocalKafka``: start, stop and inspect a loopback KRaft cluster kept under ``<state_dir>/kafka``.

Layout on disk::

    <state_dir>/kafka/cluster.json            cluster id and ports, reused on the next start
    <state_dir>/kafka/node-<id>/server.properties, log4j2.yaml, kafka.pid
    <state_dir>/kafka/node-<id>/data/         KRaft metadata and topic data
    <state_dir>/kafka/node-<id>/logs/         server.log (broker), stdout.log (JVM)
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tilik.localkafka import process
from tilik.localkafka.config import render_log4j2, render_server_properties
from tilik.localkafka.errors import LocalKafkaError
from tilik.localkafka.layout import (
    ClusterLayout,
    NodeLayout,
    any_free_ports,
    busy_ports,
    consecutive_ports,
    load_layout,
    save_layout,
)
from tilik.localkafka.ready import wait_until_ready
from tilik.localkafka.resolve import ensure_runtime

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
    ):
        if nodes is not None and nodes < 1:
            raise ValueError("a cluster needs at least one node")
        self.root = Path(state_dir) / "kafka"
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
        self._write_configs(layout)
        unformatted = [files for files in map(self._files, layout.nodes) if not files.formatted]
        if unformatted:
            process.format_storage(
                libs, [files.properties for files in unformatted], layout.cluster_id
            )
        started = self._spawn_missing(layout, libs)
        try:
            wait_until_ready(
                layout.bootstrap,
                expected_brokers=len(layout.nodes),
                timeout=self.ready_timeout,
                failure=lambda: self._exited(layout, started),
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
        running = existing is not None and self._status(existing).state != "stopped"
        if existing is not None and (running or (not fresh_ports and self._keeps_ports(existing))):
            # A partly running cluster keeps its ports: the live nodes know the quorum by them.
            self._check_requested(existing)
            layout = existing
        else:
            ports = self._requested_ports()
            layout = (
                ClusterLayout.plan(self.node_count, ports)
                if existing is None
                else existing.with_ports(ports)
            )
        if not running:
            busy = busy_ports([(n.broker_port, n.controller_port) for n in layout.nodes])
            if busy:
                raise LocalKafkaError(
                    f"ports {busy} are in use; pick another base with --port or any free ports with --port 0"
                )
        save_layout(self._layout_file, layout)
        return layout

    def _keeps_ports(self, existing: ClusterLayout) -> bool:
        current = [(n.broker_port, n.controller_port) for n in existing.nodes]
        if self.port is None:
            return True
        if self.port == 0:
            return not busy_ports(current)
        return current == consecutive_ports(self.port, self.node_count)

    def _requested_ports(self) -> list[tuple[int, int]]:
        if self.port == 0:
            return any_free_ports(self.node_count)
        return consecutive_ports(DEFAULT_PORT if self.port is None else self.port, self.node_count)

    def _check_requested(self, layout: ClusterLayout) -> None:
        if self.port not in (None, 0) and layout.nodes[0].broker_port != self.port:
            raise LocalKafkaError(
                f"the cluster in {self.root} is running at {layout.bootstrap}; stop it to move it to port {self.port}"
            )
        if len(layout.nodes) != self.node_count:
            raise LocalKafkaError(
                f"the cluster in {self.root} has {len(layout.nodes)} nodes, not {self.node_count}"
            )

    def _write_configs(self, layout: ClusterLayout) -> None:
        for node in layout.nodes:
            files = self._files(node)
            files.server_log.parent.mkdir(parents=True, exist_ok=True)
            files.properties.write_text(
                render_server_properties(layout, node, files.data.resolve()), encoding="utf-8"
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
        return ClusterStatus(nodes=tuple(nodes), bootstrap=layout.bootstrap)

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

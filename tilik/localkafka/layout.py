"""Which nodes a local cluster has and where they listen, persisted beside the data it describes."""

from __future__ import annotations

import base64
import json
import random
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path

from tilik.localkafka.errors import LocalKafkaError

LOOPBACK = "127.0.0.1"
EPHEMERAL_RANGE_FILE = "/proc/sys/net/ipv4/ip_local_port_range"
DEFAULT_EPHEMERAL_RANGE = (32768, 60999)
EPHEMERAL_GAP = 12000


@dataclass(frozen=True)
class NodeLayout:
    """One combined broker+controller: its KRaft node id and its two loopback ports."""

    node_id: int
    broker_port: int
    controller_port: int


@dataclass(frozen=True)
class ClusterLayout:
    cluster_id: str
    nodes: tuple[NodeLayout, ...]

    @property
    def bootstrap(self) -> str:
        return ",".join(f"{LOOPBACK}:{node.broker_port}" for node in self.nodes)

    @property
    def quorum_voters(self) -> str:
        return ",".join(f"{node.node_id}@{LOOPBACK}:{node.controller_port}" for node in self.nodes)

    def with_ports(self, ports: list[tuple[int, int]]) -> ClusterLayout:
        nodes = tuple(
            NodeLayout(node.node_id, broker, controller)
            for node, (broker, controller) in zip(self.nodes, ports, strict=True)
        )
        return ClusterLayout(self.cluster_id, nodes)

    def to_json(self) -> str:
        nodes = [vars(node) for node in self.nodes]
        return json.dumps({"cluster_id": self.cluster_id, "nodes": nodes}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ClusterLayout:
        raw = json.loads(text)
        nodes = tuple(NodeLayout(**node) for node in raw["nodes"])
        return cls(cluster_id=str(raw["cluster_id"]), nodes=nodes)

    @classmethod
    def plan(cls, node_count: int, ports: list[tuple[int, int]]) -> ClusterLayout:
        if node_count < 1 or len(ports) != node_count:
            raise ValueError("one (broker, controller) port pair per node is needed")
        nodes = tuple(
            NodeLayout(index + 1, broker, controller)
            for index, (broker, controller) in enumerate(ports)
        )
        return cls(cluster_id=new_cluster_id(), nodes=nodes)


def new_cluster_id() -> str:
    """A KRaft cluster id (URL-safe base64 of a random UUID), made without starting a JVM."""
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        # A leading dash would read as an option on the storage tool's command line.
        if not candidate.startswith("-"):
            return candidate


def load_layout(path: Path) -> ClusterLayout | None:
    if not path.is_file():
        return None
    try:
        return ClusterLayout.from_json(path.read_text(encoding="utf-8"))
    except (ValueError, KeyError, TypeError) as exc:
        raise LocalKafkaError(
            f"{path} is not a cluster layout this version understands: {exc}"
        ) from exc


def save_layout(path: Path, layout: ClusterLayout) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_suffix(".tmp")
    staged.write_text(layout.to_json(), encoding="utf-8")
    staged.replace(path)


def any_free_ports(node_count: int) -> list[tuple[int, int]]:
    """Free ports for ``node_count`` nodes, chosen below the kernel's ephemeral range.

    A port from the ephemeral range (what binding to port 0 returns) can be handed to any
    outgoing connection before the JVM gets to bind it; below the range only listeners compete.
    """
    low, _ = _ephemeral_range()
    pool_start = max(1024, low - EPHEMERAL_GAP)
    candidates = random.sample(range(pool_start, low), k=min(low - pool_start, 200))
    free: list[int] = []
    for port in candidates:
        if len(free) == 2 * node_count:
            break
        if not busy_ports([(port, port)]):
            free.append(port)
    if len(free) < 2 * node_count:
        raise LocalKafkaError(f"no free loopback ports between {pool_start} and {low}")
    return [(free[2 * index], free[2 * index + 1]) for index in range(node_count)]


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path(EPHEMERAL_RANGE_FILE).read_text(encoding="ascii").split()
        return int(low), int(high)
    except (OSError, ValueError):
        return DEFAULT_EPHEMERAL_RANGE


def consecutive_ports(base: int, node_count: int) -> list[tuple[int, int]]:
    """Node i listens on ``base + 2i`` (clients) and ``base + 2i + 1`` (controller quorum)."""
    return [(base + 2 * index, base + 2 * index + 1) for index in range(node_count)]


def busy_ports(ports: list[tuple[int, int]]) -> list[int]:
    busy: list[int] = []
    for pair in ports:
        for port in pair:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                # As the broker does: a port held only by closed connections (TIME_WAIT) is free.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((LOOPBACK, port))
                except OSError:
                    busy.append(port)
    return busy

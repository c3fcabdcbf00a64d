"""Which nodes a local cluster has and where they listen, persisted beside the data it describes."""

from __future__ import annotations

import base64
import json
import random
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from core.localkafka.errors import LocalKafkaError

LOOPBACK = "127.0.0.1"
EPHEMERAL_RANGE_FILE = "/proc/sys/net/ipv4/ip_local_port_range"
DEFAULT_EPHEMERAL_RANGE = (32768, 60999)
EPHEMERAL_GAP = 12000
# A revoked or rotated credential keeps an open connection at most this long: the broker ends
# every SASL session after it unless the client re-authenticates (docs/access.md).
DEFAULT_REAUTH_MS = 60_000

Security = Literal["scram", "insecure"]
# (client port, controller port, TLS port or None) of one node.
NodePorts = tuple[int, int, int | None]


@dataclass(frozen=True)
class NodeLayout:
    """One combined broker+controller: its KRaft node id and its loopback ports.

    ``tls_port`` is the SASL_SSL listener for clients on other hosts, when the cluster has one.
    ``tls_advertised_port`` is the port those clients are told instead, when they reach the
    listener through a relay (a gateway, or the failure drill's cuttable network path).
    """

    node_id: int
    broker_port: int
    controller_port: int
    tls_port: int | None = None
    tls_advertised_port: int | None = None

    @property
    def tls_client_port(self) -> int | None:
        """The TLS port clients are told (and connect to)."""
        return self.tls_advertised_port or self.tls_port


@dataclass(frozen=True)
class ClusterLayout:
    """The nodes, their ports and how the cluster authenticates, persisted as ``cluster.json``.

    ``security`` is fixed when the cluster is formatted: ``scram`` (SASL/SCRAM-SHA-512 and ACLs,
    the default) or ``insecure`` (PLAINTEXT without ACLs, for benchmarks only). ``tls_host`` is
    the name clients use for the TLS listener, ``None`` when there is none.
    """

    cluster_id: str
    nodes: tuple[NodeLayout, ...]
    security: Security = "scram"
    tls_host: str | None = None
    reauth_ms: int = DEFAULT_REAUTH_MS

    @property
    def bootstrap(self) -> str:
        return ",".join(f"{LOOPBACK}:{node.broker_port}" for node in self.nodes)

    @property
    def tls_bootstrap(self) -> str | None:
        if self.tls_host is None:
            return None
        return ",".join(f"{self.tls_host}:{node.tls_client_port}" for node in self.nodes)

    @property
    def quorum_voters(self) -> str:
        return ",".join(f"{node.node_id}@{LOOPBACK}:{node.controller_port}" for node in self.nodes)

    @property
    def ports(self) -> list[NodePorts]:
        return [(n.broker_port, n.controller_port, n.tls_port) for n in self.nodes]

    def with_ports(self, ports: list[NodePorts]) -> ClusterLayout:
        nodes = tuple(
            NodeLayout(node.node_id, broker, controller, tls)
            for node, (broker, controller, tls) in zip(self.nodes, ports, strict=True)
        )
        return replace(self, nodes=nodes)

    def with_tls_advertised(self, ports: Sequence[int]) -> ClusterLayout:
        """The TLS listener of node i told to clients as ``ports[i]`` (where a relay listens)."""
        nodes = tuple(
            replace(node, tls_advertised_port=port)
            for node, port in zip(self.nodes, ports, strict=True)
        )
        return replace(self, nodes=nodes)

    def with_tls_host(self, tls_host: str | None) -> ClusterLayout:
        return replace(self, tls_host=tls_host)

    def to_json(self) -> str:
        nodes = [vars(node) for node in self.nodes]
        document = {
            "cluster_id": self.cluster_id,
            "security": self.security,
            "tls_host": self.tls_host,
            "reauth_ms": self.reauth_ms,
            "nodes": nodes,
        }
        return json.dumps(document, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ClusterLayout:
        raw = json.loads(text)
        nodes = tuple(NodeLayout(**node) for node in raw["nodes"])
        security = raw.get("security", "insecure")  # clusters made before SCRAM were PLAINTEXT
        if security not in ("scram", "insecure"):
            raise ValueError(f"unknown security {security!r}")
        return cls(
            cluster_id=str(raw["cluster_id"]),
            nodes=nodes,
            security=security,
            tls_host=raw.get("tls_host"),
            reauth_ms=int(raw.get("reauth_ms", DEFAULT_REAUTH_MS)),
        )

    @classmethod
    def plan(
        cls,
        node_count: int,
        ports: Sequence[NodePorts | tuple[int, int]],
        *,
        security: Security = "scram",
        tls_host: str | None = None,
        reauth_ms: int = DEFAULT_REAUTH_MS,
    ) -> ClusterLayout:
        if node_count < 1 or len(ports) != node_count:
            raise ValueError("one set of ports per node is needed")
        nodes = tuple(
            NodeLayout(index + 1, node_ports[0], node_ports[1], _tls_port(node_ports))
            for index, node_ports in enumerate(ports)
        )
        if tls_host is not None and any(node.tls_port is None for node in nodes):
            raise ValueError("a TLS listener needs a TLS port on every node")
        return cls(
            cluster_id=new_cluster_id(),
            nodes=nodes,
            security=security,
            tls_host=tls_host,
            reauth_ms=reauth_ms,
        )


def _tls_port(ports: NodePorts | tuple[int, int]) -> int | None:
    return ports[2] if len(ports) == 3 else None


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


def any_free_ports(node_count: int, tls: bool = False) -> list[NodePorts]:
    """Free ports for ``node_count`` nodes (and their TLS listeners), chosen below the kernel's ephemeral range.

    A port from the ephemeral range (what binding to port 0 returns) can be handed to any
    outgoing connection before the JVM gets to bind it; below the range only listeners compete.
    """
    per_node = 3 if tls else 2
    free = free_ports(per_node * node_count)
    return [
        (
            free[per_node * index],
            free[per_node * index + 1],
            free[per_node * index + 2] if tls else None,
        )
        for index in range(node_count)
    ]


def free_ports(count: int) -> list[int]:
    """``count`` free loopback ports below the kernel's ephemeral range (see ``any_free_ports``)."""
    low, _ = _ephemeral_range()
    pool_start = max(1024, low - EPHEMERAL_GAP)
    candidates = random.sample(range(pool_start, low), k=min(low - pool_start, 200))
    free: list[int] = []
    for port in candidates:
        if len(free) == count:
            break
        if not busy_ports([(port,)]):
            free.append(port)
    if len(free) < count:
        raise LocalKafkaError(f"no free loopback ports between {pool_start} and {low}")
    return free


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path(EPHEMERAL_RANGE_FILE).read_text(encoding="ascii").split()
        return int(low), int(high)
    except (OSError, ValueError):
        return DEFAULT_EPHEMERAL_RANGE


def consecutive_ports(base: int, node_count: int, tls: bool = False) -> list[NodePorts]:
    """Node i listens on ``base + 2i`` (clients) and ``base + 2i + 1`` (controller quorum); its
    TLS listener, if any, on ``base + 2n + i`` after all of those (``9094`` for one node)."""
    return [
        (base + 2 * index, base + 2 * index + 1, base + 2 * node_count + index if tls else None)
        for index in range(node_count)
    ]


def busy_ports(ports: Sequence[tuple[int | None, ...]]) -> list[int]:
    busy: list[int] = []
    for group in ports:
        for port in group:
            if port is None:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                # As the broker does: a port held only by closed connections (TIME_WAIT) is free.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((LOOPBACK, port))
                except OSError:
                    busy.append(port)
    return busy

"""The drill's cluster: three KRaft brokers on loopback (replication 3, min in-sync 2, SCRAM and
ACLs), the catalog at that replication, each service's principal, and a broker killed and restarted."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from core.localkafka import LocalKafka
from core.settings import Settings

NODES = 3
REPLICATION = 3


class DrillCluster:
    """A fresh cluster in ``state_dir`` whose brokers end with this process."""

    def __init__(self, state_dir: Path, *, heap_mb: int = 512) -> None:
        self.state_dir = state_dir
        self.kafka = LocalKafka(
            state_dir, nodes=NODES, port=0, heap_mb=heap_mb, stop_with_this_process=True
        )
        self.bootstrap = ""
        self.principals: dict[str, dict[str, str]] = {}

    @property
    def operator(self) -> Settings:
        """The admin's settings: the catalog is applied with replication 3."""
        return Settings(
            bootstrap=self.bootstrap,
            state_dir=self.state_dir,
            client_config=self.kafka.admin_file,
            replication_factor=REPLICATION,
        )

    def start(self) -> str:
        """Starts the brokers, applies the catalog and issues the hub's and connectors' principals."""
        from tilik.demo import service_principals

        self.bootstrap = self.kafka.start()
        self.principals = service_principals(
            self.bootstrap, self.operator, self.state_dir / "principals", own_broker=True
        )
        return self.bootstrap

    def settings_of(self, service: str) -> Settings:
        """The settings a service's principal connects with (``hub`` or ``connector``)."""
        return Settings(
            bootstrap=self.bootstrap,
            state_dir=self.state_dir,
            client_config=Path(self.principals[service]["TILIK_CLIENT_CONFIG"]),
        )

    def kill_broker(self, node_id: int, timeout_s: float = 30.0) -> int:
        """SIGKILL one node (broker and controller): no shutdown, no flush. Returns its pid."""
        node = next(n for n in self.kafka.status().nodes if n.node_id == node_id)
        if node.pid is None:
            raise RuntimeError(f"broker node {node_id} is not running")
        os.kill(node.pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout_s
        while self.kafka.status().state == "running":
            if time.monotonic() > deadline:
                raise TimeoutError(f"broker node {node_id} (pid {node.pid}) did not die")
            time.sleep(0.1)
        return node.pid

    def restart_missing(self) -> None:
        """Starts the nodes that are down and waits until every broker serves again."""
        self.kafka.start()

    def stop(self) -> None:
        self.kafka.stop()

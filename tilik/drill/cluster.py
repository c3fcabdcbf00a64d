"""The drill's cluster: three KRaft brokers on loopback (replication 3, min in-sync 2, SCRAM and
ACLs), the catalog at that replication, each service's principal, and a broker killed and restarted.

The city's services connect to the brokers directly; the edge site reaches their TLS listener
only through ``wan``, a relay the drill cuts to take the site off the network."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import structlog

from core.localkafka import LocalKafka
from core.settings import Settings
from tilik.drill.wan import CuttableLink

log = structlog.get_logger(__name__)

NODES = 3
REPLICATION = 3
# Three JVMs starting at once on a shared two-core runner take their time.
READY_TIMEOUT_S = 240.0
# A new credential must be visible on every broker; a busy cluster may take longer than the
# access admin waits, and provisioning a fresh cluster again is harmless.
PROVISION_ATTEMPTS = 3


class DrillCluster:
    """A fresh cluster in ``state_dir`` whose brokers end with this process."""

    def __init__(self, state_dir: Path, *, heap_mb: int = 512) -> None:
        self.state_dir = state_dir
        self.kafka = LocalKafka(
            state_dir,
            nodes=NODES,
            port=0,
            heap_mb=heap_mb,
            ready_timeout=READY_TIMEOUT_S,
            stop_with_this_process=True,
            tls=True,
            tls_relay=True,
        )
        self.wan: CuttableLink | None = None
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
        from topics.admin import AdminError

        self.bootstrap = self.kafka.start()
        layout = self.kafka.layout
        assert layout is not None
        self.wan = CuttableLink(
            (node.tls_client_port, node.tls_port)
            for node in layout.nodes
            if node.tls_client_port is not None and node.tls_port is not None
        ).start()
        for attempt in range(1, PROVISION_ATTEMPTS + 1):
            try:
                self.principals = service_principals(
                    self.bootstrap, self.operator, self.state_dir / "principals", own_broker=True
                )
                break
            except AdminError as exc:
                if attempt == PROVISION_ATTEMPTS:
                    raise
                log.warning("provisioning again", reason=str(exc), attempt=attempt)
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
        if self.wan is not None:
            self.wan.stop()
        self.kafka.stop()

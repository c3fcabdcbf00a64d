"""The drill's services: simulated cameras and a vendor NVR, their connector runtimes, hub workers
sharing one app id, an agency's webhook receiver and a tenant's edge site, each as its own
principal."""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from hub.routing.loader import default_routes_text
from hub.testing import ReceiverThread, WorkerProcess
from tilik.demo import (
    PASSWORD_ENV,
    Processes,
    onboard_simulated_city,
    read_addresses,
)
from tilik.drill.cluster import REPLICATION, DrillCluster
from tilik.drill.site import EdgeSite

# The agency whose dispatches the drill also delivers over a signed webhook: tamper alerts,
# the traffic's alerting kind, are routed to it.
WEBHOOK_AGENCY = "polisi"
WEBHOOK_SECRET_ENV = "TILIK_WEBHOOK_SECRET_DRILL"  # noqa: S105 - a variable name
CONNECTORS = ("onvif", "hikvision")
PORT_RACE_ATTEMPTS = 3
PORT_TAKEN = b"address already in use"


@dataclass(frozen=True)
class FleetOptions:
    cameras: int = 24
    nvr_channels: int = 4
    site_cameras: int = 3
    hub_workers: int = 2
    # Retries span more than a minute (base 1 s, doubling, at most 60 s between tries), so a
    # receiver down for 30 s costs delay, not a dead letter.
    webhook_attempts: int = 9
    webhook_backoff_s: float = 1.0
    seed: int = 7


def drill_routes(path: Path, receiver_url: str) -> Path:
    """The default routes with the webhook agency's dispatches also posted to ``receiver_url``."""
    document = yaml.safe_load(default_routes_text())
    agency = next(a for a in document["agencies"] if a["id"] == WEBHOOK_AGENCY)
    agency["webhook"] = {
        "url": receiver_url,
        "secret_ref": f"env:{WEBHOOK_SECRET_ENV}",
        "timeout_s": 2,
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


class Fleet:
    """Starts, kills and restarts the drill's processes; ``stop`` ends every one of them."""

    def __init__(self, cluster: DrillCluster, run_dir: Path, options: FleetOptions) -> None:
        self.cluster = cluster
        self.run_dir = run_dir
        self.options = options
        self.app_id = f"tilik-hub-drill-{secrets.token_hex(3)}"
        self.webhook_secret = secrets.token_urlsafe(24)
        password = secrets.token_urlsafe(12)
        self.password = password
        self.env = {
            **os.environ,
            "TILIK_BOOTSTRAP": cluster.bootstrap,
            "TILIK_STATE_DIR": str(cluster.state_dir),
            "TILIK_CLIENT_CONFIG": str(cluster.kafka.admin_file),
            "TILIK_REPLICATION_FACTOR": str(REPLICATION),
            PASSWORD_ENV: password,
            "TILIK_SIM_PASSWORD": password,
        }
        self.processes = Processes(self.env, run_dir)
        self.site = EdgeSite(cluster, self.processes, run_dir, options.site_cameras, options.seed)
        self.connectors: dict[str, subprocess.Popen[bytes]] = {}
        self.workers: list[WorkerProcess] = []
        self.receiver: ReceiverThread | None = None
        self._restarts: dict[str, int] = {}

    def start_cameras(self) -> None:
        """Simulators, onboarding (the registry) and the connector runtimes."""
        options = self.options
        onvif = self.processes.spawn(
            "sim-onvif",
            "simulate",
            "onvif",
            "--cameras",
            str(options.cameras),
            "--event-rate",
            "0.05",
            "--seed",
            str(options.seed),
            stdout=subprocess.PIPE,
        )
        nvr = self.processes.spawn(
            "sim-hikvision",
            "simulate",
            "hikvision",
            "--channels",
            str(options.nvr_channels),
            "--event-rate",
            "0.5",
            stdout=subprocess.PIPE,
        )
        addresses = read_addresses(onvif, options.cameras)
        nvr_address = read_addresses(nvr, 1)[0]
        as_connector = {**self.env, **self.cluster.principals["connector"]}
        bootstrap = self.cluster.bootstrap
        onboard_simulated_city(
            as_connector, self.run_dir, addresses, nvr_address, bootstrap, seed=options.seed
        )
        for name in CONNECTORS:
            self.start_connector(name)

    async def start_site(self) -> None:
        """The tenant's site and its edge agent; before the hub, whose ingest then knows the tenant."""
        await self.site.start(self.password)

    def start_connector(self, name: str) -> subprocess.Popen[bytes]:
        self._restarts[name] = self._restarts.get(name, -1) + 1
        child = self.processes.spawn(
            f"connector-{name}-{self._restarts[name]}",
            "connectors",
            "run",
            name,
            "--health-interval",
            "10",
            # Restarted under the same name, it takes its cameras back without waiting for the
            # group's session timeout to expel the process that was killed.
            "--instance-id",
            f"drill-{name}",
            "--bootstrap",
            self.cluster.bootstrap,
            env=self.cluster.principals["connector"],
        )
        self.connectors[name] = child
        return child

    def kill_connector(self, name: str) -> int:
        """SIGKILL a connector runtime; returns its pid."""
        child = self.connectors[name]
        child.kill()
        child.wait(10)
        return child.pid

    def start_receiver(self) -> ReceiverThread:
        """The agency's receiver; after an outage, on the same port with the same memory."""
        previous = self.receiver
        self.receiver = ReceiverThread(
            self.webhook_secret.encode(),
            port=previous.port if previous is not None else None,
            state=previous.state if previous is not None else None,
        ).start()
        return self.receiver

    def stop_receiver(self) -> None:
        if self.receiver is not None:
            self.receiver.stop()

    def worker(self, index: int) -> WorkerProcess:
        """Hub worker ``index`` (a new process each call), in the drill's consumer group."""
        assert self.receiver is not None, "start the receiver first: the routes name its port"
        routes = drill_routes(self.run_dir / "routes.yaml", self.receiver.url)
        log_dir = self.run_dir / f"hub-{index}"
        log_dir.mkdir(exist_ok=True)
        # One log per incarnation: readiness is read from the log, and a restarted worker
        # must not be taken as ready by what its predecessor wrote.
        incarnation = len(list(log_dir.glob("worker-*.log")))
        options = self.options
        return WorkerProcess(
            self.cluster.bootstrap,
            self.app_id,
            log_dir / f"worker-{incarnation}.log",
            routes=routes,
            extra_args=[
                "--webhook-attempts",
                str(options.webhook_attempts),
                "--webhook-backoff",
                str(options.webhook_backoff_s),
            ],
            env={
                "TILIK_REPLICATION_FACTOR": str(REPLICATION),
                "TILIK_STATE_DIR": str(self.cluster.state_dir),
                WEBHOOK_SECRET_ENV: self.webhook_secret,
            },
            client_config=Path(self.cluster.principals["hub"]["TILIK_CLIENT_CONFIG"]),
        )

    async def start_hub(self) -> None:
        self.workers = [self.worker(index) for index in range(self.options.hub_workers)]
        for worker in self.workers:
            worker.start()
        for index in range(len(self.workers)):
            await self._until_ready(index)

    async def restart_worker(self, index: int) -> None:
        self.workers[index] = self.worker(index)
        self.workers[index].start()
        await self._until_ready(index)

    async def _until_ready(self, index: int) -> None:
        # A worker's web port is chosen free moments before it binds; on a busy host another
        # process may take it first. That worker exits at once, and one on a new port follows.
        for attempt in range(1, PORT_RACE_ATTEMPTS + 1):
            try:
                await self.workers[index].wait_ready(180)
                return
            except RuntimeError:
                if (
                    attempt == PORT_RACE_ATTEMPTS
                    or PORT_TAKEN not in self.workers[index].log_text()
                ):
                    raise
                self.workers[index] = self.worker(index)
                self.workers[index].start()

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.processes.stop_all()
        self.stop_receiver()

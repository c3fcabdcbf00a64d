"""The drill's private site: a tenant's simulated cameras watched by its edge agent, which reaches
the cluster only over the cuttable link (``tilik.drill.wan``), as the tenant's principal."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import yaml

from connectors.sdk.secrets import camera_secret_env
from tilik.demo import Processes, read_addresses
from tilik.drill.cluster import DrillCluster
from topics.access.manage import AccessAdmin, Issuer
from topics.access.roles import tenant_role
from topics.catalog import CAMERA_CHOICES, CAMERA_REGISTRY
from topics.client import CatalogProducer, read_table
from topics.models import CameraChoice, CameraRecord, SharingLevel, utcnow

TENANT = "toko-drill"
SITE = "pasar-johar"
SECRET_ENV = camera_secret_env("DRILL_SITE")
CONFIRM_TIMEOUT_S = 240.0


class EdgeSite:
    """Starts the site's camera simulator, issues the tenant's principal (its client config goes
    through the link) and runs the edge agent; ``start_edge`` again after a kill."""

    def __init__(
        self, cluster: DrillCluster, processes: Processes, run_dir: Path, cameras: int, seed: int
    ) -> None:
        self.cluster = cluster
        self.processes = processes
        self.dir = run_dir / "site"
        self.cameras = cameras
        self.seed = seed
        self.tenant = TENANT
        self.edge: subprocess.Popen[bytes] | None = None
        #: when the registry showed its cameras confirmed: their events are shared from then on
        self.confirmed_at: datetime | None = None

    async def start(self, password: str) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        simulator = self.processes.spawn(
            "sim-site",
            "simulate",
            "onvif",
            "--cameras",
            str(self.cameras),
            "--event-rate",
            "0.2",
            "--seed",
            str(self.seed + 1),
            stdout=subprocess.PIPE,
        )
        addresses = read_addresses(simulator, self.cameras)
        client_config = await self.issue_tenant()
        site_file = self.write_site_file(addresses, client_config)
        self.edge = self.processes.spawn(
            "edge-site",
            "edge",
            "run",
            "--config",
            str(site_file),
            env={SECRET_ENV: password},
        )

    async def confirm_cameras(self) -> datetime:
        """The tenant confirms every camera its site found, shared ``live``, as it would over
        ``tilik api`` (a choice on ``tilik.cameras.choices.v1``): until then the city keeps them
        ``registry_only`` and shares none of their events. Returns when the registry says so,
        the moment from which the ledger expects every event of theirs on the shared topic (an
        event the site received while the choices were on their way is rightly withheld)."""
        settings = self.cluster.operator
        found = await self._registered(lambda cameras: len(cameras) >= self.cameras)
        async with CatalogProducer(self.cluster.bootstrap, settings=settings) as producer:
            for camera in found:
                choice = CameraChoice(
                    camera_id=camera.camera_id,
                    tenant_id=TENANT,
                    confirmed=True,
                    sharing=SharingLevel.LIVE,
                    updated_at=utcnow(),
                    actor="drill",
                )
                await producer.send(CAMERA_CHOICES, choice)
        await self._registered(
            lambda cameras: (
                len(cameras) >= self.cameras
                and all(c.sharing is SharingLevel.LIVE for c in cameras)
            )
        )
        self.confirmed_at = utcnow()
        return self.confirmed_at

    async def _registered(self, done: Callable[[list[CameraRecord]], bool]) -> list[CameraRecord]:
        """The tenant's cameras in the registry, once ``done`` holds of them."""
        deadline = time.monotonic() + CONFIRM_TIMEOUT_S
        while True:
            table = await read_table(
                CAMERA_REGISTRY, bootstrap=self.cluster.bootstrap, settings=self.cluster.operator
            )
            cameras = [
                r for r in table.values() if isinstance(r, CameraRecord) and r.owner.id == TENANT
            ]
            if done(cameras):
                return cameras
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the site's cameras were not registered as expected within "
                    f"{CONFIRM_TIMEOUT_S:g}s ({len(cameras)} of {self.cameras} found)"
                )
            await asyncio.sleep(2.0)

    async def issue_tenant(self) -> Path:
        """The tenant, its topics and its client config: SASL_SSL to the relayed TLS listener."""
        kafka = self.cluster.kafka
        layout = kafka.layout
        assert layout is not None and layout.tls_bootstrap is not None
        issuer = Issuer(layout.tls_bootstrap, kafka.tls_files.ca.read_text(encoding="ascii"))
        access = AccessAdmin(
            self.cluster.bootstrap, settings=self.cluster.operator, issuer=issuer, actor="drill"
        )
        out = self.dir / f"{TENANT}.properties"
        await access.add(tenant_role(TENANT), out=out)
        return out

    def write_site_file(self, addresses: list[str], client_config: Path) -> Path:
        document = {
            "tenant": TENANT,
            "site": SITE,
            "client_config": str(client_config),
            "health_interval_s": 5,
            "outbox": {"path": str(self.dir / f"{SITE}.outbox")},
            "devices": [
                {
                    "connector": "onvif",
                    "address": address,
                    "credential_ref": f"admin@env:{SECRET_ENV}",
                    "sharing": "live",
                    "site_type": "market",
                    "location": {"area": {"kecamatan": "Semarang Tengah"}},
                }
                for address in addresses
            ],
        }
        path = self.dir / "site.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        return path

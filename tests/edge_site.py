"""A business's simulated site for the end-to-end tests, each part real: the tenant added as
``tilik tenants add`` adds it, the hub's ingest worker (health only), the site's devices (a
simulated Hikvision NVR with two channels and an ONVIF camera, their passwords only in the site's
environment) and the edge agent running the site file ``tilik api`` handed out."""

from __future__ import annotations

import asyncio
import random
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Principals
from test_hub_pipeline import FIXTURES

from api.tenant_admin import AddedTenant, add_tenant
from connectors.edge.agent import EdgeAgent
from connectors.edge.site import SiteFile
from connectors.onvif.simulator import OnvifFleet
from connectors.private_vendors.kits import VENDORS
from hub.testing import WorkerProcess
from topics.access.manage import AccessAdmin, Issuer
from topics.client import CatalogProducer

#: the names of the site's passwords, as the site registration gives them
NVR_CREDENTIAL, DOME_CREDENTIAL = "E2E_NVR", "E2E_DOME"
NVR_ENV, DOME_ENV = (
    f"TILIK_CAMERA_SECRET_{NVR_CREDENTIAL}",
    f"TILIK_CAMERA_SECRET_{DOME_CREDENTIAL}",
)
#: the cameras the site's devices show: the NVR's two channels and the ONVIF camera
SITE_CAMERAS = 3


async def until(check: Callable[[], Awaitable[Any]], what: str, timeout_s: float = 90) -> Any:
    """``check``'s first true answer, asked again until ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not (found := await check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)
    return found


@dataclass
class Business:
    tenant: str
    added: AddedTenant
    access: AccessAdmin

    @property
    def key(self) -> str:
        return self.added.key.key.token


async def new_business(bootstrap: str, out: Path, prefix: str = "toko") -> Business:
    """A tenant added as ``tilik tenants add`` adds it (its client config written to ``out``)."""
    tenant = f"{prefix}-{uuid.uuid4().hex[:8]}"
    access = AccessAdmin(bootstrap, actor="tests", issuer=Issuer(bootstrap, None))
    async with CatalogProducer(bootstrap) as producer:
        added = await add_tenant(tenant, access=access, producer=producer, out=out)
    return Business(tenant, added, access)


def site_passwords(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """New passwords for the site's devices, set in the environment only (the edge agent's)."""
    passwords = {NVR_ENV: f"Nvr-{secrets.token_hex(8)}", DOME_ENV: f"Dome-{secrets.token_hex(8)}"}
    for name, value in passwords.items():
        monkeypatch.setenv(name, value)
    return passwords


def ingest_worker(bootstrap: str, principals: Principals, tmp_path: Path) -> WorkerProcess:
    """The hub's ingest and health domains, as the hub's principal, from the topics' ends."""
    return WorkerProcess(
        bootstrap,
        f"tilik-hub-tenant-{uuid.uuid4().hex[:8]}",
        tmp_path / "worker.log",
        rules=FIXTURES / "rules.yaml",
        extra_args=["--health-only", "--from-latest"],
        client_config=principals.hub,
    )


@dataclass
class Devices:
    """The site's devices: where each is, as the site registration names them."""

    nvr: str
    dome: str


@asynccontextmanager
async def simulated_devices(passwords: dict[str, str]) -> AsyncIterator[Devices]:
    async with (
        VENDORS["hikvision"].simulator(
            channels=2, password=passwords[NVR_ENV], event_rate=2,
            seed=random.randrange(1, 10_000),
        ) as nvr,
        OnvifFleet(cameras=1, username="admin", password=passwords[DOME_ENV], seed=211) as dome,
    ):  # fmt: skip
        yield Devices(nvr.addresses[0], dome.addresses[0])


def edge_agent(
    site_text: str, business: Business, tmp_path: Path, say: Callable[[str], None]
) -> EdgeAgent:
    """The edge agent running the site file as handed out, its client config placeholder
    replaced with the client config the operator gave the business."""
    placeholder = yaml.safe_load(site_text)["client_config"]
    site = yaml.safe_load(site_text)["site"]
    site_path = tmp_path / f"{site}.yaml"
    site_path.write_text(site_text.replace(placeholder, str(business.added.principal.path)))
    return EdgeAgent(SiteFile.load(site_path), say=say)

"""The edge agent at a simulated site: its own devices on loopback, the tenant's principal through
the broker's TLS listener, the tenant's topics only, a bounded outbox across a broker restart, and
no camera password anywhere but the site."""

from __future__ import annotations

import asyncio
import random
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Principals
from structlog.testing import capture_logs

from connectors.edge.agent import EdgeAgent
from connectors.edge.outbox import Outbox, OutboxLimits
from connectors.edge.site import SiteFile, SiteFileError
from connectors.private_vendors.kits import VENDORS
from core.clientconfig import ClientConfig
from core.localkafka import LocalKafka
from core.settings import Settings
from hub.testing import TopicWatch
from topics.access.manage import AccessAdmin, Issuer
from topics.access.roles import tenant_role
from topics.admin import apply_catalog
from topics.catalog import TopicSpec, all_topics, tenant_topics
from topics.client import CatalogConsumer, CatalogProducer
from topics.models import CameraRecord, CameraStatus, DeviceEvent, SharingLevel

SECRET_ENV = "TILIK_CAMERA_SECRET_EDGE_SITE"
HIKVISION = VENDORS["hikvision"]


def site_file(tmp_path: Path, tenant: str, client_config: Path, address: str, **extra: Any) -> Path:
    path = tmp_path / "site.yaml"
    document = {
        "tenant": tenant,
        "site": "jalan-pemuda",
        "client_config": str(client_config),
        "health_interval_s": 0.5,
        "report_every_s": 0.5,
        "devices": [
            {
                "connector": "hikvision",
                "address": address,
                "credential_ref": f"admin@env:{SECRET_ENV}",
                "sharing": "live",
                "site_type": "shop",
                "cameras": [{"channel": 1, "name": "Kasir", "sharing": "registry_only"}],
            }
        ],
        **extra,
    }
    path.write_text(yaml.safe_dump(document))
    return path


@asynccontextmanager
async def running(agent: EdgeAgent) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        async with asyncio.timeout(90):
            done = asyncio.ensure_future(agent.ready.wait())
            await asyncio.wait([done, task], return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                task.result()
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


async def until(condition: Callable[[], Any], timeout_s: float = 60, what: str = "") -> Any:
    deadline = time.monotonic() + timeout_s
    while not (found := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.1)
    return found


# --- the site file and the outbox, without a broker ------------------------------------------


def test_the_site_file_refuses_another_owner_and_names_the_problem(tmp_path: Path) -> None:
    path = site_file(tmp_path, "toko-sinar", tmp_path / "c.properties", "127.0.0.1:80")
    document = yaml.safe_load(path.read_text())
    document["devices"][0]["cameras"][0]["owner"] = {"kind": "municipal", "id": "city"}
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(SiteFileError, match="owned by its tenant"):
        SiteFile.load(path)
    document["devices"][0]["cameras"][0].pop("owner")
    document["devices"][0]["colour"] = "red"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(SiteFileError, match=r"devices\.0\.colour"):
        SiteFile.load(path)


def test_a_full_outbox_drops_the_oldest_records_and_says_so(tmp_path: Path) -> None:
    spec = tenant_topics("toko-sinar").status
    outbox = Outbox(lambda: CatalogProducer(), OutboxLimits(max_records=10))
    statuses = [
        CameraStatus(camera_id=f"cam-{i:020x}", state="online", checked_at=datetime.now(UTC))
        for i in range(15)
    ]
    for status in statuses:
        outbox.put(spec, status)
    assert (outbox.waiting, outbox.dropped[spec.name]) == (10, 5)
    site = SiteFile.load(site_file(tmp_path, "toko-sinar", tmp_path / "c", "127.0.0.1:80"))
    said: list[str] = []
    agent = EdgeAgent(site, settings=Settings(), say=said.append)
    agent.outbox = outbox
    agent.report()
    assert f"DROPPED (outbox full): 5 on {spec.name}" in said[-1]


# --- on the session's broker, through its TLS listener ---------------------------------------


@pytest.fixture
def tenant_over_tls(
    kafka_principals: Principals, session_broker: LocalKafka, tmp_path: Path
) -> tuple[str, Path, AccessAdmin]:
    layout = session_broker.layout
    assert layout is not None and layout.tls_bootstrap is not None
    issuer = Issuer(layout.tls_bootstrap, session_broker.tls_files.ca.read_text())
    access = AccessAdmin(kafka_principals.bootstrap, issuer=issuer, actor="tests")
    tenant = f"toko-{uuid.uuid4().hex[:8]}"
    issued = asyncio.run(access.add(tenant_role(tenant), out=tmp_path / "tenant.properties"))
    return tenant, issued.path, access


@pytest.mark.kafka
@pytest.mark.slow
async def test_the_edge_agent_brings_its_sites_cameras_in_through_tls_and_keeps_secrets_at_the_site(
    tenant_over_tls: tuple[str, Path, AccessAdmin],
    kafka_bootstrap: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant, client_config, access = tenant_over_tls
    assert "security.protocol=SASL_SSL" in client_config.read_text()
    password = f"Site-{secrets.token_hex(8)}"
    monkeypatch.setenv(SECRET_ENV, password)
    topics = tenant_topics(tenant)
    watches = {spec.name: await TopicWatch(kafka_bootstrap, spec).start() for spec in topics.ingest}
    said: list[str] = []
    try:
        async with HIKVISION.simulator(
            channels=2, password=password, event_rate=20, seed=random.randrange(1, 10_000)
        ) as sim:
            site = SiteFile.load(site_file(tmp_path, tenant, client_config, sim.addresses[0]))
            agent = EdgeAgent(site, say=said.append)
            with capture_logs() as logs:
                async with running(agent):
                    cameras = await watches[topics.cameras.name].wait_for(lambda v: len(v) >= 2)
                    hidden = {
                        c.camera_id for c in cameras if c.sharing is SharingLevel.REGISTRY_ONLY
                    }
                    shared = {c.camera_id for c in cameras} - hidden
                    assert len(hidden) == 1 and len(shared) == 1, cameras
                    await until(
                        lambda: agent.outbox.withheld[topics.events.name] >= 3,
                        what="withheld events",
                    )
                    events = await watches[topics.events.name].wait_for(
                        lambda v: sum(e.camera_id in shared for e in v) >= 3
                    )
                    statuses = await watches[topics.status.name].wait_for(
                        lambda v: {s.camera_id for s in v} >= hidden | shared
                    )
                    # Revoked: refused at its next send, and it says so.
                    await access.revoke(tenant_role(tenant))
                    await until(lambda: agent.outbox.refused, what="the refusal noticed")
                    agent.report()
    finally:
        for watch in watches.values():
            await watch.stop()

    # Its own cameras only, as the tenant's, without the site's connection details.
    assert all(isinstance(c, CameraRecord) and c.owner.id == tenant for c in cameras)
    assert all(c.credential_ref is None and c.connector_config == {} for c in cameras)
    # Events of the registry_only camera never left the site.
    assert not any(isinstance(e, DeviceEvent) and e.camera_id in hidden for e in events)
    assert {s.camera_id for s in statuses} <= hidden | shared
    # It said what it found and what it sent.
    assert any("2 camera(s)" in line for line in said), said
    assert any(line.startswith("sent 2 camera(s)") for line in said), said
    assert "refuses this site's principal" in said[-1], said
    # Neither the camera's password nor the tenant's is in a topic, a log event or its output.
    tenant_password = ClientConfig.load(client_config).password
    assert tenant_password
    for planted in (password, tenant_password):
        for value in [*cameras, *events, *statuses]:
            assert planted not in value.model_dump_json()
        assert planted not in repr(logs) and planted not in "\n".join(said)


# --- its own broker, stopped and started under it --------------------------------------------


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalKafka]:
    kafka = LocalKafka(
        tmp_path / "kafka", nodes=1, port=0, heap_mb=512, stop_with_this_process=True, tls=True
    )
    try:
        kafka.start()
        yield kafka
    finally:
        kafka.stop(timeout=10.0)


async def statuses_checked_between(
    spec: TopicSpec, settings: Settings, start: datetime, end: datetime
) -> set[datetime]:
    """Every status time on ``spec`` within [start, end], read to the topic's end."""
    found: set[datetime] = set()
    async with CatalogConsumer(
        spec, group_id=None, component="test-edge", settings=settings
    ) as consumer:
        while (received := await consumer.next(timeout_s=3.0)) is not None:
            status = received.value_as(CameraStatus)
            if start <= status.checked_at <= end:
                found.add(status.checked_at)
    return found


@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(400)
async def test_the_edge_agent_keeps_what_it_could_not_send_and_catches_up_after_a_broker_restart(
    own_broker: LocalKafka, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = own_broker.layout
    assert layout is not None and layout.tls_bootstrap is not None
    admin = Settings(client_config=own_broker.admin_file)
    apply_catalog(all_topics(), bootstrap=layout.bootstrap, replication_factor=1, settings=admin)
    access = AccessAdmin(
        layout.bootstrap,
        settings=admin,
        issuer=Issuer(layout.tls_bootstrap, own_broker.tls_files.ca.read_text()),
        actor="tests",
    )
    tenant = "toko-restart"
    issued = await access.add(tenant_role(tenant), out=tmp_path / "tenant.properties")
    password = f"Site-{secrets.token_hex(8)}"
    monkeypatch.setenv(SECRET_ENV, password)
    topics = tenant_topics(tenant)
    async with HIKVISION.simulator(channels=2, password=password, event_rate=5, seed=7) as sim:
        site = SiteFile.load(site_file(tmp_path, tenant, issued.path, sim.addresses[0]))
        agent = EdgeAgent(site, say=lambda line: None)
        outbox = agent.outbox
        async with running(agent):
            await until(lambda: outbox.sent[topics.status.name] >= 2, what="statuses sent")
            await asyncio.to_thread(own_broker.stop, 10.0)
            stopped = datetime.now(UTC)
            # Health rounds go on while the broker is away: their statuses wait in the outbox.
            await until(lambda: outbox.unreachable_since is not None, 60, "the outage noticed")
            await until(lambda: outbox.waiting >= 20, 60, "statuses waiting")
            await asyncio.to_thread(own_broker.start)
            restarted = datetime.now(UTC)
            await until(
                lambda: outbox.unreachable_since is None and outbox.waiting < 5,
                180,
                "the backlog sent",
            )
            assert not outbox.dropped
    kept = await statuses_checked_between(topics.status, admin, stopped, restarted)
    # Two cameras, a round every 0.5 s: what was checked during the outage reached the broker.
    assert len(kept) >= 10, sorted(kept)


@pytest.mark.kafka
@pytest.mark.slow
async def test_a_device_that_could_not_be_read_at_start_joins_when_it_can(
    tenant_over_tls: tuple[str, Path, AccessAdmin],
    kafka_bootstrap: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant, client_config, _ = tenant_over_tls
    password = f"Site-{secrets.token_hex(8)}"
    monkeypatch.setenv(SECRET_ENV, password)
    late_env = "TILIK_CAMERA_SECRET_EDGE_LATE"
    monkeypatch.delenv(late_env, raising=False)
    topics = tenant_topics(tenant)
    cameras = await TopicWatch(kafka_bootstrap, topics.cameras).start()
    try:
        async with HIKVISION.simulator(
            devices=2, channels=1, password=password, event_rate=0, seed=random.randrange(1, 10_000)
        ) as sim:
            path = site_file(tmp_path, tenant, client_config, sim.addresses[0], retry_failed_s=0.5)
            document = yaml.safe_load(path.read_text())
            late = dict(document["devices"][0], address=sim.addresses[1])
            late["credential_ref"] = f"admin@env:{late_env}"
            document["devices"].append(late)
            path.write_text(yaml.safe_dump(document))
            agent = EdgeAgent(SiteFile.load(path), say=lambda line: None)
            async with running(agent):
                assert list(agent.found.failed) == [sim.addresses[1]]
                await cameras.wait_for(lambda v: len(v) >= 1)
                # Its password is given to the site; the next try reads the device.
                monkeypatch.setenv(late_env, password)
                await cameras.wait_for(lambda v: len({c.camera_id for c in v}) >= 2)
                await until(lambda: not agent.found.failed, what="the failure forgotten")
                service = agent.services["hikvision"]
                await until(lambda: len(service.watched_devices) == 2, what="both devices watched")
    finally:
        await cameras.stop()

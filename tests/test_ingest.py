"""The hub's ingest: a tenant's records reach the shared topics as the tenant's own, whatever they
claim. The stamping rules alone, then a real worker on the real broker, fed by a tenant's principal."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from conftest import Principals
from test_hub_pipeline import FIXTURES, device_event

from core.settings import Settings
from hub.ingest.stamping import (
    EDGE_CONNECTOR,
    Refused,
    Withheld,
    shared_camera,
    shared_event,
    shared_revocation,
    shared_status,
)
from hub.testing import TopicWatch, WorkerProcess
from topics import codec
from topics.access.roles import tenant_role
from topics.catalog import (
    AUDIT,
    CAMERA_REGISTRY,
    DEAD_LETTERS,
    DEVICE_EVENTS,
    TopicSpec,
    tenant_of_topic,
    tenant_topics,
    tenants_with_topics,
)
from topics.client import CatalogProducer
from topics.connection import connection_config
from topics.examples import camera_record
from topics.identity import tenant_scoped
from topics.models import (
    CameraRecord,
    CameraState,
    CameraStatus,
    EventKind,
    Owner,
    OwnerKind,
    SharingLevel,
    utcnow,
)


def tenant_camera(
    tenant: str, seed: str, sharing: SharingLevel = SharingLevel.LIVE
) -> CameraRecord:
    """A camera as a tenant's edge agent sends it: the site's ids, its connector and reference."""
    return camera_record(seed).model_copy(
        update={
            "owner": Owner(kind=OwnerKind.PRIVATE, id=tenant, name="Toko Sinar"),
            "connector": "hikvision",
            "credential_ref": "env:TILIK_CAMERA_SECRET_TOKO",
            "sharing": sharing,
        }
    )


# --- the stamping rules ---------------------------------------------------------------------


def test_the_owner_must_be_the_topics_tenant():
    for forged in (
        Owner(kind=OwnerKind.MUNICIPAL, id="diskominfo"),
        Owner(kind=OwnerKind.PRIVATE, id="mall-other"),
    ):
        record = tenant_camera("toko-sinar", "a").model_copy(update={"owner": forged})
        refused = shared_camera("toko-sinar", record)
        assert isinstance(refused, Refused)
        assert "owned by private tenant 'toko-sinar'" in refused.reason


def test_a_sites_camera_ids_are_scoped_to_its_tenant():
    municipal = camera_record("city-gate")
    # A site sending the id of a municipal camera gets a camera of its own, not that one.
    claim = tenant_camera("toko-sinar", "x").model_copy(
        update={"camera_id": municipal.camera_id, "device_id": municipal.device_id}
    )
    mine = shared_camera("toko-sinar", claim)
    theirs = shared_camera(
        "mall-paragon",
        claim.model_copy(update={"owner": Owner(kind=OwnerKind.PRIVATE, id="mall-paragon")}),
    )
    assert isinstance(mine, CameraRecord) and isinstance(theirs, CameraRecord)
    assert len({municipal.camera_id, mine.camera_id, theirs.camera_id}) == 3
    assert municipal.device_id not in (mine.device_id, theirs.device_id)
    assert mine.camera_id == shared_camera("toko-sinar", claim).camera_id  # stable on replay
    assert shared_revocation("toko-sinar", municipal.camera_id) == mine.camera_id
    assert isinstance(shared_revocation("toko-sinar", "not-a-camera"), Refused)
    status = CameraStatus(camera_id=claim.camera_id, state=CameraState.ONLINE, checked_at=utcnow())
    assert shared_status("toko-sinar", status).camera_id == mine.camera_id


def test_the_site_s_connection_stays_at_the_site_and_registry_only_streams_are_not_shared():
    live = shared_camera("toko-sinar", tenant_camera("toko-sinar", "b"))
    hidden = shared_camera(
        "toko-sinar", tenant_camera("toko-sinar", "c", SharingLevel.REGISTRY_ONLY)
    )
    assert isinstance(live, CameraRecord) and isinstance(hidden, CameraRecord)
    for record in (live, hidden):
        assert (record.connector, record.credential_ref, record.connector_config) == (
            EDGE_CONNECTOR,
            None,
            {},
        )
    assert live.streams and hidden.streams == []


def test_an_event_flows_only_for_a_registered_camera_that_shares_its_events():
    site = tenant_camera("toko-sinar", "d")
    event = device_event(site.camera_id, EventKind.TAMPER)
    registered = shared_camera("toko-sinar", site)
    assert isinstance(registered, CameraRecord)
    shared = shared_event("toko-sinar", event, registered)
    assert not isinstance(shared, Refused | Withheld)
    assert shared.camera_id == registered.camera_id and shared.event_id != event.event_id
    assert shared.source.connector == EDGE_CONNECTOR
    hidden = registered.model_copy(update={"sharing": SharingLevel.REGISTRY_ONLY})
    assert isinstance(shared_event("toko-sinar", event, hidden), Withheld)
    assert "not in the registry" in shared_event("toko-sinar", event, None).reason  # type: ignore[union-attr]


def test_a_topic_names_its_tenant():
    topics = tenant_topics("toko-sinar")
    assert {tenant_of_topic(spec.name) for spec in topics.ingest} == {"toko-sinar"}
    assert tenant_of_topic(topics.site_config.name) is None
    assert tenant_of_topic(DEVICE_EVENTS.name) is None
    partial = [topics.cameras.name, *(s.name for s in tenant_topics("mall").ingest)]
    assert tenants_with_topics(partial) == ["mall"]


# --- a worker on the real broker ------------------------------------------------------------

TENANT = f"toko-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def tenant_config(kafka_principals: Principals) -> Path:
    return kafka_principals.issue(tenant_role(TENANT))


@pytest.fixture(scope="module")
def worker(
    kafka_bootstrap: str,
    kafka_principals: Principals,
    tenant_config: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WorkerProcess]:
    tmp = tmp_path_factory.mktemp("ingest")
    process = WorkerProcess(
        kafka_bootstrap,
        f"tilik-hub-ingest-{uuid.uuid4().hex[:8]}",
        tmp / "worker.log",
        rules=FIXTURES / "rules.yaml",
        extra_args=["--health-only", "--from-latest"],
        client_config=kafka_principals.hub,
    )
    process.start()
    try:
        asyncio.run(process.wait_ready(90))
        yield process
    finally:
        process.stop()


async def send_in_order(
    settings: Settings, spec: TopicSpec, values: list[CameraRecord | object]
) -> None:
    """As the tenant, records to one partition of its topic, so the worker takes them in order."""
    producer = AIOKafkaProducer(**connection_config(None, settings=settings), acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(
                spec.name,
                codec.encode(spec, value),  # type: ignore[arg-type]
                key=codec.record_key(spec, value).encode(),  # type: ignore[arg-type, union-attr]
                partition=0,
                headers=codec.headers_for(spec),
            )
    finally:
        await producer.stop()


@pytest.mark.kafka
@pytest.mark.slow
async def test_ingest_stamps_a_tenants_records_and_refuses_forgeries(
    worker: WorkerProcess, kafka_bootstrap: str, tenant_config: Path
) -> None:
    site = Settings(client_config=tenant_config)
    topics = tenant_topics(TENANT)
    municipal = camera_record(uuid.uuid4().hex)
    async with CatalogProducer(kafka_bootstrap) as operator:
        await operator.send(CAMERA_REGISTRY, municipal)
    registry = await TopicWatch(kafka_bootstrap, CAMERA_REGISTRY).start()
    events = await TopicWatch(kafka_bootstrap, DEVICE_EVENTS).start()
    dead = await TopicWatch(kafka_bootstrap, DEAD_LETTERS).start()
    audit = await TopicWatch(kafka_bootstrap, AUDIT).start()
    try:
        forged = tenant_camera(TENANT, uuid.uuid4().hex).model_copy(
            update={"owner": municipal.owner}
        )
        claim = tenant_camera(TENANT, uuid.uuid4().hex).model_copy(
            update={"camera_id": municipal.camera_id, "name": "claimed by a site"}
        )
        hidden = tenant_camera(TENANT, uuid.uuid4().hex, SharingLevel.REGISTRY_ONLY)
        live = tenant_camera(TENANT, uuid.uuid4().hex, SharingLevel.LIVE)
        await send_in_order(site, topics.cameras, [forged, claim, hidden, live])
        scoped = {r.camera_id: tenant_scoped(TENANT, r.camera_id) for r in (claim, hidden, live)}
        published = await registry.wait_for(
            lambda values: scoped[live.camera_id] in {v.camera_id for v in values if v}
        )
        by_id = {v.camera_id: v for v in published if v}
        # The claim became a camera of the tenant's own; the municipal camera is untouched.
        assert by_id[scoped[claim.camera_id]].owner.id == TENANT
        # The site's reference to its camera password stays at the site.
        assert {by_id[scoped[r.camera_id]].credential_ref for r in (claim, hidden, live)} == {None}
        assert [v for v in published if v and v.camera_id == municipal.camera_id] == []
        assert (
            forged.camera_id not in by_id and tenant_scoped(TENANT, forged.camera_id) not in by_id
        )
        letters = await dead.wait_for(
            lambda values: any(v.source_topic == topics.cameras.name for v in values)
        )
        letter = next(v for v in letters if v.source_topic == topics.cameras.name)
        assert letter.kind == "invalid_message" and "names municipal" in letter.reason
        audited = await audit.wait_for(
            lambda values: any(v.subject == f"tenant:{TENANT}" for v in values)
        )
        record = next(v for v in audited if v.subject == f"tenant:{TENANT}")
        assert record.action == "ingest_refused" and record.details["refused_by_this_worker"] == "1"

        # Events: the registry_only camera's are withheld, the live camera's flow, in order.
        withheld = device_event(hidden.camera_id, EventKind.TAMPER)
        shared = device_event(live.camera_id, EventKind.TAMPER)
        await send_in_order(site, topics.events, [withheld, shared])
        seen = await events.wait_for(
            lambda values: any(v.camera_id == scoped[live.camera_id] for v in values)
        )
        assert {v.camera_id for v in seen} & {scoped[hidden.camera_id], hidden.camera_id} == set()
        worker.check_alive()
    finally:
        for watch in (registry, events, dead, audit):
            await watch.stop()

"""The hub's ingest: a tenant's records reach the shared topics as the tenant's own, whatever they
claim. The stamping rules alone, then a real worker on the real broker, fed by a tenant's principal."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import faust
import pytest
from aiokafka import AIOKafkaProducer
from conftest import Principals
from test_hub_pipeline import FIXTURES, device_event

from core.settings import Settings
from hub.edge import Edges
from hub.ingest.discovery import widen
from hub.ingest.stamping import (
    EDGE_CONNECTOR,
    Refused,
    Withheld,
    shared_event,
    shared_revocation,
    shared_status,
    stamped_camera,
)
from hub.testing import TopicWatch, WorkerProcess
from topics import codec
from topics.access.roles import tenant_role
from topics.catalog import (
    AUDIT,
    CAMERA_CHOICES,
    CAMERA_REGISTRY,
    CAMERA_REMOVALS,
    DEAD_LETTERS,
    DEVICE_EVENTS,
    TopicSpec,
    tenant_of_topic,
    tenant_topics,
    tenants_with_topics,
)
from topics.choices import chosen
from topics.client import CatalogProducer
from topics.connection import connection_config
from topics.examples import camera_record
from topics.identity import tenant_scoped
from topics.models import (
    AdminArea,
    CameraChoice,
    CameraRecord,
    CameraState,
    CameraStatus,
    EventKind,
    Location,
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
        refused = stamped_camera("toko-sinar", record)
        assert isinstance(refused, Refused)
        assert "owned by private tenant 'toko-sinar'" in refused.reason


def test_a_sites_camera_ids_are_scoped_to_its_tenant():
    municipal = camera_record("city-gate")
    # A site sending the id of a municipal camera gets a camera of its own, not that one.
    claim = tenant_camera("toko-sinar", "x").model_copy(
        update={"camera_id": municipal.camera_id, "device_id": municipal.device_id}
    )
    mine = stamped_camera("toko-sinar", claim)
    theirs = stamped_camera(
        "mall-paragon",
        claim.model_copy(update={"owner": Owner(kind=OwnerKind.PRIVATE, id="mall-paragon")}),
    )
    assert isinstance(mine, CameraRecord) and isinstance(theirs, CameraRecord)
    assert len({municipal.camera_id, mine.camera_id, theirs.camera_id}) == 3
    assert municipal.device_id not in (mine.device_id, theirs.device_id)
    assert mine.camera_id == stamped_camera("toko-sinar", claim).camera_id  # stable on replay
    assert shared_revocation("toko-sinar", municipal.camera_id) == mine.camera_id
    assert isinstance(shared_revocation("toko-sinar", "not-a-camera"), Refused)
    status = CameraStatus(camera_id=claim.camera_id, state=CameraState.ONLINE, checked_at=utcnow())
    assert shared_status("toko-sinar", status).camera_id == mine.camera_id


def confirmed(
    tenant: str, camera_id: str, sharing: SharingLevel | None = None, **choice: Any
) -> CameraChoice:
    """The tenant's confirmation of a camera (the city's id), as ``tilik api`` writes it."""
    return CameraChoice(
        camera_id=camera_id,
        tenant_id=tenant,
        confirmed=True,
        sharing=sharing,
        updated_at=utcnow(),
        actor="tests",
        **choice,
    )


def test_the_site_s_connection_stays_at_the_site_and_registry_only_streams_are_not_shared():
    live = stamped_camera("toko-sinar", tenant_camera("toko-sinar", "b"))
    hidden = stamped_camera(
        "toko-sinar", tenant_camera("toko-sinar", "c", SharingLevel.REGISTRY_ONLY)
    )
    assert isinstance(live, CameraRecord) and isinstance(hidden, CameraRecord)
    for record in (live, hidden):
        assert (record.connector, record.credential_ref, record.connector_config) == (
            EDGE_CONNECTOR,
            None,
            {},
        )
    shared = chosen(live, confirmed("toko-sinar", live.camera_id))
    withheld = chosen(hidden, confirmed("toko-sinar", hidden.camera_id))
    assert shared is not None and withheld is not None
    assert shared.streams and withheld.streams == []


def test_a_found_camera_is_registry_only_until_its_tenant_confirms_it():
    live = stamped_camera("toko-sinar", tenant_camera("toko-sinar", "e", SharingLevel.LIVE))
    assert isinstance(live, CameraRecord) and live.streams
    found = chosen(live, None)
    assert found is not None
    assert (found.sharing, found.streams) == (SharingLevel.REGISTRY_ONLY, [])
    unconfirmed = confirmed("toko-sinar", live.camera_id).model_copy(update={"confirmed": False})
    assert chosen(live, unconfirmed).sharing is SharingLevel.REGISTRY_ONLY  # type: ignore[union-attr]
    # Confirmed: the site's level unless the tenant chose one; its name and placement.
    assert chosen(live, confirmed("toko-sinar", live.camera_id)).sharing is SharingLevel.LIVE  # type: ignore[union-attr]
    place = Location(area=AdminArea(kecamatan="Genuk", rw="002", rt="005"))
    public = chosen(
        live,
        confirmed("toko-sinar", live.camera_id, SharingLevel.PUBLIC, name="Parkir", location=place),
    )
    assert public is not None
    assert (public.sharing, public.name, public.location) == (SharingLevel.PUBLIC, "Parkir", place)
    revoked = CameraChoice(
        camera_id=live.camera_id, tenant_id="toko-sinar", revoked=True, updated_at=utcnow(),
        actor="tests",
    )  # fmt: skip
    assert chosen(live, revoked) is None


def test_an_event_flows_only_for_a_registered_camera_that_shares_its_events():
    site = tenant_camera("toko-sinar", "d")
    event = device_event(site.camera_id, EventKind.TAMPER)
    registered = stamped_camera("toko-sinar", site)
    assert isinstance(registered, CameraRecord)
    shared = shared_event("toko-sinar", event, registered)
    assert not isinstance(shared, Refused | Withheld)
    assert shared.camera_id == registered.camera_id and shared.event_id != event.event_id
    assert shared.source.connector == EDGE_CONNECTOR
    hidden = registered.model_copy(update={"sharing": SharingLevel.REGISTRY_ONLY})
    assert isinstance(shared_event("toko-sinar", event, hidden), Withheld)
    assert "not in the registry" in shared_event("toko-sinar", event, None).reason  # type: ignore[union-attr]


def test_an_event_is_judged_by_the_tenants_latest_choice_where_the_registry_lags_behind_it():
    """The registry shows a choice one hop after the worker knows it: an event the site received
    right after its tenant confirmed the camera flows, and one after a lowering does not."""
    site = tenant_camera("toko-sinar", "d", SharingLevel.LIVE)
    event = device_event(site.camera_id, EventKind.TAMPER)
    stamped = stamped_camera("toko-sinar", site)
    assert isinstance(stamped, CameraRecord)
    found = chosen(stamped, None)  # the registry's record before the confirmation
    assert found is not None and found.sharing is SharingLevel.REGISTRY_ONLY
    now_confirmed = confirmed("toko-sinar", stamped.camera_id, SharingLevel.LIVE)
    shared = shared_event("toko-sinar", event, found, now_confirmed)
    assert not isinstance(shared, Refused | Withheld)
    assert shared.camera_id == stamped.camera_id
    # A confirmation that leaves the level to the site: the site's record holds it.
    as_sent = confirmed("toko-sinar", stamped.camera_id)
    assert not isinstance(shared_event("toko-sinar", event, stamped, as_sent), Refused | Withheld)
    lowered = confirmed("toko-sinar", stamped.camera_id, SharingLevel.REGISTRY_ONLY)
    live = chosen(stamped, now_confirmed)
    assert isinstance(shared_event("toko-sinar", event, live, lowered), Withheld)
    revoked = now_confirmed.model_copy(update={"revoked": True, "confirmed": False})
    assert isinstance(shared_event("toko-sinar", event, live, revoked), Withheld)
    # Without a camera in the registry, a choice alone shares nothing.
    assert isinstance(shared_event("toko-sinar", event, None, now_confirmed), Refused)


def test_a_topic_names_its_tenant():
    topics = tenant_topics("toko-sinar")
    assert {tenant_of_topic(spec.name) for spec in topics.ingest} == {"toko-sinar"}
    assert tenant_of_topic(topics.site_config.name) is None
    assert tenant_of_topic(DEVICE_EVENTS.name) is None
    partial = [topics.cameras.name, *(s.name for s in tenant_topics("mall").ingest)]
    assert tenants_with_topics(partial) == ["mall"]


def test_names_added_to_a_running_agents_channel_reach_the_clone_it_reads() -> None:
    """Even from no tenant at all: three empty channels stay three (Faust copies an empty list
    of names, and its clones keep no link to their topic)."""
    app = faust.App("tilik-hub-test-widen", broker="kafka://127.0.0.1:1")  # never connected
    edges = Edges(app, "tilik-hub-test-widen")
    channels = [edges.growing_topics([]) for _ in range(3)]

    async def read(stream: Any) -> None:
        async for _ in stream:
            pass

    agents = [app.agent(channel, name=f"ingest-{i}")(read) for i, channel in enumerate(channels)]
    # What an agent's actor reads: a clone of a clone, registered with the conductor.
    registered = [aiter(agent.stream().channel) for agent in agents]
    assert all(channel in app.topics for channel in registered)
    names = [spec.name for spec in tenant_topics("toko-late").ingest]
    assert widen(app, channels[1], names) == sorted(names)
    assert widen(app, channels[1], names) == []  # once
    assert [sorted(r.topics) for r in registered] == [[], sorted(names), []]
    assert all(channel in app.topics for channel in registered)


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
        # Tenants added later are looked for every second (the default is 30 s).
        extra_args=["--health-only", "--from-latest", "--tenant-check-every", "1"],
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
        async with CatalogProducer(kafka_bootstrap) as api:
            # Both confirmed by the tenant: each shares the level its site sends.
            for camera in (hidden, live):
                await api.send(
                    CAMERA_CHOICES, confirmed(TENANT, tenant_scoped(TENANT, camera.camera_id))
                )
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


@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_a_tenant_added_after_the_worker_started_is_ingested_without_a_restart(
    worker: WorkerProcess, kafka_bootstrap: str, kafka_principals: Principals
) -> None:
    # The worker is running (the module's), and knew nothing of this tenant when it started.
    assert worker.process is not None and worker.process.poll() is None
    late = f"toko-late-{uuid.uuid4().hex[:8]}"
    site = Settings(client_config=kafka_principals.issue(tenant_role(late)))
    topics = tenant_topics(late)
    camera = tenant_camera(late, uuid.uuid4().hex, SharingLevel.LIVE)
    event = device_event(camera.camera_id, EventKind.TAMPER)
    async with CatalogProducer(kafka_bootstrap) as api:
        await api.send(CAMERA_CHOICES, confirmed(late, tenant_scoped(late, camera.camera_id)))
    registry = await TopicWatch(kafka_bootstrap, CAMERA_REGISTRY).start()
    events = await TopicWatch(kafka_bootstrap, DEVICE_EVENTS).start()
    try:
        # Sent before the worker takes the tenant in: read from the start of its topics.
        await send_in_order(site, topics.cameras, [camera])
        await send_in_order(site, topics.events, [event])
        scoped = tenant_scoped(late, camera.camera_id)
        # Bound: the check (1 s), Faust's resubscription wait (45 s), a rebalance.
        published = await registry.wait_for(
            lambda values: scoped in {v.camera_id for v in values if v}, timeout_s=150
        )
        assert next(v for v in published if v and v.camera_id == scoped).owner.id == late
        await events.wait_for(lambda values: any(v.camera_id == scoped for v in values), 60)
        worker.check_alive()
    finally:
        for watch in (registry, events):
            await watch.stop()


@pytest.mark.kafka
@pytest.mark.slow
async def test_a_tenants_choice_reaches_the_registry_at_once_without_its_site(
    worker: WorkerProcess, kafka_bootstrap: str, tenant_config: Path
) -> None:
    """Confirmed and made public, lowered, revoked (tombstone and removal; a later record of the
    site stays out), confirmed again: each from the choice alone, the site sending nothing."""
    site = Settings(client_config=tenant_config)
    topics = tenant_topics(TENANT)
    camera = tenant_camera(TENANT, uuid.uuid4().hex, SharingLevel.LIVE)
    city_id = tenant_scoped(TENANT, camera.camera_id)
    registry = await TopicWatch(kafka_bootstrap, CAMERA_REGISTRY).start()
    removals = await TopicWatch(kafka_bootstrap, CAMERA_REMOVALS).start()

    def latest(watch: TopicWatch, key: str) -> Any:
        """The last value of ``key`` on the watched topic: None for a tombstone."""
        mine = [value for k, value in watch.messages if k == key.encode()]
        return mine[-1] if mine else "absent"

    async def registry_shows(check: Any) -> None:
        await registry.wait_for(lambda _: check(latest(registry, city_id)), timeout_s=60)

    async def choose(**fields: Any) -> None:
        choice = CameraChoice(
            camera_id=city_id, tenant_id=TENANT, updated_at=utcnow(), actor="tests", **fields
        )
        async with CatalogProducer(kafka_bootstrap) as api:
            await api.send(CAMERA_CHOICES, choice)

    try:
        await send_in_order(site, topics.cameras, [camera])
        # Found, not confirmed: registry_only, without streams, whatever the site says.
        await registry_shows(
            lambda v: (
                v not in ("absent", None)
                and v.sharing is SharingLevel.REGISTRY_ONLY
                and not v.streams
            )
        )
        await choose(confirmed=True, sharing=SharingLevel.PUBLIC, name="Parkir")
        await registry_shows(
            lambda v: (
                v not in ("absent", None)
                and (v.sharing, v.name) == (SharingLevel.PUBLIC, "Parkir")
                and v.streams
            )  # the site's, kept by the worker while they were withheld
        )
        await choose(confirmed=True, sharing=SharingLevel.REGISTRY_ONLY)
        await registry_shows(
            lambda v: v not in ("absent", None) and v.sharing is SharingLevel.REGISTRY_ONLY
        )
        await choose(revoked=True)
        await registry_shows(lambda v: v is None)
        await removals.wait_for(lambda _: latest(removals, city_id) not in ("absent", None))
        # The site sends it again, then another camera: once that one is in, this one was read.
        marker = tenant_camera(TENANT, uuid.uuid4().hex)
        await send_in_order(site, topics.cameras, [camera, marker])
        marker_id = tenant_scoped(TENANT, marker.camera_id)
        await registry.wait_for(lambda _: latest(registry, marker_id) not in ("absent", None))
        assert latest(registry, city_id) is None
        # Confirmed again: back, and no longer marked removed.
        await choose(confirmed=True, sharing=SharingLevel.LIVE)
        await registry_shows(lambda v: v not in ("absent", None) and v.sharing is SharingLevel.LIVE)
        await removals.wait_for(lambda _: latest(removals, city_id) is None)
        worker.check_alive()
    finally:
        await registry.stop()
        await removals.stop()

"""The hub worker end to end: a real worker process, a real broker, a real webhook receiver.

One module-scoped worker runs the test rules and routes (tests/hub_fixtures) with short timers;
every test uses its own cameras, so tests share the worker and the broker without interfering.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from conftest import Principals

from hub.testing import ReceiverThread, TopicWatch, WorkerProcess
from topics import identity
from topics.access.roles import agency_role
from topics.catalog import (
    ALERTS,
    AUDIT,
    CAMERA_REGISTRY,
    CAMERA_STATUS,
    DEAD_LETTERS,
    DEVICE_EVENTS,
    ack_spec,
    dispatch_spec,
)
from topics.client import CatalogProducer
from topics.examples import camera_record
from topics.models import (
    AdminArea,
    AlertAck,
    AlertStatus,
    CameraRecord,
    CameraState,
    CameraStatus,
    DeviceEvent,
    EventAttributes,
    EventKind,
    EventSource,
    Location,
    ObjectClass,
    SiteType,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

FIXTURES = Path(__file__).parent / "hub_fixtures"
SECRET = "test-webhook-secret-4f1c"
TILIK = str(Path(sys.executable).parent / "tilik")


@pytest.fixture(scope="module")
def receiver() -> Iterator[ReceiverThread]:
    thread = ReceiverThread(SECRET.encode()).start()
    yield thread
    thread.stop()


@pytest.fixture(scope="module")
def worker(
    kafka_bootstrap: str,
    kafka_principals: Principals,
    receiver: ReceiverThread,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WorkerProcess]:
    tmp = tmp_path_factory.mktemp("hub")
    routes = tmp / "routes.yaml"
    routes.write_text(
        (FIXTURES / "routes.yaml").read_text().replace("${RECEIVER_PORT}", str(receiver.port))
    )
    process = WorkerProcess(
        kafka_bootstrap,
        f"tilik-hub-test-{uuid.uuid4().hex[:8]}",
        tmp / "worker.log",
        rules=FIXTURES / "rules.yaml",
        routes=routes,
        extra_args=[
            "--offline-after",
            "3",
            "--health-check-every",
            "0.5",
            "--tick-every",
            "0.5",
            "--escalation-check-every",
            "0.5",
            "--webhook-attempts",
            "5",
            "--webhook-backoff",
            "0.1",
            "--from-latest",
        ],
        env={"TILIK_TEST_WEBHOOK_SECRET": SECRET},
        client_config=kafka_principals.hub,
    )
    process.start()
    try:
        asyncio.run(process.wait_ready(90))
        yield process
    finally:
        process.stop()
        assert SECRET.encode() not in process.log_text(), "the webhook secret leaked into the log"


def new_camera(
    kecamatan: str = "Semarang Tengah", site: SiteType = SiteType.MARKET
) -> CameraRecord:
    seed = uuid.uuid4().hex
    record = camera_record(seed)
    area = AdminArea(kota="Semarang", kecamatan=kecamatan, kelurahan="Kelurahan " + seed[:4])
    return record.model_copy(update={"location": Location(area=area), "site_type": site})


def device_event(
    camera_id: str, kind: EventKind, *, at: datetime | None = None, **attributes: object
) -> DeviceEvent:
    at = at or datetime.now(UTC)
    active = attributes.pop("active", None)
    return DeviceEvent(
        event_id=identity.event_id(
            camera_id=camera_id,
            vendor_topic=str(kind),
            device_time=at,
            discriminator=uuid.uuid4().hex,
        ),
        camera_id=camera_id,
        kind=kind,
        active=active,  # type: ignore[arg-type]
        device_time=at,
        received_at=at,
        source=EventSource(connector="onvif", device_id="dev-test", vendor_topic=str(kind)),
        attributes=EventAttributes(**attributes),  # type: ignore[arg-type]
    )


def online(camera_id: str) -> CameraStatus:
    return CameraStatus(camera_id=camera_id, state=CameraState.ONLINE, checked_at=datetime.now(UTC))


def for_camera(camera_id: str, *, rule_id: str | None = None, status: str | None = None):  # type: ignore[no-untyped-def]
    def match(values: list) -> bool:  # type: ignore[type-arg]
        return any(
            v.camera_id == camera_id
            and (rule_id is None or v.rule_id == rule_id)
            and (status is None or v.status == status)
            for v in values
        )

    return match


def dispatched(camera_id: str, level: int | None = None):  # type: ignore[no-untyped-def]
    def match(values: list) -> bool:  # type: ignore[type-arg]
        return any(
            d.alert.camera_id == camera_id and (level is None or d.escalation_level == level)
            for d in values
        )

    return match


async def watch(bootstrap: str, spec) -> TopicWatch:  # type: ignore[no-untyped-def]
    return await TopicWatch(bootstrap, spec).start()


async def test_each_rule_kind_raises_its_alert_through_the_worker(
    worker: WorkerProcess, kafka_bootstrap: str
) -> None:
    camera = new_camera()
    alerts = await watch(kafka_bootstrap, ALERTS)
    try:
        async with CatalogProducer(kafka_bootstrap) as producer:
            await producer.send(CAMERA_REGISTRY, camera)
            cid = camera.camera_id
            await producer.send(DEVICE_EVENTS, device_event(cid, EventKind.PEOPLE_COUNT, count=25))
            await producer.send(
                DEVICE_EVENTS,
                device_event(cid, EventKind.VEHICLE_COUNT, count=30, object_class=ObjectClass.CAR),
            )
            await producer.send(DEVICE_EVENTS, device_event(cid, EventKind.TAMPER))
            await producer.send(
                DEVICE_EVENTS,
                device_event(
                    cid,
                    EventKind.PARKING_VIOLATION,
                    active=True,
                    object_class=ObjectClass.CAR,
                    region="zone-a",
                ),
            )
        for rule_id in ("t-crowd", "t-traffic", "t-tamper"):
            await alerts.wait_for(for_camera(cid, rule_id=rule_id, status="opened"), 30)
        # The dwell rule opens only once time has passed: the rules timer, not a new event, does it.
        values = await alerts.wait_for(for_camera(cid, rule_id="t-parking", status="opened"), 30)
        parking = next(a for a in values if a.rule_id == "t-parking")
        assert parking.category == "illegal_parking"
    finally:
        await alerts.stop()


async def test_alerts_are_routed_by_category_and_jurisdiction(
    worker: WorkerProcess, kafka_bootstrap: str
) -> None:
    central = new_camera("Semarang Tengah")
    elsewhere = new_camera("Tembalang")
    satpol = await watch(kafka_bootstrap, dispatch_spec("satpol-pp"))
    polisi = await watch(kafka_bootstrap, dispatch_spec("polisi"))
    dishub = await watch(kafka_bootstrap, dispatch_spec("dishub"))
    try:
        async with CatalogProducer(kafka_bootstrap) as producer:
            for camera in (central, elsewhere):
                await producer.send(CAMERA_REGISTRY, camera)
                await producer.send(
                    DEVICE_EVENTS, device_event(camera.camera_id, EventKind.PEOPLE_COUNT, count=40)
                )
            await producer.send(
                DEVICE_EVENTS,
                device_event(
                    central.camera_id,
                    EventKind.VEHICLE_COUNT,
                    count=50,
                    object_class=ObjectClass.CAR,
                ),
            )
        await satpol.wait_for(dispatched(central.camera_id), 30)
        await polisi.wait_for(dispatched(elsewhere.camera_id), 30)
        await dishub.wait_for(dispatched(central.camera_id), 30)
        assert not dispatched(elsewhere.camera_id)(satpol.values())
        assert not dispatched(central.camera_id)(polisi.values())
        dispatch = next(d for d in satpol.values() if d.alert.camera_id == central.camera_id)
        assert dispatch.idempotency_key.startswith(dispatch.alert.alert_id)
    finally:
        for w in (satpol, polisi, dishub):
            await w.stop()


async def test_escalation_after_the_limit_and_not_after_an_ack(
    worker: WorkerProcess, kafka_bootstrap: str, kafka_principals: Principals
) -> None:
    ignored = new_camera()
    acked = new_camera()
    polisi = await watch(kafka_bootstrap, dispatch_spec("polisi"))
    satpol = await watch(kafka_bootstrap, dispatch_spec("satpol-pp"))
    try:
        async with CatalogProducer(kafka_bootstrap) as producer:
            await producer.send(CAMERA_REGISTRY, acked)
            await producer.send(DEVICE_EVENTS, device_event(acked.camera_id, EventKind.TAMPER))
            values = await polisi.wait_for(dispatched(acked.camera_id), 30)
            first = next(d for d in values if d.alert.camera_id == acked.camera_id)
            assert first.ack_deadline is not None
            # The agency acknowledges as itself, on its own topic: the only one its ACLs let
            # it write.
            polisi_config = kafka_principals.issue(agency_role("polisi"))
            async with CatalogProducer(
                kafka_bootstrap, settings=Principals.settings(polisi_config)
            ) as agency:
                await agency.send(
                    ack_spec("polisi"),
                    AlertAck(
                        alert_id=first.alert.alert_id,
                        agency="polisi",
                        acked_at=datetime.now(UTC),
                        acked_by="desk",
                    ),
                )
            # Then an alert nobody acknowledges: its deadline is after the acknowledged one's.
            await producer.send(CAMERA_REGISTRY, ignored)
            await producer.send(DEVICE_EVENTS, device_event(ignored.camera_id, EventKind.TAMPER))
        values = await satpol.wait_for(dispatched(ignored.camera_id, level=1), 30)
        escalated = next(d for d in values if d.alert.camera_id == ignored.camera_id)
        original = next(d for d in polisi.values() if d.alert.camera_id == ignored.camera_id)
        assert escalated.routed_at >= original.ack_deadline  # type: ignore[operator]
        assert original.ack_deadline >= first.ack_deadline  # type: ignore[operator]
        # The escalation check that escalated the later alert had the acknowledged one due too:
        # had the acknowledgement not stopped it, it would be on the topic by now.
        assert not dispatched(acked.camera_id)(await satpol.caught_up())
    finally:
        await polisi.stop()
        await satpol.stop()


async def test_webhook_survives_receiver_failures_and_every_dispatch_arrives_once(
    worker: WorkerProcess, receiver: ReceiverThread, kafka_bootstrap: str
) -> None:
    cameras = [new_camera() for _ in range(4)]
    acks = await watch(kafka_bootstrap, ack_spec("bpbd"))
    receiver.fail_with.extend([500, 500, "timeout", 503])
    # This desk's system takes every alert on: its answer is the agency's acknowledgement.
    receiver.state.acknowledge = True
    try:
        async with CatalogProducer(kafka_bootstrap) as producer:
            for camera in cameras:
                await producer.send(CAMERA_REGISTRY, camera)
                await producer.send(
                    DEVICE_EVENTS,
                    device_event(camera.camera_id, EventKind.FLOOD_LEVEL, flood_level_cm=80),
                )
        ids = {c.camera_id for c in cameras}

        async def all_arrived() -> None:
            while ids - {d.alert.camera_id for d in receiver.state.accepted}:
                await asyncio.sleep(0.2)

        await asyncio.wait_for(all_arrived(), 60)
        received = [d for d in receiver.state.accepted if d.alert.camera_id in ids]
        assert len({d.idempotency_key for d in received}) == len(received) == len(ids)
        assert not receiver.fail_with, "the injected failures were all consumed by retries"
        # Each 2xx {"ack": true} became the agency's acknowledgement.
        alert_ids = {d.alert.alert_id for d in received}
        await acks.wait_for(
            lambda v: alert_ids <= {a.alert_id for a in v if a.agency == "bpbd"}, 30
        )
    finally:
        receiver.state.acknowledge = False
        await acks.stop()


async def test_a_delivered_dispatch_is_recorded_and_does_not_stop_escalation(
    worker: WorkerProcess, receiver: ReceiverThread, kafka_bootstrap: str
) -> None:
    """The receiver got it (a receipt), but nobody at bpbd took it on: polisi receives it too."""
    camera = new_camera()
    audit = await watch(kafka_bootstrap, AUDIT)
    polisi = await watch(kafka_bootstrap, dispatch_spec("polisi"))
    acks = await watch(kafka_bootstrap, ack_spec("bpbd"))
    try:
        async with CatalogProducer(kafka_bootstrap) as producer:
            await producer.send(CAMERA_REGISTRY, camera)
            await producer.send(
                DEVICE_EVENTS,
                device_event(camera.camera_id, EventKind.FLOOD_LEVEL, flood_level_cm=70),
            )
        escalated = await polisi.wait_for(dispatched(camera.camera_id, level=1), 30)
        alert_id = next(
            d for d in escalated if d.alert.camera_id == camera.camera_id
        ).alert.alert_id
        assert any(d.alert.alert_id == alert_id for d in receiver.state.accepted)
        receipts = await audit.wait_for(
            lambda v: any(a.action == "dispatch_delivered" and a.subject == alert_id for a in v), 30
        )
        receipt = next(a for a in receipts if a.subject == alert_id)
        assert (receipt.actor, receipt.details["agency"]) == ("hub.delivery", "bpbd")
        assert not [a for a in acks.values() if a.alert_id == alert_id]
    finally:
        for w in (audit, polisi, acks):
            await w.stop()


async def test_exhausted_webhook_goes_to_dead_letters_and_replay_delivers_it(
    worker: WorkerProcess, receiver: ReceiverThread, kafka_bootstrap: str
) -> None:
    camera = new_camera()
    dlq = await watch(kafka_bootstrap, DEAD_LETTERS)
    audit = await watch(kafka_bootstrap, AUDIT)
    receiver.refuse_cameras.add(camera.camera_id)
    try:
        async with CatalogProducer(kafka_bootstrap) as producer:
            await producer.send(CAMERA_REGISTRY, camera)
            await producer.send(
                DEVICE_EVENTS,
                device_event(camera.camera_id, EventKind.FLOOD_LEVEL, flood_level_cm=90),
            )
        values = await dlq.wait_for(
            lambda v: any(camera.camera_id in d.payload and d.kind == "delivery_failed" for d in v),
            60,
        )
        letter = next(d for d in values if camera.camera_id in d.payload)
        assert letter.attempts == 5
        assert SECRET not in letter.model_dump_json()
        receiver.refuse_cameras.discard(camera.camera_id)
        from topics.models import Dispatch

        dispatch_id = Dispatch.model_validate_json(letter.payload).dispatch_id
        result = subprocess.run(
            [
                TILIK,
                "dlq",
                "replay",
                "--kind",
                "delivery_failed",
                "--id",
                dispatch_id,
                "--bootstrap",
                kafka_bootstrap,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert "1 dead letter(s) replayed" in result.stdout

        async def arrived() -> None:
            while not any(d.dispatch_id == dispatch_id for d in receiver.state.accepted):
                await asyncio.sleep(0.2)

        await asyncio.wait_for(arrived(), 30)
        await audit.wait_for(lambda v: any(a.action == "dlq_replay" for a in v), 10)
    finally:
        receiver.refuse_cameras.discard(camera.camera_id)
        await dlq.stop()
        await audit.stop()


async def test_an_acknowledgement_naming_another_agency_is_dead_lettered(
    worker: WorkerProcess, kafka_bootstrap: str
) -> None:
    dlq = await watch(kafka_bootstrap, DEAD_LETTERS)
    marker = f"alr-{uuid.uuid4().hex[:24]}"
    try:
        async with CatalogProducer(kafka_bootstrap) as producer:
            # On polisi's topic (only polisi's principal and the hub may write it), for satpol-pp.
            meta = await producer.send(
                ack_spec("polisi"),
                AlertAck(alert_id=marker, agency="satpol-pp", acked_at=datetime.now(UTC)),
            )
        values = await dlq.wait_for(lambda v: any(marker in d.payload for d in v), 30)
        letter = next(d for d in values if marker in d.payload)
        assert letter.kind == "invalid_message"
        assert (letter.source_topic, letter.source_offset) == (
            ack_spec("polisi").name,
            meta.offset,
        )
        assert "must name agency 'polisi', not 'satpol-pp'" in letter.reason
    finally:
        await dlq.stop()


async def test_an_acknowledgement_from_an_agency_the_alert_was_not_dispatched_to_is_refused(
    worker: WorkerProcess, kafka_bootstrap: str, kafka_principals: Principals
) -> None:
    """dishub acknowledges as itself, on its own topic, an alert sent to polisi: refused, and the
    alert escalates to satpol-pp as if nobody had acknowledged."""
    camera = new_camera()
    polisi = await watch(kafka_bootstrap, dispatch_spec("polisi"))
    satpol = await watch(kafka_bootstrap, dispatch_spec("satpol-pp"))
    dlq = await watch(kafka_bootstrap, DEAD_LETTERS)
    try:
        async with CatalogProducer(kafka_bootstrap) as producer:
            await producer.send(CAMERA_REGISTRY, camera)
            await producer.send(DEVICE_EVENTS, device_event(camera.camera_id, EventKind.TAMPER))
        values = await polisi.wait_for(dispatched(camera.camera_id), 30)
        alert_id = next(d for d in values if d.alert.camera_id == camera.camera_id).alert.alert_id
        dishub = kafka_principals.issue(agency_role("dishub"))
        async with CatalogProducer(kafka_bootstrap, settings=Principals.settings(dishub)) as agency:
            meta = await agency.send(
                ack_spec("dishub"),
                AlertAck(alert_id=alert_id, agency="dishub", acked_at=datetime.now(UTC)),
            )
        letters = await dlq.wait_for(
            lambda v: any(
                d.source_topic == ack_spec("dishub").name and alert_id in d.payload for d in v
            ),
            30,
        )
        letter = next(d for d in letters if alert_id in d.payload)
        assert (letter.kind, letter.source_offset) == ("invalid_message", meta.offset)
        assert (
            letter.reason
            == f"acknowledgement by 'dishub' refused: alert {alert_id} was not dispatched to it"
        )
        await satpol.wait_for(dispatched(camera.camera_id, level=1), 30)
    finally:
        for w in (polisi, satpol, dlq):
            await w.stop()


async def test_invalid_event_is_dead_lettered_and_the_worker_keeps_going(
    worker: WorkerProcess, kafka_bootstrap: str
) -> None:
    camera = new_camera()
    dlq = await watch(kafka_bootstrap, DEAD_LETTERS)
    alerts = await watch(kafka_bootstrap, ALERTS)
    marker = uuid.uuid4().hex
    try:
        async with CatalogProducer(kafka_bootstrap) as producer:
            await producer.send(CAMERA_REGISTRY, camera)
            meta = await producer.send_raw(
                DEVICE_EVENTS.name,
                b'{"not": "an event", "marker": "' + marker.encode() + b'"}',
                key=camera.camera_id.encode(),
            )
            await producer.send(DEVICE_EVENTS, device_event(camera.camera_id, EventKind.TAMPER))
        values = await dlq.wait_for(lambda v: any(marker in d.payload for d in v), 30)
        letter = next(d for d in values if marker in d.payload)
        assert letter.kind == "invalid_message"
        assert letter.source_topic == DEVICE_EVENTS.name
        assert (letter.source_partition, letter.source_offset) == (meta.partition, meta.offset)
        assert "DeviceEvent" in letter.reason
        await alerts.wait_for(for_camera(camera.camera_id, rule_id="t-tamper"), 30)
        worker.check_alive()
    finally:
        await dlq.stop()
        await alerts.stop()


async def test_events_of_a_revoked_camera_are_dropped_and_audited(
    worker: WorkerProcess, kafka_bootstrap: str
) -> None:
    camera = new_camera()
    alerts = await watch(kafka_bootstrap, ALERTS)
    audit = await watch(kafka_bootstrap, AUDIT)
    try:
        async with CatalogProducer(kafka_bootstrap) as producer:
            await producer.send(CAMERA_REGISTRY, camera)
            await producer.send(CAMERA_REGISTRY, None, key=camera.camera_id)
            await asyncio.sleep(1.0)
            event = device_event(camera.camera_id, EventKind.TAMPER)
            await producer.send(DEVICE_EVENTS, event)
        await audit.wait_for(
            lambda v: any(
                a.subject == camera.camera_id and a.details.get("event_id") == event.event_id
                for a in v
            ),
            30,
        )
        assert not for_camera(camera.camera_id)(alerts.values())
    finally:
        await alerts.stop()
        await audit.stop()


async def test_camera_goes_offline_by_timer_and_recovers(
    worker: WorkerProcess, kafka_bootstrap: str
) -> None:
    camera = new_camera("Gajahmungkur")
    alerts = await watch(kafka_bootstrap, ALERTS)
    try:
        async with CatalogProducer(kafka_bootstrap) as producer:
            await producer.send(CAMERA_REGISTRY, camera)
            await producer.send(CAMERA_STATUS, online(camera.camera_id))
            coverage = await _coverage(worker)
            district = coverage["kecamatan"]["Gajahmungkur"]
            assert district["registered"] >= 1 and district["online"] >= 1
            # No further message: only the timer can notice the silence (offline after 3 s).
            values = await alerts.wait_for(for_camera(camera.camera_id, status="opened"), 30)
            opened = next(a for a in values if a.camera_id == camera.camera_id)
            assert opened.category == "camera_offline"
            await producer.send(CAMERA_STATUS, online(camera.camera_id))
        values = await alerts.wait_for(for_camera(camera.camera_id, status="resolved"), 30)
        resolved = next(
            a
            for a in values
            if a.camera_id == camera.camera_id and a.status == AlertStatus.RESOLVED
        )
        assert resolved.alert_id == opened.alert_id and resolved.sequence == 1
        result = subprocess.run(
            [TILIK, "coverage", "--url", worker.url, "--json"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert '"Gajahmungkur"' in result.stdout
    finally:
        await alerts.stop()


async def test_alerts_command_folds_lifecycles(worker: WorkerProcess, kafka_bootstrap: str) -> None:
    camera = new_camera("Candisari")
    alerts = await watch(kafka_bootstrap, ALERTS)
    try:
        async with CatalogProducer(kafka_bootstrap) as producer:
            await producer.send(CAMERA_REGISTRY, camera)
            await producer.send(
                DEVICE_EVENTS, device_event(camera.camera_id, EventKind.PEOPLE_COUNT, count=30)
            )
            await alerts.wait_for(for_camera(camera.camera_id, status="opened"), 30)
            await producer.send(
                DEVICE_EVENTS, device_event(camera.camera_id, EventKind.PEOPLE_COUNT, count=1)
            )
            await alerts.wait_for(for_camera(camera.camera_id, status="resolved"), 30)
    finally:
        await alerts.stop()
    import json

    run = [
        TILIK,
        "alerts",
        "--kecamatan",
        "Candisari",
        "--json",
        "--bootstrap",
        kafka_bootstrap,
        "--max",
        "10000",
    ]
    every = json.loads(
        subprocess.run(run, capture_output=True, text=True, timeout=240, check=True).stdout
    )
    mine = [a for a in every if a["camera_id"] == camera.camera_id and a["rule_id"] == "t-crowd"]
    assert len(mine) == 1 and mine[0]["status"] == "resolved"
    still_open = json.loads(
        subprocess.run(
            [*run, "--open"], capture_output=True, text=True, timeout=240, check=True
        ).stdout
    )
    assert not [
        a for a in still_open if a["camera_id"] == camera.camera_id and a["rule_id"] == "t-crowd"
    ]
    # --since reads only recent states: the last hour has them, the last second no longer does.
    recent = json.loads(
        subprocess.run(
            [*run, "--since", "1h"], capture_output=True, text=True, timeout=240, check=True
        ).stdout
    )
    assert [
        a["status"]
        for a in recent
        if a["camera_id"] == camera.camera_id and a["rule_id"] == "t-crowd"
    ] == ["resolved"]
    await asyncio.sleep(1.5)
    none = json.loads(
        subprocess.run(
            [*run, "--since", "1s"], capture_output=True, text=True, timeout=240, check=True
        ).stdout
    )
    assert not [a for a in none if a["camera_id"] == camera.camera_id and a["rule_id"] == "t-crowd"]
    bad = subprocess.run([*run, "--since", "soon"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "not a duration" in bad.stderr


async def test_the_alert_list_says_which_agency_has_an_alert_and_whether_it_acknowledged(
    worker: WorkerProcess, kafka_bootstrap: str, kafka_principals: Principals
) -> None:
    camera = new_camera("Genuk")
    polisi = await watch(kafka_bootstrap, dispatch_spec("polisi"))
    try:
        async with CatalogProducer(kafka_bootstrap) as producer:
            await producer.send(CAMERA_REGISTRY, camera)
            await producer.send(DEVICE_EVENTS, device_event(camera.camera_id, EventKind.TAMPER))
        values = await polisi.wait_for(dispatched(camera.camera_id), 30)
        alert_id = next(d for d in values if d.alert.camera_id == camera.camera_id).alert.alert_id
    finally:
        await polisi.stop()
    polisi_config = kafka_principals.issue(agency_role("polisi"))
    async with CatalogProducer(
        kafka_bootstrap, settings=Principals.settings(polisi_config)
    ) as agency:
        await agency.send(
            ack_spec("polisi"),
            AlertAck(
                alert_id=alert_id, agency="polisi", acked_at=datetime.now(UTC), acked_by="desk"
            ),
        )
    import json

    run = [TILIK, "alerts", "--kecamatan", "Genuk", "--bootstrap", kafka_bootstrap, "--since", "1h"]

    def listed(*extra: str) -> str:
        return subprocess.run(
            [*run, *extra], capture_output=True, text=True, timeout=240, check=True
        ).stdout

    for _ in range(50):
        mine = [
            a
            for a in json.loads(listed("--agency", "polisi", "--json"))
            if a["alert_id"] == alert_id
        ]
        if mine and mine[0]["acknowledged"]:
            break
        await asyncio.sleep(0.2)
    [row] = mine
    assert row["camera_id"] == camera.camera_id
    polisi_row = next(a for a in row["agencies"] if a["agency"] == "polisi")
    assert (polisi_row["state"], polisi_row["acknowledged_by"]) == ("acknowledged", "desk")
    assert alert_id not in listed("--agency", "dishub", "--json")
    table = [line for line in listed().splitlines() if alert_id in line]
    assert len(table) == 1 and camera.camera_id in table[0] and "polisi:acknowledged" in table[0]


async def _coverage(worker: WorkerProcess) -> dict:  # type: ignore[type-arg]
    async with aiohttp.ClientSession() as session:
        for _ in range(50):
            async with session.get(f"{worker.url}/coverage") as response:
                body = await response.json()
            if body["kecamatan"].get("Gajahmungkur", {}).get("online"):
                return body  # type: ignore[no-any-return]
            await asyncio.sleep(0.2)
    return body  # type: ignore[no-any-return]


_ = timedelta


async def test_an_acknowledgement_through_the_http_api_stops_escalation(
    worker: WorkerProcess, kafka_bootstrap: str, kafka_principals: Principals
) -> None:
    """An agency at its desk acknowledges through ``tilik api`` with its API key: the hub takes
    it as the agency's and does not escalate, while the alert nobody acknowledged escalates."""
    from contextlib import ExitStack

    import httpx
    from api_server import api_settings, issue_key, running_api

    from topics.access.roles import api_role
    from topics.models import ApiKeyKind

    ignored, acked = new_camera(), new_camera()
    polisi = await watch(kafka_bootstrap, dispatch_spec("polisi"))
    satpol = await watch(kafka_bootstrap, dispatch_spec("satpol-pp"))
    service = ExitStack()
    try:
        # Up, and the agency's inbox open, before the alert: the limit is 3 s.
        api = await asyncio.to_thread(
            service.enter_context, running_api(api_settings(kafka_principals.issue(api_role())))
        )
        key = await asyncio.to_thread(issue_key, ApiKeyKind.AGENCY, "polisi")
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=30) as http:
            assert (await http.get("/agency/dispatches")).status_code == 200
            async with CatalogProducer(kafka_bootstrap) as producer:
                await producer.send(CAMERA_REGISTRY, acked)
                await producer.send(DEVICE_EVENTS, device_event(acked.camera_id, EventKind.TAMPER))
                values = await polisi.wait_for(dispatched(acked.camera_id), 30)
                first = next(d for d in values if d.alert.camera_id == acked.camera_id)
                path = f"/agency/dispatches/{first.dispatch_id}"
                while (await http.get(path)).status_code != 200:
                    await asyncio.sleep(0.05)
                answer = await http.post(f"{path}/ack", json={"acked_by": "desk"})
                assert answer.status_code == 200 and answer.json()["status"] == "acknowledged"
                # Then an alert nobody acknowledges: its deadline is after the acknowledged one's.
                await producer.send(CAMERA_REGISTRY, ignored)
                await producer.send(
                    DEVICE_EVENTS, device_event(ignored.camera_id, EventKind.TAMPER)
                )
        await satpol.wait_for(dispatched(ignored.camera_id, level=1), 30)
        # The escalation check that escalated the later alert had the acknowledged one due too.
        assert not dispatched(acked.camera_id)(await satpol.caught_up())
    finally:
        await polisi.stop()
        await satpol.stop()
        await asyncio.to_thread(service.close)


async def _metrics(worker: WorkerProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The worker's /metrics as (sample name, labels) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    async with aiohttp.ClientSession() as session, session.get(f"{worker.url}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_the_worker_serves_its_metrics(
    worker: WorkerProcess, receiver: ReceiverThread, kafka_bootstrap: str
) -> None:
    """Events in, alerts out, deliveries by outcome, escalations, rule-evaluation time and lag
    per partition, scraped from a real worker."""
    before = await _metrics(worker)
    camera = new_camera()
    receiver.state.acknowledge = False  # delivered, never acknowledged: polisi gets it too
    polisi = await watch(kafka_bootstrap, dispatch_spec("polisi"))
    try:
        async with CatalogProducer(kafka_bootstrap) as producer:
            await producer.send(CAMERA_REGISTRY, camera)
            await producer.send(
                DEVICE_EVENTS,
                device_event(camera.camera_id, EventKind.FLOOD_LEVEL, flood_level_cm=70),
            )
        await polisi.wait_for(dispatched(camera.camera_id, level=1), 30)
    finally:
        await polisi.stop()
    after = await _metrics(worker)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("tilik_hub_events_in_total", topic=DEVICE_EVENTS.name) >= 1
    assert grew("tilik_hub_alerts_total", status="opened") >= 1
    assert grew("tilik_hub_deliveries_total", agency="bpbd", outcome="delivered") >= 1
    assert grew("tilik_hub_escalations_total", agency="polisi") >= 1
    assert grew("tilik_hub_rule_evaluation_seconds_count") >= 1
    lag = {
        int(dict(labels)["partition"]): value
        for (name, labels), value in after.items()
        if name == "tilik_hub_consumer_lag" and dict(labels)["topic"] == DEVICE_EVENTS.name
    }
    assert sorted(lag) == list(range(DEVICE_EVENTS.partitions))
    assert all(value >= 0 for value in lag.values())
    uncommitted = {
        int(dict(labels)["partition"]): value
        for (name, labels), value in after.items()
        if name == "tilik_hub_uncommitted_records" and dict(labels)["topic"] == DEVICE_EVENTS.name
    }
    assert uncommitted and all(value >= 0 for value in uncommitted.values())
    assert after[("process_open_fds", ())] > 0

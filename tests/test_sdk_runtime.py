"""The connector runtime on a real broker with real simulated devices: onboarding, watching,
revocation, unknown events, and two processes sharing the registry partitions."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sdk_helpers import TopicTail, eventually, running, unique_connector
from structlog.testing import capture_logs

from connectors.onvif.connector import OnvifConnector
from connectors.sdk.base import Connector, ConnectorConfig
from connectors.sdk.example.connector import VENDOR
from connectors.sdk.example.simulator import running_recorder
from connectors.sdk.onboard import OnboardOptions, onboard
from connectors.sdk.runtime import RuntimeOptions, WatchService
from connectors.sdk.simulation.device import MALFORMED_BODY
from topics.admin import apply_catalog
from topics.catalog import (
    AUDIT,
    CAMERA_REGISTRY,
    CAMERA_STATUS,
    DEAD_LETTERS,
    DEVICE_EVENTS,
    all_topics,
)
from topics.client import CatalogProducer
from topics.examples import camera_record
from topics.identity import camera_id, device_id
from topics.models import (
    AuditRecord,
    CameraRecord,
    CameraStatus,
    DeadLetter,
    DeadLetterKind,
    DeviceEvent,
    EventKind,
)

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def catalog(kafka_bootstrap: str) -> str:
    apply_catalog(all_topics(), bootstrap=kafka_bootstrap, replication_factor=1)
    return kafka_bootstrap


@pytest.fixture
async def tails(catalog: str) -> AsyncIterator[dict[str, TopicTail]]:
    opened = {
        spec.name: await TopicTail(catalog, spec).start()
        for spec in (CAMERA_REGISTRY, CAMERA_STATUS, DEVICE_EVENTS, DEAD_LETTERS, AUDIT)
    }
    yield opened
    for tail in opened.values():
        await tail.stop()


def _cams(serial: str, channels: int) -> list[str]:
    return [camera_id(vendor=VENDOR, serial=serial, channel=n) for n in range(1, channels + 1)]


def _config(port: int, env: str) -> dict[str, object]:
    return {
        "address": f"127.0.0.1:{port}",
        "credential_ref": f"admin@env:{env}",
        "timeout_s": 3,
        "reconnect_initial_s": 0.1,
    }


def _malformed(letter: DeadLetter) -> bool:
    """Whether the dead letter carries the simulator's malformed answer."""
    payload = (
        base64.b64decode(letter.payload)
        if letter.payload_encoding == "base64"
        else letter.payload.encode()
    )
    return payload.startswith(MALFORMED_BODY[:16])


async def test_onboard_publishes_cameras_and_reports_each_failure_once(
    catalog: str, tails: dict[str, TopicTail], monkeypatch: pytest.MonkeyPatch
) -> None:
    connector = unique_connector()
    async with (
        running_recorder(channels=3) as good,
        running_recorder() as locked,
        running_recorder() as broken,
    ):
        good_serial = good.serial
        good_port, locked_port, broken_port = good.port, locked.port, broken.port
        broken.set_corruption("malformed")
        monkeypatch.setenv("TILIK_CAMERA_SECRET_GOOD_PASS", good.password)
        monkeypatch.setenv("TILIK_CAMERA_SECRET_WRONG_PASS", "wrong-" + uuid.uuid4().hex)
        monkeypatch.setenv("TILIK_CAMERA_SECRET_BROKEN_PASS", broken.password)
        configs = [
            _config(good_port, "TILIK_CAMERA_SECRET_GOOD_PASS"),
            _config(locked_port, "TILIK_CAMERA_SECRET_WRONG_PASS"),
            _config(broken_port, "TILIK_CAMERA_SECRET_BROKEN_PASS"),
            {
                **_config(1, "TILIK_CAMERA_SECRET_GOOD_PASS")
            },  # nothing listens: retried, then failed
            {"address": "127.0.0.1:2", "password": good.password},  # invalid: a plaintext password
        ]
        with capture_logs() as logs:
            async with CatalogProducer(catalog) as producer:
                summary = await onboard(
                    connector,
                    configs,
                    producer=producer,
                    options=OnboardOptions(
                        attempts=2, backoff_initial_s=0.05, actor="operator-ani"
                    ),
                )

    assert summary.published == {f"127.0.0.1:{good_port}": _cams(good_serial, 3)}
    assert summary.dead_lettered == [f"127.0.0.1:{broken_port}"]
    # Every device that was not onboarded is listed once, with its reason and what went wrong.
    assert set(summary.failed) == {
        "127.0.0.1:1",
        "127.0.0.1:2",
        f"127.0.0.1:{locked_port}",
        f"127.0.0.1:{broken_port}",
    }
    locked = summary.failed[f"127.0.0.1:{locked_port}"]
    assert locked.error_type == "AuthenticationError" and "credentials" in locked.reason
    assert "after 2 attempts" in summary.failed["127.0.0.1:1"].reason
    assert "password" in summary.failed["127.0.0.1:2"].reason
    assert set(summary.as_dict()) >= {"published", "failed"}
    assert "unauthorized" not in summary.as_dict()

    records = await tails[CAMERA_REGISTRY.name].wait_for(
        lambda _k, v: isinstance(v, CameraRecord) and v.serial == good_serial, count=3
    )
    assert sorted(k for k, _ in records) == sorted(_cams(good_serial, 3))
    letters = await tails[DEAD_LETTERS.name].wait_for(
        lambda _k, v: (
            isinstance(v, DeadLetter)
            and v.component == f"connector.{connector.name}"
            and v.source_device == f"127.0.0.1:{broken_port}"
        )
    )
    letter = letters[0][1]
    assert isinstance(letter, DeadLetter)
    assert letter.kind == DeadLetterKind.DEVICE_INPUT
    assert _malformed(letter)

    # One audit record per camera registered: who, which camera, which device.
    good_device = device_id(vendor=VENDOR, serial=good_serial)
    audits = await tails[AUDIT.name].wait_for(
        lambda _k, v: isinstance(v, AuditRecord) and v.details.get("device_id") == good_device,
        count=3,
    )
    assert {v.subject for _, v in audits if isinstance(v, AuditRecord)} == set(
        _cams(good_serial, 3)
    )
    for _, audit in audits:
        assert isinstance(audit, AuditRecord)
        assert (audit.actor, audit.action) == ("operator-ani", "camera_registered")
        assert audit.details["address"] == f"127.0.0.1:{good_port}"
    assert summary.audited == 3

    published = [str(v) for tail in tails.values() for _, v in tail.values]
    for secret in (good.password, broken.password):
        assert not any(secret in text for text in published)
        assert not any(secret in str(entry) for entry in logs)
        assert secret not in str(summary.as_dict())


def _options(group: str) -> RuntimeOptions:
    return RuntimeOptions(
        group_id=group, health_interval_s=0.5, backoff_initial_s=0.1, auth_retry_s=0.5
    )


async def _onboard(catalog: str, connector: type, configs: list[dict[str, object]]) -> None:
    async with CatalogProducer(catalog) as producer:
        summary = await onboard(connector, configs, producer=producer)
    assert summary.ok, summary.as_dict()


async def test_watch_publishes_health_events_unknown_events_and_honours_tombstones(
    catalog: str, tails: dict[str, TopicTail], monkeypatch: pytest.MonkeyPatch
) -> None:
    connector = unique_connector()
    async with running_recorder(channels=2) as recorder:
        cam0, cam1 = _cams(recorder.serial, 2)
        device = device_id(vendor=VENDOR, serial=recorder.serial)
        monkeypatch.setenv("TILIK_CAMERA_SECRET_WATCH_PASS", recorder.password)
        await _onboard(
            catalog, connector, [_config(recorder.port, "TILIK_CAMERA_SECRET_WATCH_PASS")]
        )
        service = WatchService(connector, bootstrap=catalog, options=_options(uuid.uuid4().hex))
        async with running(service):
            assert await eventually(lambda: service.watched_devices.get(device) == {cam0, cam1})

            recorder.offline_channels = {2}
            statuses = tails[CAMERA_STATUS.name]
            online = await statuses.wait_for(
                lambda _k, v: (
                    isinstance(v, CameraStatus) and v.camera_id == cam0 and v.state == "online"
                )
            )
            offline = await statuses.wait_for(
                lambda _k, v: (
                    isinstance(v, CameraStatus) and v.camera_id == cam1 and v.state == "offline"
                )
            )
            assert online and offline

            await recorder.emit("motion", channel=1)
            await recorder.emit("smoke", channel=1)
            events = await tails[DEVICE_EVENTS.name].wait_for(
                lambda _k, v: isinstance(v, DeviceEvent) and v.camera_id == cam0
            )
            event = events[0][1]
            assert isinstance(event, DeviceEvent) and event.kind == EventKind.MOTION
            unknown = await tails[DEAD_LETTERS.name].wait_for(
                lambda _k, v: isinstance(v, DeadLetter) and v.source_device == device
            )
            letter = unknown[0][1]
            assert isinstance(letter, DeadLetter)
            assert letter.kind == DeadLetterKind.UNKNOWN_EVENT
            assert '"smoke"' in letter.payload
            # The gaps in the tables are counted per vendor and model (tilik dlq unknown).
            assert {k: letter.headers.get(k) for k in ("vendor", "model", "vendor_topic")} == {
                "vendor": VENDOR,
                "model": "EXV-NVR4",
                "vendor_topic": "smoke",
            }

            # Revoking one channel stops its events at once; the device stays for the other.
            async with CatalogProducer(catalog) as producer:
                await producer.send(CAMERA_REGISTRY, None, key=cam1)
                assert await eventually(lambda: service.watched_devices.get(device) == {cam0})
                await recorder.emit("tamper", channel=2)
                await recorder.emit("line", channel=1)
                await tails[DEVICE_EVENTS.name].wait_for(
                    lambda _k, v: (
                        isinstance(v, DeviceEvent)
                        and v.kind == EventKind.LINE_CROSSING
                        and v.camera_id == cam0
                    )
                )
                assert not [
                    v
                    for _k, v in tails[DEVICE_EVENTS.name].values
                    if isinstance(v, DeviceEvent) and v.camera_id == cam1
                ]
                await producer.send(CAMERA_REGISTRY, None, key=cam0)
                assert await eventually(lambda: device not in service.watched_devices)

        assert service.metrics.events >= 2
        assert service.metrics.unparsed >= 1
        assert service.metrics.statuses >= 2


async def test_acknowledged_event_sends_are_not_held_by_a_watched_device(
    catalog: str, tails: dict[str, TopicTail], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Memory per watched camera: a device that sent a few events and went quiet keeps none of
    # their acknowledgements (the window of unacknowledged sends is for bursts, not history).
    connector = unique_connector()
    async with running_recorder(channels=1) as recorder:
        (cam,) = _cams(recorder.serial, 1)
        device = device_id(vendor=VENDOR, serial=recorder.serial)
        monkeypatch.setenv("TILIK_CAMERA_SECRET_ACKS_PASS", recorder.password)
        await _onboard(
            catalog, connector, [_config(recorder.port, "TILIK_CAMERA_SECRET_ACKS_PASS")]
        )
        service = WatchService(connector, bootstrap=catalog, options=_options(uuid.uuid4().hex))
        async with running(service):
            assert await eventually(lambda: service.watched_devices.get(device) == {cam})
            for sent in range(1, 6):
                await recorder.emit("motion", channel=1)
                seen = await tails[DEVICE_EVENTS.name].wait_for(
                    lambda _k, v: isinstance(v, DeviceEvent) and v.camera_id == cam, count=sent
                )
                assert len(seen) >= sent
            # Every send but possibly the last was seen acknowledged and let go.
            assert len(service._devices[device].in_flight) <= 1


async def test_two_processes_split_devices_and_take_over_on_leave(
    catalog: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lifecycle: list[tuple[str, Connector[Any]]] = []  # in order: ("open" | "closed", instance)

    class Recording(unique_connector()):  # type: ignore[misc]
        def __init__(self, config: Any, *, state: dict[str, Any] | None = None) -> None:
            super().__init__(config, state=state)
            lifecycle.append(("open", self))

        async def close(self) -> None:
            await super().close()
            lifecycle.append(("closed", self))

    connector = Recording
    serials = []
    group = uuid.uuid4().hex
    async with contextlib.AsyncExitStack() as stack:
        configs = []
        for n in range(6):
            recorder = await stack.enter_async_context(running_recorder(channels=2))
            serials.append(recorder.serial)
            monkeypatch.setenv(f"TILIK_CAMERA_SECRET_SPLIT_{n}", recorder.password)
            configs.append(_config(recorder.port, f"TILIK_CAMERA_SECRET_SPLIT_{n}"))
        await _onboard(catalog, connector, configs)
        every_camera = {cam for serial in serials for cam in _cams(serial, 2)}

        def cameras(service: WatchService) -> set[str]:
            return {cam for cams in service.watched_devices.values() for cam in cams}

        first = WatchService(connector, bootstrap=catalog, options=_options(group))
        second = WatchService(connector, bootstrap=catalog, options=_options(group))
        async with running(first):
            assert await eventually(lambda: cameras(first) == every_camera, timeout_s=30)
            async with running(second):
                split = await eventually(
                    lambda: (
                        cameras(second)
                        and cameras(first) | cameras(second) == every_camera
                        and not cameras(first) & cameras(second)
                    ),
                    timeout_s=45,
                )
                assert split, (cameras(first), cameras(second))
                assert first.assigned_partitions.isdisjoint(second.assigned_partitions)
                # Every device that moved was closed by the first before the second opened it.
                # A recorder whose channels sit on partitions of both processes is watched by
                # both, each for its own channels (disjoint, asserted above): not a move.
                split_recorders = {w.connector.config.address for w in first._devices.values()}
                for watch in second._devices.values():
                    if watch.connector.config.address in split_recorders:
                        continue
                    opened = lifecycle.index(("open", watch.connector))
                    earlier = {
                        id(c)
                        for act, c in lifecycle[:opened]
                        if act == "open" and c.config.address == watch.connector.config.address
                    }
                    closed = {id(c) for act, c in lifecycle[:opened] if act == "closed"}
                    assert earlier <= closed, "a device was opened before its old owner closed it"
            # The second process left: its cameras come back to the first.
            assert await eventually(lambda: cameras(first) == every_camera, timeout_s=45)


async def test_watch_keeps_bad_input_reports_refused_credentials_and_recovers(
    catalog: str, tails: dict[str, TopicTail], monkeypatch: pytest.MonkeyPatch
) -> None:
    connector = unique_connector()
    async with running_recorder(channels=2) as recorder:
        cam0, cam1 = _cams(recorder.serial, 2)
        device = device_id(vendor=VENDOR, serial=recorder.serial)
        monkeypatch.setenv("TILIK_CAMERA_SECRET_FAULT_PASS", recorder.password)
        await _onboard(
            catalog, connector, [_config(recorder.port, "TILIK_CAMERA_SECRET_FAULT_PASS")]
        )
        service = WatchService(connector, bootstrap=catalog, options=_options(uuid.uuid4().hex))
        async with running(service):
            assert await eventually(lambda: service.watched_devices.get(device) == {cam0, cam1})

            recorder.set_corruption("malformed")
            letters = await tails[DEAD_LETTERS.name].wait_for(
                lambda _k, v: (
                    isinstance(v, DeadLetter)
                    and v.source_device == device
                    and v.kind == DeadLetterKind.DEVICE_INPUT
                )
            )
            letter = letters[0][1]
            assert isinstance(letter, DeadLetter) and _malformed(letter)
            assert await tails[CAMERA_STATUS.name].wait_for(
                lambda _k, v: (
                    isinstance(v, CameraStatus) and v.camera_id == cam0 and v.state == "degraded"
                )
            )

            # The device rotates its password: the cameras are reported unauthorized.
            real_password = recorder.password
            recorder.users[recorder.username] = "rotated-" + uuid.uuid4().hex
            recorder.set_corruption("normal")
            assert await tails[CAMERA_STATUS.name].wait_for(
                lambda _k, v: (
                    isinstance(v, CameraStatus)
                    and v.camera_id == cam1
                    and v.state == "unauthorized"
                )
            )

            # Put right again, the same service recovers without a restart.
            recorder.users[recorder.username] = real_password
            assert await tails[CAMERA_STATUS.name].wait_for(
                lambda _k, v: (
                    isinstance(v, CameraStatus)
                    and v.camera_id == cam0
                    and v.state == "online"
                    and v.checked_at.timestamp() > letter.failed_at.timestamp()
                )
            )
            await recorder.emit("motion", channel=2)
            assert await tails[DEVICE_EVENTS.name].wait_for(
                lambda _k, v: isinstance(v, DeviceEvent) and v.camera_id == cam1
            )
        assert service.metrics.dead_letters >= 1
        assert service.metrics.errors.get("DeviceDataError", 0) >= 1
        published = [str(v) for tail in tails.values() for _, v in tail.values]
        assert not any(real_password in text for text in published)


async def test_addresses_outside_the_network_policy_are_refused_before_any_connection(
    catalog: str,
) -> None:
    # Documentation and public addresses, a host name: nothing is ever sent to them (refused
    # by the policy before a connection is opened).
    connector = unique_connector()
    configs: list[dict[str, object]] = [
        {"address": "203.0.113.7:80", "credential_ref": "admin@env:TILIK_CAMERA_SECRET_NOPE"},
        {"address": "nvr.example.com:80", "credential_ref": "admin@env:TILIK_CAMERA_SECRET_NOPE"},
        {"address": "169.254.169.254:80"},
    ]
    async with CatalogProducer(catalog) as producer:
        summary = await onboard(connector, configs, producer=producer)
    assert not summary.published
    assert "not in the allowed networks" in summary.failed["203.0.113.7:80"].reason
    assert "not host names" in summary.failed["nvr.example.com:80"].reason
    assert "169.254.169.254:80" in summary.failed

    # A registry record is input too: the runtime refuses to watch an address outside the policy.
    serial = "EXV-" + uuid.uuid4().hex[:10].upper()
    record = camera_record(serial).model_copy(
        update={
            "camera_id": camera_id(vendor=VENDOR, serial=serial, channel=1),
            "connector": connector.name,
            "device_id": device_id(vendor=VENDOR, serial=serial),
            "address": "203.0.113.7:80",
        }
    )
    async with CatalogProducer(catalog) as producer:
        await producer.send(CAMERA_REGISTRY, record)
    service = WatchService(connector, bootstrap=catalog, options=_options(uuid.uuid4().hex))
    with capture_logs() as logs:
        async with running(service):
            assert await eventually(
                lambda: any(
                    entry["event"] == "device cannot be watched"
                    and "refusing to reach 203.0.113.7:80" in entry["reason"]
                    for entry in logs
                )
            )
            assert record.device_id not in service.watched_devices


def _local_records(count: int, offset: int = 0) -> list[CameraRecord]:
    """Registry records of ``count`` single-camera devices at a closed loopback port (nothing
    answers there: watching them only retries)."""
    return [
        camera_record(seed).model_copy(update={"address": "127.0.0.1:9"})
        for seed in range(offset, offset + count)
    ]


@contextlib.asynccontextmanager
async def _watching(
    catalog: str, connector: type[Connector[Any]], records: list[CameraRecord]
) -> AsyncIterator[WatchService]:
    """``watch_records`` (no registry, no group) over these records, for the block."""
    service = WatchService(connector, options=RuntimeOptions(health_interval_s=3600))
    stop = asyncio.Event()
    async with CatalogProducer(catalog, client_id="test-watch-records") as producer:
        task = asyncio.create_task(service.watch_records(records, producer, stop))
        try:
            assert await eventually(service.ready.is_set)
            yield service
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)


async def test_a_registry_change_makes_only_its_own_device_config_again(
    catalog: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Catching up on a large registry must cost what changed, not the whole table per reconcile:
    # each record version's config is built once, when it arrives.
    monkeypatch.setenv("TILIK_CAMERA_SECRET_PASAR_JOHAR", "not-used")
    built: list[str] = []

    class Counting(OnvifConnector):
        @classmethod
        def config_from_record(cls, record: CameraRecord) -> ConnectorConfig:
            built.append(record.camera_id)
            return super().config_from_record(record)

    watched = _local_records(20)
    async with _watching(catalog, Counting, watched) as service:
        assert len(service.watched_devices) == 20
        assert sorted(built) == sorted(r.camera_id for r in watched)
        built.clear()
        (added,) = _local_records(1, offset=20)
        await service.watch_also([added])
        assert len(service.watched_devices) == 21
        assert built == [added.camera_id]


async def test_a_watched_camera_keeps_no_registry_record_alive(
    catalog: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Memory per watched camera: the runtime keeps what watching needs of a record (ids, version,
    # config), not the record (about 9.5 KB as a model).
    monkeypatch.setenv("TILIK_CAMERA_SECRET_PASAR_JOHAR", "not-used")
    records = _local_records(5, offset=100)
    ids = {r.camera_id for r in records}
    async with _watching(catalog, OnvifConnector, []) as service:
        await service.watch_also(records)
        del records
        gc.collect()
        assert {c for cams in service.watched_devices.values() for c in cams} == ids
        alive = [o for o in gc.get_objects() if isinstance(o, CameraRecord) and o.camera_id in ids]
        assert alive == []


async def test_the_registry_is_still_read_while_a_reconcile_waits(
    catalog: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Starting thousands of devices (their watch reports waiting on a lagging broker) must not
    # keep the consumer from polling: a consumer that stops polling for max.poll.interval leaves
    # its group, and the rebalance restarts every device.
    monkeypatch.setenv("TILIK_CAMERA_SECRET_PASAR_JOHAR", "not-used")
    name = f"onvif{uuid.uuid4().hex[:8]}"
    folded: list[str] = []

    class Counting(OnvifConnector):
        @classmethod
        def config_from_record(cls, record: CameraRecord) -> ConnectorConfig:
            folded.append(record.camera_id)  # called as the consumer loop folds a record in
            return super().config_from_record(record)

    connector = type(f"Onvif_{name}", (Counting,), {"name": name})
    gate = asyncio.Event()

    class Lagging(WatchService):
        async def _report(self, said: Any) -> None:
            if said:
                await gate.wait()  # the broker does not acknowledge the watch reports yet
            await super()._report(said)

    first, second = (
        r.model_copy(update={"connector": name}) for r in _local_records(2, offset=300)
    )
    service = Lagging(connector, bootstrap=catalog, options=_options(uuid.uuid4().hex))
    async with CatalogProducer(catalog) as producer, running(service):
        try:
            assert await eventually(service.ready.is_set, 60)  # a fresh broker: groups are slow
            await producer.send(CAMERA_REGISTRY, first, key=first.camera_id)
            assert await eventually(lambda: first.device_id in service.watched_devices)
            # The reconcile that started the first device now waits on its report.
            await producer.send(CAMERA_REGISTRY, second, key=second.camera_id)
            assert await eventually(lambda: second.camera_id in folded), folded
            assert second.device_id not in service.watched_devices
        finally:
            gate.set()  # stopping the service reconciles (and reports) once more
        assert await eventually(lambda: second.device_id in service.watched_devices)

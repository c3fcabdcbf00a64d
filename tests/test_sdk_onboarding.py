"""The one onboarding pipeline on a real broker with simulated devices: a second onboarding keeps
what is known, every change is audited, per-channel sharing survives, a failed attempt changes
nothing, the whole connector config reaches the runtime, the runtime's word on credential
references reaches onboarding, and a removed camera stays removed when the network is scanned."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import ssl
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
from sdk_helpers import TopicTail, running, unique_connector

from connectors.onvif.onboard_run import OnboardOutcome, OnboardRequest, run_onboarding
from connectors.onvif.simulator import OnvifFleet
from connectors.private_vendors.kits import VENDORS
from connectors.sdk.example.connector import VENDOR, ExampleConnector
from connectors.sdk.example.simulator import ExampleDevice, ExampleSimulator, running_recorder
from connectors.sdk.netpolicy import ProbePolicy
from connectors.sdk.onboard import OnboardOptions, OnboardSummary, onboard
from connectors.sdk.runtime import RuntimeOptions, WatchService
from connectors.sdk.upgrade import upgrade_registry
from connectors.sdk.watchcheck import runtime_members
from core.localkafka.tls import TlsFiles, ensure_tls
from topics.admin import apply_catalog
from topics.catalog import (
    AUDIT,
    CAMERA_REGISTRY,
    CAMERA_REGISTRY_V1,
    CAMERA_REMOVALS,
    CAMERA_STATUS,
    all_topics,
)
from topics.client import CatalogProducer, read_table
from topics.connection import connection_config
from topics.examples import camera_record
from topics.identity import camera_id
from topics.models import (
    AdminArea,
    AuditRecord,
    CameraRecord,
    CameraRemoval,
    CameraState,
    CameraStatus,
    Location,
    SharingLevel,
    utcnow,
)

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]

TILIK = str(Path(sys.executable).parent / "tilik")


@pytest.fixture(scope="module")
def catalog(kafka_bootstrap: str) -> str:
    apply_catalog(all_topics(), bootstrap=kafka_bootstrap, replication_factor=1)
    return kafka_bootstrap


def _cams(serial: str, channels: int) -> list[str]:
    return [camera_id(vendor=VENDOR, serial=serial, channel=n) for n in range(1, channels + 1)]


async def _onboard(
    connector: type, configs: list[dict[str, object]], **options: object
) -> OnboardSummary:
    async with CatalogProducer() as producer:
        return await onboard(
            connector,
            configs,
            producer=producer,
            options=OnboardOptions(backoff_initial_s=0.05, **options),  # type: ignore[arg-type]
        )


async def _registry(cameras: list[str]) -> dict[str, CameraRecord]:
    table = await read_table(CAMERA_REGISTRY)
    return {c: r for c in cameras if isinstance(r := table.get(c), CameraRecord)}


async def _tombstone(cameras: list[str]) -> None:
    async with CatalogProducer() as producer:
        for camera in cameras:
            await producer.send(CAMERA_REGISTRY, None, key=camera)


@pytest.fixture
async def recorder(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[ExampleDevice, str]]:
    """A two-channel recorder, its password in the camera secrets namespace; its config."""
    async with running_recorder(channels=2) as recorder:
        env = f"TILIK_CAMERA_SECRET_ONBOARD_{uuid.uuid4().hex[:8].upper()}"
        monkeypatch.setenv(env, recorder.password)
        yield recorder, f"127.0.0.1:{recorder.port}|admin@env:{env}"
    await _tombstone(_cams(recorder.serial, 2))


def _device(target: str, **fields: object) -> dict[str, object]:
    address, ref = target.split("|")
    return {"address": address, "credential_ref": ref, "timeout_s": 3, **fields}


async def test_a_second_onboarding_keeps_first_sighting_owner_sharing_and_operator_placement(
    catalog: str, recorder: tuple[ExampleDevice, str]
) -> None:
    device, target = recorder
    connector = unique_connector()
    cam0, cam1 = _cams(device.serial, 2)
    config = _device(target, sharing="live", location={"area": {"kecamatan": "Tugu"}})
    first = await _onboard(connector, [config])
    assert first.ok, first.as_dict()

    # The owner shares the first camera publicly; an operator names and places it.
    placed = Location(area=AdminArea(kecamatan="Gayamsari"), address="Pasar Gayamsari")
    known = (await _registry([cam0]))[cam0]
    async with CatalogProducer() as producer:
        await producer.send(
            CAMERA_REGISTRY,
            known.model_copy(
                update={"sharing": SharingLevel.PUBLIC, "name": "Gerbang", "location": placed}
            ),
        )

    second = await _onboard(connector, [config])
    assert second.ok, second.as_dict()
    registry = await _registry([cam0, cam1])
    assert (registry[cam0].sharing, registry[cam0].name, registry[cam0].location) == (
        SharingLevel.PUBLIC,
        "Gerbang",
        placed,
    )
    assert registry[cam1].sharing is SharingLevel.LIVE
    assert registry[cam1].location.area.kecamatan == "Tugu"
    for camera in (cam0, cam1):
        assert registry[camera].discovered_at == first.records[camera].discovered_at
        assert registry[camera].updated_at > first.records[camera].updated_at


async def _audit_end(bootstrap: str) -> int:
    """How many records the audit topic holds: every acknowledged send is counted."""
    consumer = AIOKafkaConsumer(**connection_config(bootstrap), group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(AUDIT.name, p) for p in range(AUDIT.partitions)]
        return sum((await consumer.end_offsets(tps)).values())
    finally:
        await consumer.stop()


async def test_each_change_is_audited_once_per_camera_and_no_change_is_not(
    catalog: str, recorder: tuple[ExampleDevice, str]
) -> None:
    device, target = recorder
    connector = unique_connector()
    cam0, cam1 = _cams(device.serial, 2)
    audits = await TopicTail(catalog, AUDIT).start()
    try:
        first = await _onboard(connector, [_device(target)], actor="operator-ani")
        registered = await audits.wait_for(
            lambda _k, v: isinstance(v, AuditRecord) and v.subject in (cam0, cam1), count=2
        )
        assert first.audited == 2
        for _, audit in registered:
            assert isinstance(audit, AuditRecord)
            assert (audit.actor, audit.action) == ("operator-ani", "camera_registered")
            assert audit.details["device_id"] == first.records[audit.subject].device_id

        # The owner shares one channel: one audit record, for that camera, saying what changed.
        config = _device(target, cameras=[{"channel": 1, "sharing": "public"}])
        second = await _onboard(connector, [config], actor="owner:toko-makmur")
        updated = await audits.wait_for(
            lambda _k, v: (
                isinstance(v, AuditRecord)
                and v.action == "camera_updated"
                and v.subject in (cam0, cam1)
            )
        )
        assert second.audited == 1
        [(_, audit)] = updated
        assert isinstance(audit, AuditRecord)
        assert (audit.subject, audit.actor, audit.details["fields"]) == (
            cam0,
            "owner:toko-makmur",
            "sharing",
        )
        assert (audit.details["sharing_was"], audit.details["sharing"]) == (
            "registry_only",
            "public",
        )

        # Onboarding again with nothing new changes nothing, so writes no audit record.
        before = await _audit_end(catalog)
        third = await _onboard(connector, [_device(target)], actor="operator-ani")
        assert third.ok and third.audited == 0
        assert await _audit_end(catalog) == before
    finally:
        await audits.stop()


async def test_per_channel_sharing_on_an_nvr_survives_reonboarding(
    catalog: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kit = VENDORS["hikvision"]
    password = "Nvr-Sharing-" + uuid.uuid4().hex[:6]
    monkeypatch.setenv("TILIK_CAMERA_SECRET_NVR_SHARING", password)
    async with kit.simulator(
        channels=4, password=password, event_rate=0, seed=random.randrange(10_000, 1_000_000)
    ) as sim:
        base = {
            "address": sim.addresses[0],
            "credential_ref": "admin@env:TILIK_CAMERA_SECRET_NVR_SHARING",
            "timeout_s": 3,
        }
        first = await _onboard(
            kit.connector,
            [
                {
                    **base,
                    "sharing": "alarm_live",
                    "cameras": [
                        {"channel": 1, "sharing": "public"},
                        {"channel": 2, "sharing": "live"},
                    ],
                }
            ],
        )
        assert first.ok, first.as_dict()
        by_channel = {r.channel: r.camera_id for r in first.records.values()}
        expected = {
            1: SharingLevel.PUBLIC,
            2: SharingLevel.LIVE,
            3: SharingLevel.ALARM_LIVE,
            4: SharingLevel.ALARM_LIVE,
        }

        async def sharing() -> dict[int, SharingLevel]:
            registry = await _registry(list(by_channel.values()))
            return {channel: registry[cam].sharing for channel, cam in by_channel.items()}

        assert await sharing() == expected
        # The same recorder again, with another device-wide level: every channel keeps its own.
        again = await _onboard(kit.connector, [{**base, "sharing": "registry_only"}])
        assert again.ok and await sharing() == expected
        # An entry naming one channel changes that channel only.
        third = await _onboard(
            kit.connector, [{**base, "cameras": [{"channel": 3, "sharing": "public"}]}]
        )
        assert third.ok and await sharing() == {**expected, 3: SharingLevel.PUBLIC}
        await _tombstone(list(by_channel.values()))


async def test_a_failed_second_onboarding_leaves_live_cameras_alone_and_is_listed_once(
    catalog: str, recorder: tuple[ExampleDevice, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    device, target = recorder
    connector = unique_connector()
    cams = _cams(device.serial, 2)
    address = target.split("|")[0]
    assert (await _onboard(connector, [_device(target)])).ok
    known = await _registry(cams)
    statuses = await TopicTail(catalog, CAMERA_STATUS).start()
    service = WatchService(
        connector,
        bootstrap=catalog,
        options=RuntimeOptions(group_id=uuid.uuid4().hex, health_interval_s=0.5),
    )
    try:
        async with running(service):
            for cam in cams:
                assert await statuses.wait_for(
                    lambda _k, v, cam=cam: (
                        isinstance(v, CameraStatus)
                        and (v.camera_id, v.state) == (cam, CameraState.ONLINE)
                    )
                )
            # Someone onboards the same address again with a mistyped password.
            monkeypatch.setenv("TILIK_CAMERA_SECRET_MISTYPED", device.password + "x")
            failed = await _onboard(
                connector,
                [_device(f"{address}|admin@env:TILIK_CAMERA_SECRET_MISTYPED")],
                attempts=1,
            )
            after = utcnow()
            # The cameras go on being watched, and are still reported online.
            for cam in cams:
                assert await statuses.wait_for(
                    lambda _k, v, cam=cam: (
                        isinstance(v, CameraStatus) and v.camera_id == cam and v.checked_at > after
                    )
                )
    finally:
        await statuses.stop()

    assert list(failed.failed) == [address] and not failed.published
    assert failed.failed[address].error_type == "AuthenticationError"
    assert [key for key, value in failed.as_dict().items() if address in str(value)] == ["failed"]
    assert await _registry(cams) == known  # the working registration is untouched
    seen = [v for _, v in statuses.values if isinstance(v, CameraStatus) and v.camera_id in cams]
    assert {s.state for s in seen} == {CameraState.ONLINE}


def _tilik_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "TILIK_LOG_FORMAT": "json", **extra}


async def _watcher(group: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    """``tilik connectors run example`` as its own process, with its own environment."""
    process = await asyncio.create_subprocess_exec(
        TILIK, "connectors", "run", "example", "--group", group, "--health-interval", "0.5",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    return process


async def _joined(bootstrap: str, group: str) -> None:
    """Wait until a runtime is a member of ``group``."""
    deadline = time.monotonic() + 60
    while not await runtime_members(bootstrap, group):
        assert time.monotonic() < deadline, f"no runtime joined {group}"
        await asyncio.sleep(0.2)


async def _stop(process: asyncio.subprocess.Process) -> bytes:
    if process.returncode is None:
        process.terminate()
    _, err = await asyncio.wait_for(process.communicate(), 60)
    return err


async def test_a_reference_the_watcher_cannot_resolve_is_reported_and_never_breaks_a_working_one(
    catalog: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The onboarding process has every password; the watching process only the shared one."""
    group = f"tilik-connector-test-{uuid.uuid4().hex[:8]}"
    only_here = f"TILIK_CAMERA_SECRET_ONLY_HERE_{uuid.uuid4().hex[:6].upper()}"
    also_only_here = f"TILIK_CAMERA_SECRET_ALSO_HERE_{uuid.uuid4().hex[:6].upper()}"
    shared = f"TILIK_CAMERA_SECRET_SHARED_{uuid.uuid4().hex[:6].upper()}"
    audits = await TopicTail(catalog, AUDIT).start()
    async with (
        running_recorder(channels=2) as lost,
        running_recorder(channels=2) as kept,
    ):
        lost_port, kept_port = lost.port, kept.port
        monkeypatch.setenv(only_here, lost.password)
        monkeypatch.setenv(shared, kept.password)
        monkeypatch.setenv(also_only_here, kept.password)
        watcher_env = _tilik_env()
        watcher_env.pop(only_here)
        watcher_env.pop(also_only_here)
        watcher = await _watcher(group, watcher_env)
        kept_config = {"address": f"127.0.0.1:{kept_port}", "credential_ref": f"admin@env:{shared}"}
        try:
            await _joined(catalog, group)
            summary = await _onboard(
                ExampleConnector,
                [
                    {
                        "address": f"127.0.0.1:{lost_port}",
                        "credential_ref": f"admin@env:{only_here}",
                    },
                    kept_config,
                ],
                verify_s=60,
                watch_group=group,
            )
            # The watched recorder onboarded again with a reference only this process resolves.
            again = await _onboard(
                ExampleConnector,
                [{**kept_config, "credential_ref": f"admin@env:{also_only_here}"}],
                verify_s=60,
                watch_group=group,
            )
            restored = await _registry(_cams(kept.serial, 2))
            audited = await audits.wait_for(
                lambda _k, v: isinstance(v, AuditRecord) and v.action == "camera_restored",
                count=2,
            )
        finally:
            err = await _stop(watcher)
            await audits.stop()
            await _tombstone(_cams(lost.serial, 2) + _cams(kept.serial, 2))

    assert set(summary.published) == {f"127.0.0.1:{lost_port}", f"127.0.0.1:{kept_port}"}
    assert set(summary.not_watched) == set(_cams(lost.serial, 2)), summary.as_dict()
    for reason in summary.not_watched.values():
        assert "credentials_unresolved" in reason and "environment variable is not set" in reason
        assert only_here in reason
    assert not summary.unconfirmed, summary.as_dict()
    assert not summary.ok

    assert set(again.not_watched) == set(_cams(kept.serial, 2)) and not again.ok
    assert all("restored" in reason for reason in again.not_watched.values())
    assert {r.credential_ref for r in restored.values()} == {f"admin@env:{shared}"}
    assert {v.subject for _, v in audited if isinstance(v, AuditRecord)} == set(
        _cams(kept.serial, 2)
    )
    assert lost.password.encode() not in err and kept.password.encode() not in err


async def test_onboarding_says_at_once_when_no_runtime_will_watch(
    catalog: str, recorder: tuple[ExampleDevice, str]
) -> None:
    device, target = recorder
    started = time.monotonic()
    summary = await _onboard(unique_connector(), [_device(target)], verify_s=60)
    assert time.monotonic() - started < 30  # not the minute it would wait for an answer
    assert summary.ok
    assert set(summary.unconfirmed) == set(_cams(device.serial, 2))
    assert all("has no members" in reason for reason in summary.unconfirmed.values())


@contextlib.asynccontextmanager
async def tls_recorder(recorder: ExampleDevice, tls: Path) -> AsyncIterator[tuple[int, Path]]:
    """The recorder over HTTPS only, with a certificate from a CA of its own; yields the port
    and the CA file a client must trust. A plain-HTTP request is refused in the handshake."""
    files = TlsFiles(tls)
    ensure_tls(files, "127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.keystore)
    runner = web.AppRunner(recorder.application(), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    try:
        yield int(runner.addresses[0][1]), files.ca
    finally:
        await runner.cleanup()


@pytest.mark.slow
async def test_a_recorder_onboarded_over_https_with_custom_timeouts_is_watched_so(
    catalog: str, tmp_path: Path
) -> None:
    # Served over HTTPS by the test (not started by its fleet): a password and serial of its own.
    recorder = ExampleSimulator(
        channels=2, password=uuid.uuid4().hex, seed=random.randrange(10**9), event_rate=0
    ).devices[0]
    cams = _cams(recorder.serial, 2)
    statuses = await TopicTail(catalog, CAMERA_STATUS).start()
    watcher = None
    async with tls_recorder(recorder, tmp_path / "tls") as (port, ca):
        env = _tilik_env(TILIK_CAMERA_SECRET_TLS_NVR=recorder.password, SSL_CERT_FILE=str(ca))
        config = tmp_path / "devices.yaml"
        config.write_text(
            yaml.safe_dump(
                [
                    {
                        "address": f"127.0.0.1:{port}",
                        "scheme": "https",
                        "timeout_s": 4,
                        "heartbeat_s": 7,
                        "credential_ref": "admin@env:TILIK_CAMERA_SECRET_TLS_NVR",
                    }
                ]
            )
        )
        try:
            onboarding = await asyncio.create_subprocess_exec(
                TILIK, "connectors", "onboard", "example", "--config", str(config),
                "--verify-timeout", "0",
                env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(onboarding.communicate(), 90)
            assert onboarding.returncode == 0, err.decode()[-2000:]
            registry = await _registry(cams)
            assert set(registry) == set(cams)
            for record in registry.values():
                assert record.connector_config == {
                    "scheme": "https",
                    "timeout_s": 4.0,
                    "heartbeat_s": 7,
                }
            # The runtime, another process, watches with that config: over HTTPS, or nothing.
            watcher = await _watcher(f"tilik-connector-tls-{uuid.uuid4().hex[:8]}", env)
            for cam in cams:
                online = await statuses.wait_for(
                    lambda _k, v, cam=cam: (
                        isinstance(v, CameraStatus)
                        and (v.camera_id, v.state) == (cam, CameraState.ONLINE)
                    ),
                    timeout_s=60,
                )
                assert online, f"{cam} is not watched over HTTPS"
        finally:
            await statuses.stop()
            if watcher is not None:
                err += await _stop(watcher)
            await _tombstone(cams)
    assert recorder.password.encode() not in out + err


async def test_remove_tombstones_audits_and_keeps_a_later_scan_from_registering_the_camera(
    catalog: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = "Hapus-Kamera-" + uuid.uuid4().hex[:6]
    monkeypatch.setenv("TILIK_CAMERA_SECRET_REMOVE_TEST", password)
    audits = await TopicTail(catalog, AUDIT).start()
    seed = random.randrange(10_000, 1_000_000)
    async with OnvifFleet(cameras=2, username="admin", password=password, seed=seed) as fleet:

        async def scan(**options: object) -> OnboardOutcome:
            return await run_onboarding(
                OnboardRequest(
                    policy=ProbePolicy.default(environ={}),
                    hosts=fleet.addresses,
                    credential_ref="admin@env:TILIK_CAMERA_SECRET_REMOVE_TEST",
                    actor="operator-ani",
                    **options,  # type: ignore[arg-type]
                )
            )

        try:
            first = await scan()
            gone, stays = sorted(r.camera_id for r in first.records)
            # The scan went through the pipeline: each camera's registration is audited.
            registered = await audits.wait_for(
                lambda _k, v: (
                    isinstance(v, AuditRecord)
                    and v.action == "camera_registered"
                    and v.subject in (gone, stays)
                ),
                count=2,
            )
            assert {v.actor for _, v in registered if isinstance(v, AuditRecord)} == {
                "operator-ani"
            }

            removal = await asyncio.create_subprocess_exec(
                TILIK, "connectors", "remove", "--camera", gone, "--reason", "shop closed",
                "--actor", "owner:toko-makmur",
                env=_tilik_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(removal.communicate(), 60)
            assert removal.returncode == 0, err.decode()[-2000:]
            assert json.loads(out)["removed"] == {gone: first.summary.records[gone].device_id}
            assert set(await _registry([gone, stays])) == {stays}
            removals = await read_table(CAMERA_REMOVALS)
            marker = removals[gone]
            assert isinstance(marker, CameraRemoval)
            assert (marker.actor, marker.reason) == ("owner:toko-makmur", "shop closed")
            [(_, audit)] = await audits.wait_for(
                lambda _k, v: isinstance(v, AuditRecord) and v.action == "camera_removed"
            )
            assert isinstance(audit, AuditRecord)
            assert (audit.subject, audit.actor) == (gone, "owner:toko-makmur")
            assert audit.details["device_id"] == first.summary.records[gone].device_id

            # A later scan finds the camera again and says why it does not register it.
            again = await scan()
            assert [r.camera_id for r in again.records] == [stays]
            assert "owner:toko-makmur" in again.summary.withheld[gone]
            assert set(await _registry([gone, stays])) == {stays}

            # Taking it back is explicit, and audited too.
            back = await scan(readmit=True)
            assert {r.camera_id for r in back.records} == {gone, stays}
            assert set(await _registry([gone, stays])) == {gone, stays}
            assert gone not in await read_table(CAMERA_REMOVALS)
            assert await audits.wait_for(
                lambda _k, v: (
                    isinstance(v, AuditRecord)
                    and (v.action, v.subject) == ("camera_readmitted", gone)
                )
            )
        finally:
            await audits.stop()
            await _tombstone([r.camera_id for r in first.records])


async def test_upgrade_registry_carries_the_v1_cameras_over_without_overwriting_v2(
    catalog: str,
) -> None:
    apply_catalog([CAMERA_REGISTRY_V1], bootstrap=catalog, replication_factor=1)
    seed = uuid.uuid4().hex
    only_v1 = camera_record(f"v1-{seed}").model_copy(update={"connector_config": {}})
    both = camera_record(f"both-{seed}").model_copy(update={"connector_config": {}})
    onboarded = both.model_copy(update={"connector_config": {"scheme": "https"}})
    async with CatalogProducer() as producer:
        await producer.send_batch(CAMERA_REGISTRY_V1, [only_v1, both])
        await producer.send(CAMERA_REGISTRY, onboarded)
        copied = await upgrade_registry(producer)
    assert copied >= 1
    registry = await _registry([only_v1.camera_id, both.camera_id])
    assert registry == {only_v1.camera_id: only_v1, both.camera_id: onboarded}
    await _tombstone([only_v1.camera_id, both.camera_id])


@pytest.mark.slow
async def test_a_runtime_restarted_under_its_instance_id_takes_its_cameras_back_at_once(
    catalog: str, recorder: tuple[ExampleDevice, str], tmp_path: Path
) -> None:
    """Killed (it says no goodbye to its group) and started again under the same
    ``--instance-id``, a runtime watches its cameras again long before the group's session
    timeout would have expelled the killed process."""
    device, target = recorder
    cams = _cams(device.serial, 2)
    assert (await _onboard(ExampleConnector, [_device(target)])).ok
    group = f"tilik-connector-test-{uuid.uuid4().hex[:8]}"
    session_timeout_s = 60
    statuses = await TopicTail(catalog, CAMERA_STATUS).start()

    async def start() -> asyncio.subprocess.Process:
        with (tmp_path / "runtime.log").open("ab") as log:
            return await asyncio.create_subprocess_exec(
                TILIK, "connectors", "run", "example", "--group", group,
                "--health-interval", "0.5", "--session-timeout", str(session_timeout_s),
                "--instance-id", "example-one",
                env=_tilik_env(), stdout=asyncio.subprocess.DEVNULL, stderr=log,
            )  # fmt: skip

    async def reported_since(moment: datetime, timeout_s: float) -> bool:
        for cam in cams:
            found = await statuses.wait_for(
                lambda _k, v, cam=cam: (
                    isinstance(v, CameraStatus) and v.camera_id == cam and v.checked_at > moment
                ),
                timeout_s=timeout_s,
            )
            if not found:
                return False
        return True

    runtime = await start()
    try:
        assert await reported_since(utcnow(), 60)
        runtime.kill()
        await runtime.wait()
        killed, restarted = utcnow(), time.monotonic()
        runtime = await start()
        assert await reported_since(killed, session_timeout_s)
        took_s = time.monotonic() - restarted
    finally:
        if runtime.returncode is None:
            runtime.terminate()
            await asyncio.wait_for(runtime.wait(), 60)
        await statuses.stop()
    # A process of a new identity would wait until the group expels the killed one (60 s).
    assert took_s < session_timeout_s / 2, took_s

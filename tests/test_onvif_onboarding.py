"""ONVIF onboarding end to end on a real broker: simulated cameras → probe → the compacted registry."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, TopicPartition

from connectors.onvif.onboard_run import OnboardRequest, run_onboarding
from connectors.onvif.simulator import FaultPlan, OnvifFleet
from connectors.sdk.netpolicy import ProbePolicy
from connectors.sdk.onboard import ONBOARDING_TOPICS
from topics import codec
from topics.admin import apply_catalog
from topics.catalog import CAMERA_REGISTRY, DEAD_LETTERS
from topics.client import CatalogProducer, read_table
from topics.connection import connection_config
from topics.models import (
    CameraRecord,
    DeadLetter,
    DeadLetterKind,
    Owner,
    OwnerKind,
    SharingLevel,
)

pytestmark = pytest.mark.kafka

PASSWORD = "Kata-Sandi-Kamera-5"
REF = "admin@env:TILIK_CAMERA_SECRET_TEST_ONVIF_ONBOARD_PASS"
TILIK = str(Path(sys.executable).parent / "tilik")


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TILIK_CAMERA_SECRET_TEST_ONVIF_ONBOARD_PASS", PASSWORD)


@pytest_asyncio.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[CatalogProducer]:
    await asyncio.to_thread(
        apply_catalog,
        ONBOARDING_TOPICS,
        bootstrap=kafka_bootstrap,
        replication_factor=1,
    )
    async with CatalogProducer(kafka_bootstrap, client_id="test-onvif-onboarding") as client:
        yield client


@pytest_asyncio.fixture
async def revoke_after(producer: CatalogProducer) -> AsyncIterator[set[str]]:
    """Camera ids a test published; tombstoned afterwards so no other test's watcher sees them."""
    published: set[str] = set()
    yield published
    for camera_id in published:
        await producer.send(CAMERA_REGISTRY, None, key=camera_id)


async def registry_for(bootstrap: str, serials: set[str]) -> list[CameraRecord]:
    table = await read_table(CAMERA_REGISTRY, bootstrap=bootstrap)
    return [r for r in table.values() if isinstance(r, CameraRecord) and r.serial in serials]


def request(addresses: list[str], **overrides: object) -> OnboardRequest:
    fields: dict[str, object] = {
        "policy": ProbePolicy.default(environ={}),
        "hosts": addresses,
        "credential_ref": REF,
        "concurrency": 8,
    }
    fields.update(overrides)
    return OnboardRequest(**fields)  # type: ignore[arg-type]


async def test_rediscovery_updates_and_never_duplicates(
    kafka_bootstrap: str, producer: CatalogProducer, revoke_after: set[str]
) -> None:
    async with OnvifFleet(cameras=8, username="admin", password=PASSWORD, seed=101) as fleet:
        serials = {c.serial for c in fleet.cameras}
        first = await run_onboarding(
            request(fleet.addresses, bootstrap=kafka_bootstrap), producer=producer
        )
        # The owner of one camera takes it private and shares it publicly in the registry.
        chosen = first.records[0].model_copy(
            update={
                "owner": Owner(kind=OwnerKind.PRIVATE, id="toko-makmur"),
                "sharing": SharingLevel.PUBLIC,
                "name": "Toko Makmur depan",
            }
        )
        await producer.send(CAMERA_REGISTRY, chosen)
        again = await run_onboarding(
            request(fleet.addresses, bootstrap=kafka_bootstrap), producer=producer
        )
        moved = fleet.cameras[3]
        old_address = moved.address
        await moved.move_to(0)
        third = await run_onboarding(
            request(fleet.addresses, bootstrap=kafka_bootstrap), producer=producer
        )
        await producer.flush()
    assert len(first.records) == len(again.records) == len(third.records) == 8
    revoke_after.update(r.camera_id for r in first.records)
    registry = await registry_for(kafka_bootstrap, serials)
    assert len(registry) == 8
    assert {r.camera_id for r in registry} == {r.camera_id for r in first.records}
    (moved_record,) = [r for r in registry if r.serial == moved.serial]
    assert moved_record.address == moved.address != old_address
    assert all(r.credential_ref == REF for r in registry)
    first_seen = {r.camera_id: r.discovered_at for r in first.records}
    assert all(r.discovered_at == first_seen[r.camera_id] < r.updated_at for r in registry)
    (kept,) = [r for r in registry if r.camera_id == chosen.camera_id]
    assert (kept.owner, kept.sharing, kept.name) == (chosen.owner, chosen.sharing, chosen.name)
    assert PASSWORD not in json.dumps([r.model_dump(mode="json") for r in registry])


async def _dead_letters_since(
    bootstrap: str, start: dict[TopicPartition, int], device: str
) -> list[DeadLetter]:
    consumer = AIOKafkaConsumer(
        **connection_config(bootstrap), enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    try:
        consumer.assign(list(start))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        end = await consumer.end_offsets(list(start))
        found: list[DeadLetter] = []

        async def behind() -> bool:
            return any([await consumer.position(tp) < end[tp] for tp in start])

        while await behind():
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    letter = codec.decode(DEAD_LETTERS, record.value)
                    if isinstance(letter, DeadLetter) and letter.source_device == device:
                        found.append(letter)
        return found
    finally:
        await consumer.stop()


async def _end_offsets(bootstrap: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(**connection_config(bootstrap), group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(DEAD_LETTERS.name, p) for p in range(DEAD_LETTERS.partitions)]
        return dict(await consumer.end_offsets(tps))
    finally:
        await consumer.stop()


async def test_a_device_answering_garbage_is_dead_lettered_and_the_rest_onboarded(
    kafka_bootstrap: str, producer: CatalogProducer, revoke_after: set[str]
) -> None:
    async with OnvifFleet(cameras=3, username="admin", password=PASSWORD, seed=102) as fleet:
        bad = fleet.cameras[0]
        start = await _end_offsets(kafka_bootstrap)
        bad.force_fault("malformed", times=1)
        outcome = await run_onboarding(
            request(fleet.addresses, bootstrap=kafka_bootstrap), producer=producer
        )
        await producer.flush()
    revoke_after.update(r.camera_id for r in outcome.records)
    assert len(outcome.records) == 2
    (failure,) = outcome.report.failures
    assert failure.address == bad.address and failure.error_type == "DeviceDataError"
    letters = await _dead_letters_since(kafka_bootstrap, start, bad.address)
    assert letters and letters[0].kind is DeadLetterKind.DEVICE_INPUT
    assert letters[0].component == "connector.onvif" and letters[0].payload


async def test_cli_discovers_by_unicast_ws_discovery_and_publishes(
    kafka_bootstrap: str, producer: CatalogProducer, revoke_after: set[str]
) -> None:
    async with OnvifFleet(
        cameras=5, username="admin", password=PASSWORD, seed=103, discovery_port=0
    ) as fleet:
        assert fleet.discovery is not None
        host, port = fleet.discovery.address
        env = {
            **os.environ,
            "TILIK_CAMERA_SECRET_TEST_ONVIF_ONBOARD_PASS": PASSWORD,
            "TILIK_LOG_FORMAT": "json",
        }
        process = await asyncio.create_subprocess_exec(
            TILIK, "discover", "onvif",
            "--ws-target", f"{host}:{port}", "--ws-timeout", "1",
            "--username", "admin", "--password-env", "TILIK_CAMERA_SECRET_TEST_ONVIF_ONBOARD_PASS",
            "--json", "--bootstrap", kafka_bootstrap,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, stderr.decode()
    printed = [CameraRecord.model_validate(r) for r in json.loads(stdout)]
    revoke_after.update(r.camera_id for r in printed)
    assert {r.serial for r in printed} == {c.serial for c in fleet.cameras}
    assert PASSWORD not in stdout.decode() + stderr.decode()
    registry = await registry_for(kafka_bootstrap, {c.serial for c in fleet.cameras})
    assert {r.camera_id for r in registry} == {r.camera_id for r in printed}


async def test_cli_refuses_addresses_outside_the_probe_policy() -> None:
    process = await asyncio.create_subprocess_exec(
        TILIK, "discover", "onvif", "--hosts", "8.8.8.8:80,169.254.169.254:80",
        "--dry-run", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1
    assert b"refusing to reach 8.8.8.8:80" in stderr and b"169.254.169.254" in stderr


async def test_hostile_cameras_never_stop_the_good_ones_from_being_published(
    kafka_bootstrap: str, producer: CatalogProducer, revoke_after: set[str]
) -> None:
    """One batch: two good cameras; one whose clock says the year 10^30; one that answers with a
    4 MB header; one with a 300-character serial number; one that accepts and never answers."""
    async with OnvifFleet(cameras=6, username="admin", password=PASSWORD, seed=104) as fleet:
        good, clock, header, serial, silent, also_good = fleet.cameras
        clock.faults = FaultPlan(clock_year=10**30)
        header.force_fault("huge_header", times=100)
        serial.identity = dataclasses.replace(serial.identity, serial="S" * 300)
        silent.go_silent()
        start = await _end_offsets(kafka_bootstrap)
        started = time.monotonic()
        outcome = await run_onboarding(
            request(fleet.addresses, bootstrap=kafka_bootstrap, timeout_s=1), producer=producer
        )
        elapsed = time.monotonic() - started
        await producer.flush()
    revoke_after.update(r.camera_id for r in outcome.records)
    # An absurd clock is no clock: the camera is probed on the hub's time and published.
    published = {r.address for r in outcome.records}
    assert published == {good.address, also_good.address, clock.address}
    failures = {f.address: f for f in outcome.report.failures}
    assert set(failures) == {header.address, serial.address, silent.address}
    assert failures[header.address].error_type == "DeviceDataError"
    assert "response head" in failures[header.address].reason
    assert failures[serial.address].error_type == "DeviceDataError"
    assert "serial" in failures[serial.address].reason
    assert failures[silent.address].error_type == "RetriableError"
    assert "no answer within 1s" in failures[silent.address].reason
    assert elapsed < 15

    registry = await registry_for(kafka_bootstrap, {good.serial, also_good.serial, clock.serial})
    assert {r.address for r in registry} == published
    for address in (header.address, serial.address):
        letters = await _dead_letters_since(kafka_bootstrap, start, address)
        assert letters and letters[0].kind is DeadLetterKind.DEVICE_INPUT
        assert letters[0].reason == failures[address].reason
    assert not await _dead_letters_since(kafka_bootstrap, start, silent.address)
    texts = [f.reason for f in outcome.report.failures]
    assert not [text for text in texts if PASSWORD in text]


async def test_cli_discover_against_a_silent_camera_ends_within_its_timeout() -> None:
    async with OnvifFleet(cameras=2, username="admin", password=PASSWORD, seed=105) as fleet:
        silent, good = fleet.cameras
        silent.go_silent()
        env = {**os.environ, "TILIK_CAMERA_SECRET_TEST_ONVIF_ONBOARD_PASS": PASSWORD}
        process = await asyncio.create_subprocess_exec(
            TILIK, "discover", "onvif", "--hosts", ",".join(fleet.addresses),
            "--username", "admin", "--password-env", "TILIK_CAMERA_SECRET_TEST_ONVIF_ONBOARD_PASS",
            "--timeout", "1", "--dry-run", "--json",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert process.returncode == 0, stderr.decode()
    printed = [CameraRecord.model_validate(r) for r in json.loads(stdout)]
    assert [r.serial for r in printed] == [good.serial]
    assert f"{silent.address}: RetriableError" in stderr.decode()
    assert "no answer within 1s" in stderr.decode()


async def test_a_probe_slower_than_its_device_deadline_is_failed_not_waited_for() -> None:
    """Every request of the slow camera answers well within the per-request timeout, but the
    whole probe takes longer than the device's deadline."""
    async with OnvifFleet(cameras=2, username="admin", password=PASSWORD, seed=106) as fleet:
        slow, good = fleet.cameras
        slow.faults = FaultPlan(slow=1.0, slow_seconds=0.3)
        started = time.monotonic()
        outcome = await run_onboarding(
            request(fleet.addresses, publish=False, timeout_s=2, device_deadline_s=1)
        )
        elapsed = time.monotonic() - started
    assert [r.address for r in outcome.records] == [good.address]
    (failure,) = outcome.report.failures
    assert failure.address == slow.address and failure.error_type == "RetriableError"
    assert "1s deadline" in failure.reason
    assert elapsed < 10

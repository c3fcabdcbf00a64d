"""ONVIF onboarding end to end on a real broker: simulated cameras → probe → the compacted registry."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, TopicPartition

from connectors.onvif.onboard_run import OnboardRequest, run_onboarding
from connectors.onvif.simulator import OnvifFleet
from connectors.sdk.netpolicy import ProbePolicy
from topics import codec
from topics.admin import apply_catalog
from topics.catalog import CAMERA_REGISTRY, DEAD_LETTERS
from topics.client import CatalogProducer, read_table
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
        [CAMERA_REGISTRY, DEAD_LETTERS],
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
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None
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
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
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

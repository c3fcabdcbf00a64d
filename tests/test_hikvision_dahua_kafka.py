"""End to end on the real broker: discover a simulated NVR into the registry, stream its events."""

from __future__ import annotations

import asyncio
import random
import time
import uuid

import pytest
from sdk_helpers import TopicTail
from structlog.testing import capture_logs

from connectors.private_vendors.kits import VENDORS
from connectors.sdk.base import UnparsedEvent
from connectors.sdk.onboard import ONBOARDING_TOPICS, OnboardOptions, onboard
from connectors.sdk.simulation.testing import VendorKit, collect_numbered
from topics.admin import apply_catalog
from topics.catalog import CAMERA_REGISTRY, DEAD_LETTERS, DEVICE_EVENTS
from topics.client import CatalogConsumer, CatalogProducer, make_dead_letter, read_table
from topics.models import CameraRecord, DeadLetter, DeadLetterKind, DeviceEvent

pytestmark = pytest.mark.kafka

PASSWORD = "Kafka-e2e-Pw-77"
REF = "admin@env:TILIK_CAMERA_SECRET_TEST_E2E_PASS"
#: two known codes and one no table knows, per vendor
CODES = {
    "hikvision": ["VMD", "linedetection", "illaccess"],
    "dahua": ["VideoMotion", "CrossLineDetection", "LoginFailure"],
}


@pytest.fixture(scope="module")
def catalog(kafka_bootstrap: str) -> str:
    apply_catalog(
        [*ONBOARDING_TOPICS, DEVICE_EVENTS],
        bootstrap=kafka_bootstrap,
        replication_factor=1,
    )
    return kafka_bootstrap


@pytest.fixture(params=sorted(VENDORS))
def kit(request: pytest.FixtureRequest) -> VendorKit:
    return VENDORS[request.param]


async def publish(
    producer: CatalogProducer, item: DeviceEvent | UnparsedEvent, component: str
) -> None:
    if isinstance(item, DeviceEvent):
        await producer.send(DEVICE_EVENTS, item)
        return
    await producer.dead_letter(
        make_dead_letter(
            kind=DeadLetterKind.UNKNOWN_EVENT,
            reason=item.reason,
            component=component,
            payload=item.payload,
            source_device=item.device_id,
            key=item.camera_id,
        )
    )


async def consume_until(
    bootstrap: str, spec_name: str, want: set[str], pick: object, timeout_s: float = 60
) -> set[str]:
    spec = {s.name: s for s in (DEVICE_EVENTS, DEAD_LETTERS)}[spec_name]
    found: set[str] = set()
    async with CatalogConsumer(
        spec,
        group_id=f"test-vendor-e2e-{uuid.uuid4().hex[:8]}",
        component="test",
        bootstrap=bootstrap,
    ) as consumer:
        async with asyncio.timeout(timeout_s):
            async for received in consumer:
                value = received.value
                key = pick(value)  # type: ignore[operator]
                if key in want:
                    found.add(key)
                    assert PASSWORD not in value.model_dump_json()  # type: ignore[union-attr]
                if found == want:
                    break
    return found


async def test_simulated_nvr_reaches_the_registry_and_the_event_topic(
    kit: VendorKit, catalog: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TILIK_CAMERA_SECRET_TEST_E2E_PASS", PASSWORD)
    count = 12
    async with kit.simulator(
        channels=8,
        password=PASSWORD,
        event_rate=100,
        max_events=count,
        codes=CODES[kit.name],
        seed=random.randrange(1, 10_000),  # unique serials: the shared broker keeps old runs
        faults="split,garbage",
    ) as sim:
        connector = kit.make(sim.addresses[0], REF, reconnect_initial_s=0.05)
        component = f"connector.{kit.name}"
        try:
            async with CatalogProducer(catalog, client_id="test-vendor-e2e") as producer:
                records = await connector.discover()
                await producer.send_batch(CAMERA_REGISTRY, records)
                run = await collect_numbered(
                    connector,
                    sim.devices[0],
                    count,
                    timeout_s=20,
                    stop=lambda r: len(r.events) + len(r.unparsed) >= count,
                )
                for item in [*run.events, *run.unparsed]:
                    await publish(producer, item, component)
        finally:
            await connector.close()

    assert len(records) == 8
    assert len(run.events) == 8 and len(run.unparsed) == 4  # every third code is unknown

    registry = await read_table(CAMERA_REGISTRY, bootstrap=catalog)
    for record in records:
        stored = registry[record.camera_id]
        assert isinstance(stored, CameraRecord)
        assert stored.model_dump() == record.model_dump()
        assert PASSWORD not in stored.model_dump_json()

    event_ids = {event.event_id for event in run.events}
    found = await consume_until(
        catalog,
        DEVICE_EVENTS.name,
        event_ids,
        lambda v: v.event_id if isinstance(v, DeviceEvent) else None,
    )
    assert found == event_ids

    device_id = records[0].device_id
    letters = await consume_until(
        catalog,
        DEAD_LETTERS.name,
        {device_id},
        lambda v: (
            v.source_device if isinstance(v, DeadLetter) and v.component == component else None
        ),
    )
    assert letters == {device_id}


#: what each device of the hostile batch does; the "normal" ones must all be published
BATCH = ["normal", "long_serial", "normal", "superscript_channel", "huge_header", "silent"]
#: the hostile devices whose input was at fault: dead-lettered
INPUT_AT_FAULT = {"long_serial", "superscript_channel", "huge_header"}
#: a Dahua recorder's superscript channel numbers are only in its camera states (its channels
#: come from their titles): onboarded, with those states unknown
ONBOARDED_ANYWAY = {"dahua": {"superscript_channel"}, "hikvision": set()}


async def test_one_hostile_device_never_stops_a_batch_from_being_published(
    kit: VendorKit, catalog: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TILIK_CAMERA_SECRET_TEST_E2E_PASS", PASSWORD)
    letters = await TopicTail(catalog, DEAD_LETTERS).start()
    try:
        async with kit.simulator(
            devices=len(BATCH),
            channels=2,
            password=PASSWORD,
            event_rate=0,
            seed=random.randrange(1, 10_000),
        ) as sim:
            by_mode = dict(zip(BATCH, sim.devices, strict=True))
            for device, mode in zip(sim.devices, BATCH, strict=True):
                device.set_corruption(mode)
            configs = [
                {"address": address, "credential_ref": REF, "timeout_s": 1}
                for address in sim.addresses
            ]
            started = time.monotonic()
            with capture_logs() as logs:
                async with CatalogProducer(catalog, client_id="test-hostile-batch") as producer:
                    summary = await onboard(
                        kit.connector,
                        configs,
                        producer=producer,
                        options=OnboardOptions(backoff_initial_s=0.05, deadline_s=10),
                    )
            elapsed = time.monotonic() - started
        onboarded = {"normal", *ONBOARDED_ANYWAY[kit.name]}
        good = {d.address for d, mode in zip(sim.devices, BATCH, strict=True) if mode in onboarded}
        hostile = {d.address: mode for d, mode in zip(sim.devices, BATCH, strict=True)}
        for address in good:
            hostile.pop(address)

        assert set(summary.published) == good, summary.as_dict()
        assert all(len(cameras) == 2 for cameras in summary.published.values())
        assert set(summary.failed) == set(hostile)
        assert all(summary.failed[address].reason for address in hostile)
        assert set(summary.dead_lettered) == {
            address for address, mode in hostile.items() if mode in INPUT_AT_FAULT
        }
        assert "serial" in summary.failed[by_mode["long_serial"].address].reason
        if "superscript_channel" in hostile.values():
            superscript = by_mode["superscript_channel"].address
            assert "channel number" in summary.failed[superscript].reason
        assert "response head" in summary.failed[by_mode["huge_header"].address].reason
        assert "no answer within 1s" in summary.failed[by_mode["silent"].address].reason
        assert elapsed < 8  # three attempts of one second each for the silent device, not forever

        registry = await read_table(CAMERA_REGISTRY, bootstrap=catalog)
        stored = {r.address for r in registry.values() if isinstance(r, CameraRecord)}
        assert good <= stored

        component = f"connector.{kit.name}"
        found = await letters.wait_for(
            lambda _k, v: (
                isinstance(v, DeadLetter)
                and v.component == component
                and v.source_device in set(summary.dead_lettered)
            ),
            count=len(summary.dead_lettered),
        )
        assert {v.source_device for _, v in found if isinstance(v, DeadLetter)} == set(
            summary.dead_lettered
        )
        assert all(
            isinstance(v, DeadLetter) and v.kind is DeadLetterKind.DEVICE_INPUT and v.reason
            for _, v in found
        )
        texts = [str(summary.as_dict())] + [str(entry) for entry in logs]
        texts += [v.model_dump_json() for _, v in found if v is not None]
        assert not [text for text in texts if PASSWORD in text]
    finally:
        await letters.stop()

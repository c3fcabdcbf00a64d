"""Hikvision and Dahua end to end through the connector runtime: onboard, watch, health, events."""

from __future__ import annotations

import random
import uuid

import pytest
from sdk_helpers import TopicTail, eventually, running
from structlog.testing import capture_logs

from connectors.private_vendors.kits import VENDORS
from connectors.sdk.runtime import RuntimeOptions, WatchService, onboard
from connectors.sdk.simulation.testing import VendorKit
from topics.admin import apply_catalog
from topics.catalog import CAMERA_STATUS, DEAD_LETTERS, DEVICE_EVENTS, all_topics
from topics.client import CatalogProducer
from topics.identity import device_id as make_device_id
from topics.models import CameraState, CameraStatus, DeadLetter, DeadLetterKind, DeviceEvent

pytestmark = pytest.mark.kafka

CHANNELS = 4


@pytest.fixture(scope="module")
def catalog(kafka_bootstrap: str) -> str:
    apply_catalog(all_topics(), bootstrap=kafka_bootstrap)
    return kafka_bootstrap


@pytest.mark.parametrize("vendor", sorted(VENDORS))
async def test_recorder_is_onboarded_watched_and_its_events_reach_the_event_topic(
    catalog: str, vendor: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kit: VendorKit = VENDORS[vendor]
    password = f"{vendor}-Watch-{uuid.uuid4().hex[:10]}"
    env = f"TILIK_CAMERA_SECRET_TEST_WATCH_{vendor.upper()}"
    monkeypatch.setenv(env, password)
    # A seed of its own gives this recorder serial numbers (so camera ids) no other test uses.
    seed = random.randrange(10_000, 1_000_000)
    statuses = await TopicTail(catalog, CAMERA_STATUS).start()
    events = await TopicTail(catalog, DEVICE_EVENTS).start()
    try:
        async with kit.simulator(
            channels=CHANNELS, password=password, event_rate=10, seed=seed
        ) as sim:
            config = {"address": sim.addresses[0], "credential_ref": f"admin@env:{env}"}
            with capture_logs() as logs:
                async with CatalogProducer(catalog) as producer:
                    summary = await onboard(kit.connector, [config], producer=producer)
                assert summary.ok, summary.as_dict()

                service = WatchService(
                    kit.connector,
                    bootstrap=catalog,
                    options=RuntimeOptions(
                        group_id=f"watch-{uuid.uuid4().hex}",
                        health_interval_s=0.5,
                        backoff_initial_s=0.1,
                    ),
                )
                async with running(service):
                    assert await eventually(
                        lambda: any(
                            len(cams) == CHANNELS for cams in service.watched_devices.values()
                        ),
                        timeout_s=30,
                    )
                    [cameras] = [
                        cams for cams in service.watched_devices.values() if len(cams) == CHANNELS
                    ]
                    online = await statuses.wait_for(
                        lambda _k, v: (
                            isinstance(v, CameraStatus)
                            and v.camera_id in cameras
                            and v.state == CameraState.ONLINE
                        ),
                        count=CHANNELS,
                        timeout_s=30,
                    )
                    assert {
                        v.camera_id for _, v in online if isinstance(v, CameraStatus)
                    } == cameras
                    received = await events.wait_for(
                        lambda _k, v: isinstance(v, DeviceEvent) and v.camera_id in cameras,
                        count=10,
                        timeout_s=30,
                    )
                    assert len(received) >= 10
                    assert all(
                        isinstance(v, DeviceEvent) and v.source.connector == vendor
                        for _, v in received
                    )
        published = [v.model_dump_json() for _, v in events.values + statuses.values if v]
        assert not any(password in text for text in published)
        assert not any(password in str(entry) for entry in logs)
        assert service.metrics.events >= 10
    finally:
        await statuses.stop()
        await events.stop()


@pytest.mark.parametrize("vendor", sorted(VENDORS))
async def test_a_bad_stream_part_is_dead_lettered_and_the_stream_reads_on_without_reconnecting(
    catalog: str, vendor: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kit: VendorKit = VENDORS[vendor]
    password = f"{vendor}-BadPart-{uuid.uuid4().hex[:10]}"
    env = f"TILIK_CAMERA_SECRET_TEST_BADPART_{vendor.upper()}"
    monkeypatch.setenv(env, password)
    seed = random.randrange(10_000, 1_000_000)
    letters = await TopicTail(catalog, DEAD_LETTERS).start()
    events = await TopicTail(catalog, DEVICE_EVENTS).start()
    try:
        # Every seventh part (1, 8, 15, ...) has an unreadable Content-Length and channel number.
        async with kit.simulator(
            channels=1, password=password, event_rate=20, seed=seed, faults="badpart"
        ) as sim:
            device = sim.devices[0]
            config = {"address": sim.addresses[0], "credential_ref": f"admin@env:{env}"}
            async with CatalogProducer(catalog) as producer:
                summary = await onboard(kit.connector, [config], producer=producer)
            assert summary.ok, summary.as_dict()
            service = WatchService(
                kit.connector,
                bootstrap=catalog,
                options=RuntimeOptions(
                    group_id=f"watch-{uuid.uuid4().hex}",
                    health_interval_s=5,
                    backoff_initial_s=0.1,
                ),
            )
            async with running(service):
                # The registry also holds other tests' devices: this one is known by its serial.
                device_id = make_device_id(vendor=vendor, serial=device.serial)
                assert await eventually(
                    lambda: bool(service.watched_devices.get(device_id)), timeout_s=30
                )
                cameras = service.watched_devices[device_id]
                bad = await letters.wait_for(
                    lambda _k, v: (
                        isinstance(v, DeadLetter)
                        and v.source_device == device_id
                        and v.kind is DeadLetterKind.DEVICE_INPUT
                    ),
                    count=2,
                    timeout_s=30,
                )
                # The events after the second bad part (number 8) arrive too.
                after = await events.wait_for(
                    lambda _k, v: (
                        isinstance(v, DeviceEvent)
                        and v.camera_id in cameras
                        and device.seq_of(v.device_time) > 8
                    ),
                    count=3,
                    timeout_s=30,
                )
                delivered = {
                    device.seq_of(v.device_time)
                    for _, v in events.values
                    if isinstance(v, DeviceEvent) and v.camera_id in cameras
                }
                connections = device.stream_connections
    finally:
        await letters.stop()
        await events.stop()
    assert len(after) >= 3
    assert {0, 2, 3, 4, 5, 6, 7, 9} <= delivered and not delivered & device.malformed
    assert connections == 1, "a bad part must not cost a reconnect"
    for _, letter in bad:
        assert isinstance(letter, DeadLetter)
        assert letter.reason and "channel" in letter.reason
        assert letter.error_type == "DeviceDataError"
        assert "\u00b2" in letter.payload

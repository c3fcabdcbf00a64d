"""Channel identity: a multi-channel device's event lands on its channel's registry camera, through
the channel references discovery keeps in each record (``connectors.sdk.channels``)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from connectors.private_vendors.hikvision.connector import HikvisionConnector, reconcile_channels
from connectors.private_vendors.hikvision.simulator import HikvisionSimulator
from connectors.private_vendors.kits import VENDORS
from connectors.sdk.base import UnparsedEvent
from connectors.sdk.channels import CHANNEL_REFS, ChannelCamera, ChannelMap, record_refs
from connectors.sdk.example.connector import ExampleConfig, ExampleConnector
from connectors.sdk.registration import register
from topics.examples import camera_record
from topics.models import CameraRecord, DeviceEvent

if TYPE_CHECKING:
    from connectors.onvif.simulator.device import MediaServices

PASSWORD = "hik-Chan-Pa55"
REF = "admin@env:TILIK_CAMERA_SECRET_TEST_CHANNELS"


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TILIK_CAMERA_SECRET_TEST_CHANNELS", PASSWORD)


# --- the shared mechanism ----------------------------------------------------------------


def test_a_reference_selects_its_camera_first_known_wins_and_a_shared_one_selects_none() -> None:
    channels = ChannelMap()
    one, two = ChannelCamera("cam-1", 1), ChannelCamera("cam-2", 2)
    channels.add(two, ["channelid=2", "shared=x"])
    channels.add(one, ["channelid=1", "shared=x"])
    assert channels.resolve(["nothing=1", "channelid=2", "channelid=1"]) == two
    assert channels.resolve(["shared=x"]) is None  # two cameras claim it: it says nothing
    assert channels.resolve(["shared=x", "channelid=1"]) == one
    assert channels.first == one


def test_onboarding_keeps_the_references_and_the_runtime_config_ignores_them() -> None:
    fresh = camera_record("refs").model_copy(
        update={"channel": 2, "connector_config": {CHANNEL_REFS: ["index=1"]}}
    )
    config = ExampleConfig.model_validate(
        {"address": "10.1.2.3:80", "credential_ref": "admin@env:TILIK_CAMERA_SECRET_X"}
    )
    record = register(fresh, None, config=config, connector_config={"scheme": "https"})
    assert record.connector_config == {CHANNEL_REFS: ["index=1"], "scheme": "https"}
    assert record_refs(record) == ["index=1"]
    # The config the runtime watches with has no such field, and is still valid.
    rebuilt = ExampleConnector.config_from_record(record)
    assert rebuilt.scheme == "https"


# --- Hikvision: analog inputs, IP channels, InputProxy ids --------------------------------


def test_a_pure_nvr_numbers_its_ip_channels_by_their_inputproxy_id() -> None:
    channels = reconcile_channels([], [(1, "a"), (2, "b")], {1: True, 2: False})
    assert [(c.number, c.online) for c in channels] == [(1, True), (2, False)]
    assert channels[0].refs == ("channelid=1", "dynchannelid=1", "channelid=33")


def test_a_hybrid_recorder_numbers_ip_channels_after_its_analog_inputs() -> None:
    channels = reconcile_channels([(1, "A1"), (2, "A2")], [(1, "IP1"), (2, "IP2")], {2: False})
    assert [(c.number, c.name, c.online) for c in channels] == [
        (1, "A1", None),
        (2, "A2", None),
        (3, "IP1", None),
        (4, "IP2", False),
    ]
    assert channels[0].refs == ("channelid=1",)
    assert channels[2].refs == ("channelid=3", "dynchannelid=1", "channelid=33")


def test_inputproxy_ids_already_past_the_analog_inputs_are_taken_as_they_are() -> None:
    channels = reconcile_channels([(1, "A1"), (2, "A2")], [(3, "IP1")], {})
    assert [c.number for c in channels] == [1, 2, 3]
    assert channels[2].refs == ("channelid=3", "dynchannelid=1", "dynchannelid=3", "channelid=33")


def _hikvision(address: str) -> HikvisionConnector:
    connector = VENDORS["hikvision"].make(address, REF, reconnect_initial_s=0.05, timeout_s=3)
    assert isinstance(connector, HikvisionConnector)
    return connector


async def _events(connector: HikvisionConnector, count: int) -> list[DeviceEvent | UnparsedEvent]:
    found: list[DeviceEvent | UnparsedEvent] = []

    async def read() -> None:
        async for item in connector.events():
            found.append(item)
            if len(found) == count:
                return

    await asyncio.wait_for(read(), 20)
    return found


async def test_a_hybrid_recorder_s_events_land_on_each_channel_s_registry_camera() -> None:
    async with HikvisionSimulator(
        channels=5, analog_channels=2, password=PASSWORD, event_rate=0
    ) as sim:
        discovering = _hikvision(sim.addresses[0])
        try:
            records = await discovering.discover()
        finally:
            await discovering.close()
        assert [(r.channel, r.name) for r in records] == [
            (1, "Camera 01"),
            (2, "Camera 02"),
            (3, "IPCamera 01"),
            (4, "IPCamera 02"),
            (5, "IPCamera 03"),
        ]
        assert record_refs(records[3]) == ["channelid=4", "dynchannelid=2", "channelid=34"]
        # The watching connector is a new instance: it knows the channels from the records.
        watching = _hikvision(sim.addresses[0])
        watching.channels = ChannelMap.from_records(records)
        device = sim.devices[0]
        for channel in (1, 3, 5, 2, 4):
            await device.emit("VMD", channel=channel)
        try:
            events = await _events(watching, 5)
        finally:
            await watching.close()
    by_channel: dict[int | None, CameraRecord] = {r.channel: r for r in records}
    assert [(e.source.channel, e.camera_id) for e in events if isinstance(e, DeviceEvent)] == [
        (channel, by_channel[channel].camera_id) for channel in (1, 3, 5, 2, 4)
    ]


async def test_an_alert_naming_an_ip_channel_only_by_its_inputproxy_id_finds_its_camera() -> None:
    async with HikvisionSimulator(
        channels=4, analog_channels=2, password=PASSWORD, event_rate=0
    ) as sim:
        connector = _hikvision(sim.addresses[0])
        try:
            records = {r.channel: r.camera_id for r in await connector.discover()}
            # Firmware that numbers channelID from 33 for IP channels, whatever the analog count.
            device = sim.devices[0]
            device.variants = (
                b'<EventNotificationAlert version="2.0"><channelID>34</channelID>'
                b"<dynChannelID>2</dynChannelID><dateTime>2026-11-29T10:00:00+07:00</dateTime>"
                b"<eventType>VMD</eventType><eventState>active</eventState>"
                b"</EventNotificationAlert>",
            )
            await device.emit("VMD", channel=4)
            (event,) = await _events(connector, 1)
        finally:
            await connector.close()
    assert isinstance(event, DeviceEvent)
    assert (event.source.channel, event.camera_id) == (4, records[4])


# --- ONVIF: an encoder of several video sources ----------------------------------------------

ONVIF_PASSWORD = "Enkoder-Sandi-31"
ONVIF_REF = "admin@env:TILIK_CAMERA_SECRET_TEST_ONVIF_CHANNELS"

#: (topic, Source items, Data items, the video source the event is about: 1-based)
ENCODER_EVENTS = [
    ("tns1:VideoSource/MotionAlarm", {"Source": "VideoSource_2"}, {"State": "true"}, 2),
    (
        "tns1:RuleEngine/CellMotionDetector/Motion",
        {
            "VideoSourceConfigurationToken": "VideoSourceConfig_3",
            "VideoAnalyticsConfigurationToken": "VideoAnalytics_3",
            "Rule": "ch3-motion",
        },
        {"IsMotion": "true"},
        3,
    ),
    (
        "tns1:RuleEngine/TamperDetector/Tamper",
        {"VideoAnalyticsConfigurationToken": "VideoAnalytics_1", "Rule": "ch1-tamper"},
        {"IsTamper": "true"},
        1,
    ),
    ("tns1:VideoSource/SignalLoss", {"InputToken": "VideoSource_3"}, {"State": "true"}, 3),
    # A Source no channel is known by: the device's first camera.
    (
        "tns1:RuleEngine/LineDetector/Crossed",
        {"VideoSourceConfigurationToken": "elsewhere", "Rule": "nowhere"},
        {"ObjectId": "5"},
        1,
    ),
]


# Media (ver10) and a Media2-only (Profile T) encoder name a profile's video source and its
# configurations in different elements: both make the same cameras.
@pytest.mark.parametrize("media", ["media", "media2"])
async def test_an_onvif_encoder_s_video_sources_are_cameras_and_its_events_land_on_them(
    media: MediaServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors.onvif.connector import OnvifConnector
    from connectors.onvif.probe import ProbeTarget, probe_many
    from connectors.onvif.simulator import OnvifFleet
    from connectors.onvif.soap import SoapTransport
    from connectors.sdk.http import HttpLimits

    monkeypatch.setenv("TILIK_CAMERA_SECRET_TEST_ONVIF_CHANNELS", ONVIF_PASSWORD)
    async with OnvifFleet(
        cameras=1,
        username="admin",
        password=ONVIF_PASSWORD,
        seed=41,
        video_sources=3,
        media=media,
    ) as fleet:
        camera = fleet.cameras[0]
        async with SoapTransport(HttpLimits(timeout_s=5)) as transport:
            report = await probe_many(
                transport, [ProbeTarget(camera.address, credential_ref=ONVIF_REF)]
            )
        records = sorted(report.records, key=lambda r: r.channel or 0)
        assert [(r.channel, [s.token for s in r.streams]) for r in records] == [
            (n, [f"Ch{n}_Profile_1", f"Ch{n}_Profile_2"]) for n in (1, 2, 3)
        ]
        assert len({r.camera_id for r in records}) == 3 and len({r.device_id for r in records}) == 1
        assert record_refs(records[2]) == [
            "videosource=VideoSource_3",
            "videosourceconfiguration=VideoSourceConfig_3",
            "videoanalyticsconfiguration=VideoAnalytics_3",
        ]
        # Watched as the runtime watches it: from any one of its records, with the device's map.
        connector = OnvifConnector(OnvifConnector.config_from_record(records[1]))  # type: ignore[arg-type]
        connector.channels = ChannelMap.from_records(records)
        found: list[DeviceEvent] = []

        async def read() -> None:
            async for item in connector.events():
                # What the device initialises a subscription with is no condition: left out.
                if (
                    isinstance(item, DeviceEvent)
                    and item.active is not False
                    and item.source.vendor_topic in {topic for topic, *_ in ENCODER_EVENTS}
                ):
                    found.append(item)
                    if len(found) == len(ENCODER_EVENTS):
                        return

        try:
            reading = asyncio.create_task(read())
            while connector.subscription is None or len(camera.subscriptions) < 1:
                await asyncio.sleep(0.05)
            for topic, source, data, _channel in ENCODER_EVENTS:
                camera.inject(topic, source=source, data=data)
            await asyncio.wait_for(reading, 20)
            statuses = await connector.health()
        finally:
            await connector.close()
    cameras = {r.channel: r.camera_id for r in records}
    assert [(e.source.vendor_topic, e.source.channel, e.camera_id) for e in found] == [
        (topic, channel, cameras[channel]) for topic, _s, _d, channel in ENCODER_EVENTS
    ]
    assert sorted(s.camera_id for s in statuses) == sorted(cameras.values())


async def test_a_single_source_camera_keeps_its_id_and_one_record() -> None:
    from datetime import timedelta

    from connectors.onvif.device import DeviceInfo, DeviceSnapshot, MediaProfile, ServiceAddresses
    from connectors.onvif.probe import camera_records
    from topics.identity import camera_id

    info = DeviceInfo(manufacturer="Acme", model="C1", firmware="1", serial="SN1", hardware_id=None)
    profiles = [
        MediaProfile("main", video_source="VS", source_configuration="VSC"),
        MediaProfile("sub", video_source="VS", source_configuration="VSC"),
        MediaProfile("bare"),
    ]
    snapshot = DeviceSnapshot(
        "10.0.0.1:80", info, ServiceAddresses(), profiles=profiles, clock_offset=timedelta(0)
    )
    (record,) = camera_records(snapshot)
    assert record.camera_id == camera_id(vendor="Acme", serial="SN1")
    assert record.channel is None and [s.token for s in record.streams] == ["main", "sub", "bare"]
    assert record_refs(record) == ["videosource=VS", "videosourceconfiguration=VSC"]


# --- through the pipeline: onboarded, registered, watched, on a real broker ------------------


@pytest.mark.kafka
@pytest.mark.timeout(120)
async def test_a_watched_hybrid_recorder_s_events_reach_the_event_topic_on_their_channel_s_camera(
    kafka_bootstrap: str,
) -> None:
    import random
    import uuid

    from sdk_helpers import TopicTail, eventually, running

    from connectors.sdk.runtime import RuntimeOptions, WatchService, onboard
    from topics.admin import apply_catalog
    from topics.catalog import CAMERA_REGISTRY, DEVICE_EVENTS, all_topics
    from topics.client import CatalogProducer

    apply_catalog(all_topics(), bootstrap=kafka_bootstrap)
    registry = await TopicTail(kafka_bootstrap, CAMERA_REGISTRY).start()
    events = await TopicTail(kafka_bootstrap, DEVICE_EVENTS).start()
    try:
        async with HikvisionSimulator(
            channels=4,
            analog_channels=2,
            password=PASSWORD,
            event_rate=0,
            seed=random.randrange(10_000, 1_000_000),
        ) as sim:
            config = {"address": sim.addresses[0], "credential_ref": REF}
            async with CatalogProducer(kafka_bootstrap) as producer:
                summary = await onboard(HikvisionConnector, [config], producer=producer)
            assert summary.ok, summary.as_dict()
            published = await registry.wait_for(
                lambda _k, v: isinstance(v, CameraRecord) and v.address == sim.addresses[0],
                count=4,
            )
            records = {v.channel: v for _k, v in published if isinstance(v, CameraRecord)}
            # The registry keeps how the recorder names each channel in its alerts.
            assert record_refs(records[3]) == ["channelid=3", "dynchannelid=1", "channelid=33"]
            assert record_refs(records[2]) == ["channelid=2"]

            service = WatchService(
                HikvisionConnector,
                bootstrap=kafka_bootstrap,
                options=RuntimeOptions(group_id=f"watch-{uuid.uuid4().hex}", backoff_initial_s=0.1),
            )
            async with running(service):
                assert await eventually(
                    lambda: (
                        {r.camera_id for r in records.values()}
                        in [set(c) for c in service.watched_devices.values()]
                    ),
                    timeout_s=30,
                )
                device = sim.devices[0]
                for channel in (3, 2, 4):
                    await device.emit("VMD", channel=channel)
                arrived = await events.wait_for(
                    lambda _k, v: (
                        isinstance(v, DeviceEvent)
                        and v.camera_id in {r.camera_id for r in records.values()}
                    ),
                    count=3,
                    timeout_s=30,
                )
    finally:
        await registry.stop()
        await events.stop()
    got = [(v.source.channel, v.camera_id) for _k, v in arrived if isinstance(v, DeviceEvent)]
    # Each camera is its own partition key: the order across cameras is the broker's.
    assert sorted(got) == sorted((channel, records[channel].camera_id) for channel in (3, 2, 4))


@pytest.mark.kafka
@pytest.mark.timeout(120)
async def test_a_watched_onvif_encoder_s_events_and_health_reach_each_source_s_camera(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import random
    import uuid

    from sdk_helpers import TopicTail, eventually, running

    from connectors.onvif.connector import OnvifConnector
    from connectors.onvif.simulator import OnvifFleet
    from connectors.sdk.runtime import RuntimeOptions, WatchService, onboard
    from topics.admin import apply_catalog
    from topics.catalog import CAMERA_REGISTRY, CAMERA_STATUS, DEVICE_EVENTS, all_topics
    from topics.client import CatalogProducer
    from topics.models import CameraStatus

    monkeypatch.setenv("TILIK_CAMERA_SECRET_TEST_ONVIF_CHANNELS", ONVIF_PASSWORD)
    apply_catalog(all_topics(), bootstrap=kafka_bootstrap)
    registry = await TopicTail(kafka_bootstrap, CAMERA_REGISTRY).start()
    events = await TopicTail(kafka_bootstrap, DEVICE_EVENTS).start()
    statuses = await TopicTail(kafka_bootstrap, CAMERA_STATUS).start()
    try:
        async with OnvifFleet(
            cameras=1,
            username="admin",
            password=ONVIF_PASSWORD,
            seed=random.randrange(10_000, 1_000_000),
            video_sources=3,
        ) as fleet:
            camera = fleet.cameras[0]
            config = {"address": camera.address, "credential_ref": ONVIF_REF}
            async with CatalogProducer(kafka_bootstrap) as producer:
                summary = await onboard(OnvifConnector, [config], producer=producer)
            assert summary.ok, summary.as_dict()
            published = await registry.wait_for(
                lambda _k, v: isinstance(v, CameraRecord) and v.address == camera.address,
                count=3,
            )
            records = {v.channel: v for _k, v in published if isinstance(v, CameraRecord)}
            assert record_refs(records[2])[0] == "videosource=VideoSource_2"
            cameras = {r.camera_id for r in records.values()}
            service = WatchService(
                OnvifConnector,
                bootstrap=kafka_bootstrap,
                options=RuntimeOptions(
                    group_id=f"watch-{uuid.uuid4().hex}",
                    backoff_initial_s=0.1,
                    health_interval_s=0.5,
                ),
            )
            async with running(service):
                assert await eventually(
                    lambda: cameras in [set(c) for c in service.watched_devices.values()],
                    timeout_s=60,
                )

                # Every channel's camera gets its status (a round before the device's last
                # records arrived may have reported only the cameras known then).
                def reported() -> set[str]:
                    return {v.camera_id for _k, v in statuses.values if isinstance(v, CameraStatus)}

                assert await eventually(lambda: cameras <= reported(), timeout_s=60), reported()
                assert await eventually(lambda: len(camera.subscriptions) >= 1, timeout_s=60)
                for topic, source, data, _channel in ENCODER_EVENTS:
                    camera.inject(topic, source=source, data=data)
                injected = {topic for topic, *_ in ENCODER_EVENTS}
                arrived = await events.wait_for(
                    lambda _k, v: (
                        isinstance(v, DeviceEvent)
                        and v.source.vendor_topic in injected
                        and v.active is not False
                    ),
                    count=len(ENCODER_EVENTS),
                    timeout_s=60,
                )
    finally:
        for tail in (registry, events, statuses):
            await tail.stop()
    got = sorted(
        (v.source.vendor_topic, v.camera_id) for _k, v in arrived if isinstance(v, DeviceEvent)
    )
    assert got == sorted(
        (topic, records[channel].camera_id) for topic, _s, _d, channel in ENCODER_EVENTS
    )


def test_records_from_before_channel_references_make_a_map_that_knows_none() -> None:
    old = camera_record("old").model_copy(update={"channel": 1, "connector_config": {}})
    channels = ChannelMap.from_records([old])
    # Empty: a vendor connector then numbers channels from the device's own answer.
    assert not channels and channels.camera_ids == [old.camera_id]
    assert channels.first == ChannelCamera(old.camera_id, 1)


async def test_tilik_simulate_hikvision_serves_a_hybrid_recorder() -> None:
    import subprocess
    import sys
    from pathlib import Path

    tilik = Path(sys.executable).parent / "tilik"
    process = subprocess.Popen(
        [tilik, "simulate", "hikvision", "--channels", "4", "--analog-channels", "2",
         "--event-rate", "0", "--password", PASSWORD],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        address = process.stdout.readline().decode().strip()
        connector = _hikvision(address)
        try:
            records = await connector.discover()
        finally:
            await connector.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert [(r.channel, r.name) for r in records] == [
        (1, "Camera 01"),
        (2, "Camera 02"),
        (3, "IPCamera 01"),
        (4, "IPCamera 02"),
    ]

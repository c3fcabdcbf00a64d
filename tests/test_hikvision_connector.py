"""Hikvision specifics against the simulator: cameras vs NVRs, ISAPI URIs, channel status, hostile answers."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

from connectors.private_vendors.hikvision.connector import HikvisionConnector
from connectors.private_vendors.hikvision.simulator import HikvisionSimulator
from connectors.private_vendors.kits import VENDORS
from connectors.sdk.errors import DeviceDataError
from connectors.sdk.simulation.testing import collect_numbered
from topics.models import CameraState

PASSWORD = "hik-Pa55word"
REF = "admin@env:TILIK_CAMERA_SECRET_TEST_HIK_PASS"


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TILIK_CAMERA_SECRET_TEST_HIK_PASS", PASSWORD)


def connector_for(address: str) -> HikvisionConnector:
    connector = VENDORS["hikvision"].make(address, REF, reconnect_initial_s=0.05, timeout_s=3)
    assert isinstance(connector, HikvisionConnector)
    return connector


async def test_ip_camera_is_one_camera_with_isapi_stream_and_snapshot_uris() -> None:
    async with HikvisionSimulator(password=PASSWORD, event_rate=0) as sim:
        connector = connector_for(sim.addresses[0])
        try:
            check = await connector.check()
            (record,) = await connector.discover()
            http = await connector.http()
            snapshot = await http.get(record.streams[0].snapshot_uri.split(sim.addresses[0], 1)[1])  # type: ignore[union-attr]
        finally:
            await connector.close()
    assert check.ok and "IPCamera" in check.detail
    assert record.channel == 1 and record.name == "Camera 01"
    assert record.model == "DS-2CD2143G2-I" and record.firmware == "V4.62.210"
    assert record.mac is not None and record.mac.startswith("44:19:b6:")
    main, sub = record.streams
    assert main.rtsp_uri == "rtsp://127.0.0.1:554/Streaming/Channels/101"
    assert sub.rtsp_uri == "rtsp://127.0.0.1:554/Streaming/Channels/102"
    assert main.snapshot_uri == f"http://{sim.addresses[0]}/ISAPI/Streaming/channels/101/picture"
    assert snapshot.content_type == "image/jpeg" and snapshot.body.startswith(b"\xff\xd8")


async def test_nvr_proxied_channels_report_their_online_state() -> None:
    async with HikvisionSimulator(channels=32, password=PASSWORD, event_rate=0) as sim:
        connector = connector_for(sim.addresses[0])
        try:
            records = await connector.discover()
            statuses = await connector.health()
        finally:
            await connector.close()
    assert records[4].name == "IPCamera 05"
    assert records[4].streams[1].rtsp_uri == "rtsp://127.0.0.1:554/Streaming/Channels/502"
    offline = [s.camera_id for s in statuses if s.state is CameraState.OFFLINE]
    assert offline == [records[9].camera_id, records[19].camera_id, records[29].camera_id]
    assert all(
        s.reason == "channel offline on the recorder"
        for s in statuses
        if s.state is CameraState.OFFLINE
    )


async def test_events_carry_the_proxied_channel_and_its_camera_id() -> None:
    async with HikvisionSimulator(
        channels=8, password=PASSWORD, event_rate=100, max_events=16
    ) as sim:
        connector = connector_for(sim.addresses[0])
        try:
            records = {r.channel: r.camera_id for r in await connector.discover()}
            run = await collect_numbered(connector, sim.devices[0], 16, timeout_s=15)
        finally:
            await connector.close()
    for event, seq in zip(run.events, run.seen, strict=True):
        expected_channel = (
            None if event.kind.value in ("storage_failure", "network_failure") else seq % 8 + 1
        )
        assert event.source.channel == expected_channel
        assert event.camera_id == records[expected_channel or 1]
    assert {e.kind.value for e in run.events} >= {
        "motion",
        "line_crossing",
        "plate_recognized",
        "crowd_density",
    }


@pytest.mark.parametrize("mode", ["malformed", "oversized"])
async def test_hostile_device_answers_are_device_data_errors(mode: str) -> None:
    async with HikvisionSimulator(password=PASSWORD, event_rate=0) as sim:
        sim.devices[0].set_corruption(mode)
        connector = connector_for(sim.addresses[0])
        try:
            with pytest.raises(DeviceDataError):
                await connector.check()
        finally:
            await connector.close()


def test_registered_under_its_entry_point_name() -> None:
    (entry,) = [e for e in entry_points(group="tilik.connectors") if e.name == "hikvision"]
    assert entry.load() is HikvisionConnector is VENDORS["hikvision"].connector

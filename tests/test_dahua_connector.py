"""Dahua specifics against the simulator: magicBox identity, channel titles, realmonitor URIs."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

from connectors.private_vendors.dahua.connector import DahuaConnector
from connectors.private_vendors.dahua.simulator import DahuaSimulator
from connectors.private_vendors.kits import VENDORS
from connectors.sdk.errors import DeviceDataError
from connectors.sdk.simulation.testing import collect_numbered
from topics.models import CameraState

PASSWORD = "dahua-Pa55word"
REF = "admin@env:TILIK_CAMERA_SECRET_TEST_DAHUA_PASS"


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TILIK_CAMERA_SECRET_TEST_DAHUA_PASS", PASSWORD)


def connector_for(address: str) -> DahuaConnector:
    connector = VENDORS["dahua"].make(address, REF, reconnect_initial_s=0.05, timeout_s=3)
    assert isinstance(connector, DahuaConnector)
    return connector


async def test_ip_camera_identity_and_realmonitor_uris() -> None:
    async with DahuaSimulator(password=PASSWORD, event_rate=0) as sim:
        connector = connector_for(sim.addresses[0])
        try:
            check = await connector.check()
            (record,) = await connector.discover()
        finally:
            await connector.close()
    assert check.ok and "IPC" in check.detail
    assert record.model == "IPC-HFW2431S-S-S2" and record.serial == sim.devices[0].serial
    assert record.firmware == "4.001.0000000.3,build:2023-05-17"
    assert record.name == "CAM 01" and record.channel == 1
    main, sub = record.streams
    assert main.rtsp_uri == "rtsp://127.0.0.1:554/cam/realmonitor?channel=1&subtype=0"
    assert sub.rtsp_uri == "rtsp://127.0.0.1:554/cam/realmonitor?channel=1&subtype=1"


async def test_nvr_channel_titles_become_camera_names() -> None:
    async with DahuaSimulator(channels=16, password=PASSWORD, event_rate=0) as sim:
        connector = connector_for(sim.addresses[0])
        try:
            records = await connector.discover()
        finally:
            await connector.close()
    assert [r.name for r in records[:3]] == ["CAM 01", "CAM 02", "CAM 03"]
    assert (
        records[15].streams[0].rtsp_uri
        == "rtsp://127.0.0.1:554/cam/realmonitor?channel=16&subtype=0"
    )


async def test_nvr_health_reports_the_cameras_it_cannot_reach() -> None:
    async with DahuaSimulator(channels=32, password=PASSWORD, event_rate=0) as sim:
        connector = connector_for(sim.addresses[0])
        try:
            records = await connector.discover()
            statuses = await connector.health()
        finally:
            await connector.close()
    offline = [s.camera_id for s in statuses if s.state is CameraState.OFFLINE]
    assert offline == [records[9].camera_id, records[19].camera_id, records[29].camera_id]
    assert sum(s.state is CameraState.ONLINE for s in statuses) == 29


async def test_zero_based_index_maps_to_the_discovered_channel() -> None:
    async with DahuaSimulator(channels=8, password=PASSWORD, event_rate=100, max_events=16) as sim:
        connector = connector_for(sim.addresses[0])
        try:
            records = {r.channel: r.camera_id for r in await connector.discover()}
            run = await collect_numbered(connector, sim.devices[0], 16, timeout_s=15)
        finally:
            await connector.close()
    assert len(run.events) == 16
    for event, seq in zip(run.events, run.seen, strict=True):
        expected_channel = None if event.kind.value == "storage_failure" else seq % 8 + 1
        assert event.source.channel == expected_channel
        assert event.camera_id == records[expected_channel or 1]


@pytest.mark.parametrize("mode", ["malformed", "oversized"])
async def test_hostile_device_answers_are_device_data_errors(mode: str) -> None:
    async with DahuaSimulator(password=PASSWORD, event_rate=0) as sim:
        sim.devices[0].set_corruption(mode)
        connector = connector_for(sim.addresses[0])
        try:
            with pytest.raises(DeviceDataError):
                await connector.check()
        finally:
            await connector.close()


def test_registered_under_its_entry_point_name() -> None:
    (entry,) = [e for e in entry_points(group="tilik.connectors") if e.name == "dahua"]
    assert entry.load() is DahuaConnector is VENDORS["dahua"].connector

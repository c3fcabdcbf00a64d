"""Discovery, identity, auth and health of both vendor connectors against their simulators."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from connectors.private_vendors.kits import VENDORS
from connectors.sdk.channels import ChannelMap
from connectors.sdk.errors import AuthenticationError
from connectors.sdk.simulation.testing import VendorKit, connected
from topics.models import CameraState

PASSWORD = "Rahasia-Kamera-42"
REF = "admin@env:TILIK_CAMERA_SECRET_TEST_VENDOR_PASS"
WRONG_REF = "admin@env:TILIK_CAMERA_SECRET_TEST_VENDOR_WRONG"


@pytest.fixture(autouse=True)
def _passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TILIK_CAMERA_SECRET_TEST_VENDOR_PASS", PASSWORD)
    monkeypatch.setenv("TILIK_CAMERA_SECRET_TEST_VENDOR_WRONG", "not-the-password")


@pytest.fixture(params=sorted(VENDORS))
def kit(request: pytest.FixtureRequest) -> VendorKit:
    return VENDORS[request.param]


async def test_nvr_with_32_channels_gives_32_cameras_with_stable_ids(kit: VendorKit) -> None:
    async with kit.simulator(channels=32, password=PASSWORD, event_rate=0, seed=7) as sim:
        async with connected(kit, sim, REF) as (connector,):
            first = await connector.discover()
            second = await connector.discover()
        address = sim.addresses[0]
    # Same device, new port: identity comes from the serial number, never the address.
    async with kit.simulator(channels=32, password=PASSWORD, event_rate=0, seed=7) as moved:
        assert moved.addresses[0] != address
        async with connected(kit, moved, REF) as (connector,):
            third = await connector.discover()
    assert len(first) == 32
    ids = [record.camera_id for record in first]
    assert len(set(ids)) == 32
    assert ids == [r.camera_id for r in second] == [r.camera_id for r in third]
    assert [r.channel for r in first] == list(range(1, 33))
    assert len({r.device_id for r in first}) == 1
    assert {r.connector for r in first} == {kit.name}
    assert third[0].address == moved.addresses[0]
    for record in first:
        assert record.credential_ref == REF
        assert record.serial and record.model and record.capabilities.events
        for stream in record.streams:
            assert stream.rtsp_uri is not None and stream.rtsp_uri.startswith(
                "rtsp://127.0.0.1:554/"
            )
            assert PASSWORD not in stream.model_dump_json()


async def test_two_devices_never_share_camera_ids(kit: VendorKit) -> None:
    async with (
        kit.simulator(devices=2, channels=4, password=PASSWORD, event_rate=0) as sim,
        connected(kit, sim, REF) as connectors,
    ):
        records = [r for c in connectors for r in await c.discover()]
    assert len({r.camera_id for r in records}) == 8
    assert len({r.device_id for r in records}) == 2


async def test_wrong_password_is_an_authentication_error_that_names_no_secret(
    kit: VendorKit,
) -> None:
    async with (
        kit.simulator(password=PASSWORD, event_rate=0) as sim,
        connected(kit, sim, WRONG_REF) as (connector,),
    ):
        with capture_logs() as logs, pytest.raises(AuthenticationError) as caught:
            await connector.check()
        with pytest.raises(AuthenticationError):
            await connector.discover()
        statuses = await connector.health()
    texts = [str(caught.value), repr(caught.value), repr(caught.value.__cause__), repr(logs)]
    assert "401" in str(caught.value)
    for text in texts:
        assert PASSWORD not in text and "not-the-password" not in text
    assert statuses == []  # nothing known about the device yet


async def test_health_reports_every_camera_and_unauthorized_after_a_password_change(
    kit: VendorKit,
) -> None:
    async with (
        kit.simulator(channels=4, password=PASSWORD, event_rate=0) as sim,
        connected(kit, sim, REF) as (connector,),
    ):
        records = await connector.discover()
        healthy = await connector.health()
        sim.devices[0].users["admin"] = "rotated-by-owner"
        with capture_logs() as logs:
            refused = await connector.health()
    assert [s.camera_id for s in healthy] == [r.camera_id for r in records]
    assert all(s.state is CameraState.ONLINE and s.latency_ms is not None for s in healthy)
    assert [s.state for s in refused] == [CameraState.UNAUTHORIZED] * 4
    assert all(PASSWORD not in (s.reason or "") for s in refused)
    assert PASSWORD not in repr(logs)


async def test_a_watch_that_never_read_the_device_reports_its_registered_cameras_unauthorized(
    kit: VendorKit,
) -> None:
    # A watch opened while the device answered garbage has read nothing from it: its cameras
    # are the registry's, and a refused password is still reported for each of them.
    async with kit.simulator(channels=3, password=PASSWORD, event_rate=0) as sim:
        async with connected(kit, sim, REF) as (first,):
            records = await first.discover()
        sim.devices[0].users["admin"] = "rotated-by-owner"
        fresh = kit.make(sim.addresses[0], REF)
        fresh.channels = ChannelMap.from_records(records)
        try:
            refused = await fresh.health()
        finally:
            await fresh.close()
    assert [s.camera_id for s in refused] == sorted(r.camera_id for r in records)
    assert [s.state for s in refused] == [CameraState.UNAUTHORIZED] * 3


async def test_unreachable_device_reports_known_cameras_offline(kit: VendorKit) -> None:
    async with kit.simulator(channels=2, password=PASSWORD, event_rate=0) as sim:
        connector = kit.make(sim.addresses[0], REF, timeout_s=2)
        await connector.discover()
    try:
        statuses = await connector.health()
    finally:
        await connector.close()
    assert [s.state for s in statuses] == [CameraState.OFFLINE] * 2
    assert all(s.reason for s in statuses)


async def test_resumed_state_lets_events_start_without_rediscovery(kit: VendorKit) -> None:
    async with kit.simulator(channels=2, password=PASSWORD, event_rate=0) as sim:
        async with connected(kit, sim, REF) as (first,):
            await first.discover()
            state = dict(first.state)
        resumed = kit.connector(first.config, state=state)
        try:
            context = await resumed.device_context()
        finally:
            await resumed.close()
    assert context.serial == state["identity"]["serial"]
    assert PASSWORD not in repr(state)


def test_simulate_command_prints_one_address_per_device_and_serves(kit: VendorKit) -> None:
    command = [
        str(Path(sys.executable).parent / "tilik"),
        "simulate",
        kit.name,
        "--devices",
        "3",
        "--channels",
        "2",
        "--password",
        PASSWORD,
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        addresses = [process.stdout.readline().strip() for _ in range(3)]

        async def discover(address: str) -> int:
            connector = kit.make(address, REF)
            try:
                return len(await connector.discover())
            finally:
                await connector.close()

        counts = [asyncio.run(discover(address)) for address in addresses]
    finally:
        process.terminate()
        process.wait(10)
    assert len(set(addresses)) == 3 and all(a.startswith("127.0.0.1:") for a in addresses)
    assert counts == [2, 2, 2]

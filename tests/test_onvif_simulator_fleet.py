"""Simulated fleets: hundreds of cameras, per-camera addresses, moves, injected faults and the CLI."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from lxml import etree

from connectors.onvif.simulator import Fault, FaultPlan, OnvifFleet
from connectors.onvif.simulator.client import (
    fault_subcodes,
    post_soap,
    request_envelope,
    username_token,
)
from connectors.onvif.simulator.soap import CONTENT_TYPE, NAMESPACES

PASSWORD = "Lawang-Sewu-9"
NS = NAMESPACES
TILIK = str(Path(sys.executable).with_name("tilik"))
DATE_AND_TIME = request_envelope("<tds:GetSystemDateAndTime/>")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as client:
        yield client


def device_info() -> bytes:
    return request_envelope("<tds:GetDeviceInformation/>", username_token("admin", PASSWORD))


async def serial_of(session, camera) -> str:
    status, root = await post_soap(session, camera.device_url, device_info())
    assert status == 200
    return root.findtext(".//tds:SerialNumber", namespaces=NS)


async def test_two_hundred_cameras_start_and_each_answers_as_itself(session):
    async with OnvifFleet(200, password=PASSWORD, seed=9) as fleet:
        assert len(set(fleet.addresses)) == 200
        serials = await asyncio.gather(*(serial_of(session, c) for c in fleet.cameras))
    assert serials == [camera.serial for camera in fleet.cameras]
    assert len({camera.mac for camera in fleet.cameras}) == 200
    assert len({camera.endpoint_reference for camera in fleet.cameras}) == 200


def test_identities_are_reproducible_from_the_seed():
    one, two = OnvifFleet(5, seed=4), OnvifFleet(5, seed=4)
    assert [c.identity for c in one.cameras] == [c.identity for c in two.cameras]
    assert [c.serial for c in OnvifFleet(5, seed=5).cameras] != [c.serial for c in one.cameras]


async def test_address_mode_gives_every_camera_its_own_loopback_address(session):
    async with OnvifFleet(20, password=PASSWORD, host_mode="addresses") as fleet:
        hosts = {camera.host for camera in fleet.cameras}
        ports = {camera.port for camera in fleet.cameras}
        assert len(hosts) == 20 and len(ports) == 1
        assert all(host.startswith("127.") and host != "127.0.0.1" for host in hosts)
        serials = await asyncio.gather(*(serial_of(session, c) for c in fleet.cameras))
        assert serials == [camera.serial for camera in fleet.cameras]
        camera = fleet.cameras[3]
        _, root = await post_soap(
            session,
            camera.device_url,
            request_envelope("<tds:GetNetworkInterfaces/>", username_token("admin", PASSWORD)),
        )
        assert root.findtext(".//tt:IPv4//tt:Address", namespaces=NS) == camera.host


async def test_moving_a_camera_keeps_its_identity_and_frees_the_old_address(session):
    async with OnvifFleet(2, password=PASSWORD) as fleet:
        camera = fleet.cameras[0]
        old_url, identity = camera.device_url, camera.identity
        new_address = await camera.move_to("127.100.7.7:0")
        assert new_address.startswith("127.100.7.7:")
        assert camera.identity is identity
        assert await serial_of(session, camera) == camera.serial
        with pytest.raises(aiohttp.ClientConnectionError):
            await post_soap(session, old_url, DATE_AND_TIME)


async def test_power_cycle_takes_a_camera_offline_and_back_at_the_same_address(session):
    async with OnvifFleet(2, password=PASSWORD) as fleet:
        camera = fleet.cameras[1]
        address = camera.address
        assert await serial_of(session, camera) == camera.serial  # leaves a keep-alive connection
        subscription = camera.subscriptions.create(camera.now() + dt.timedelta(minutes=1))
        assert subscription is not None
        await camera.power_off()
        with pytest.raises(aiohttp.ClientConnectionError):
            await post_soap(session, camera.device_url, DATE_AND_TIME)
        with pytest.raises(aiohttp.ClientConnectionError):
            await post_soap(session, camera.device_url, DATE_AND_TIME)
        assert not camera.subscriptions.active
        assert await serial_of(session, fleet.cameras[0]) == fleet.cameras[0].serial
        await camera.power_on()
        assert camera.address == address and camera.reboots == 1
        assert await serial_of(session, camera) == camera.serial


async def test_slow_fault_delays_the_answer(session):
    async with OnvifFleet(1, password=PASSWORD, faults=FaultPlan(slow_seconds=0.5)) as fleet:
        camera = fleet.cameras[0]
        camera.force_fault(Fault.SLOW)
        started = time.monotonic()
        status, _ = await post_soap(session, camera.device_url, DATE_AND_TIME)
        assert status == 200 and time.monotonic() - started >= 0.5
        started = time.monotonic()
        await post_soap(session, camera.device_url, DATE_AND_TIME)
        assert time.monotonic() - started < 0.4


async def test_malformed_fault_returns_broken_xml_then_recovers(session):
    async with OnvifFleet(1, password=PASSWORD) as fleet:
        camera = fleet.cameras[0]
        camera.force_fault("malformed")
        with pytest.raises(etree.XMLSyntaxError):
            await post_soap(session, camera.device_url, DATE_AND_TIME)
        status, _ = await post_soap(session, camera.device_url, DATE_AND_TIME)
        assert status == 200


async def test_unauthorized_fault_rejects_valid_credentials_once(session):
    async with OnvifFleet(1, password=PASSWORD) as fleet:
        camera = fleet.cameras[0]
        camera.force_fault("unauthorized")
        status, root = await post_soap(session, camera.device_url, device_info())
        assert status == 401 and fault_subcodes(root) == ["ter:NotAuthorized"]
        assert await serial_of(session, camera) == camera.serial


async def test_xxe_fault_puts_hostile_entities_in_an_event_response(session):
    async with OnvifFleet(1, password=PASSWORD) as fleet:
        camera = fleet.cameras[0]
        token = username_token("admin", PASSWORD)
        _, root = await post_soap(
            session,
            f"{camera.base_url}/onvif/events_service",
            request_envelope("<tev:CreatePullPointSubscription/>", token),
        )
        address = root.findtext(".//tev:SubscriptionReference/wsa:Address", namespaces=NS)
        camera.force_fault("xxe", times=2)
        bodies = []
        for _ in range(2):
            pull = request_envelope(
                "<tev:PullMessages><tev:Timeout>PT1S</tev:Timeout>"
                "<tev:MessageLimit>5</tev:MessageLimit></tev:PullMessages>",
                username_token("admin", PASSWORD),
            )
            async with session.post(
                address, data=pull, headers={"Content-Type": CONTENT_TYPE}
            ) as r:
                bodies.append(await r.read())
        assert all(b"<!DOCTYPE" in body and b"<!ENTITY" in body for body in bodies)
        assert camera.fault_state.applied[Fault.XXE] == 2


async def test_reboot_fault_drops_subscriptions(session):
    async with OnvifFleet(1, password=PASSWORD) as fleet:
        camera = fleet.cameras[0]
        subscription = camera.subscriptions.create(camera.now() + dt.timedelta(minutes=1))
        assert subscription is not None and camera.subscriptions.active
        camera.force_fault(Fault.REBOOT)
        await post_soap(session, camera.device_url, DATE_AND_TIME)
        assert not camera.subscriptions.active and camera.reboots == 1


def test_fault_spec_parses_and_rejects_nonsense():
    plan = FaultPlan.parse(
        "slow=0.05, malformed=0.01,unauthorized=0.01,reboot=0.001,clock_offset=3600"
    )
    assert plan == FaultPlan(
        slow=0.05, malformed=0.01, unauthorized=0.01, reboot=0.001, clock_offset=3600
    )
    assert FaultPlan.parse("") == FaultPlan()
    with pytest.raises(ValueError, match="explode"):
        FaultPlan.parse("explode=1")
    with pytest.raises(ValueError, match="probability"):
        FaultPlan.parse("slow=2")


async def test_fault_rates_apply_in_proportion(session):
    plan = FaultPlan(unauthorized=0.3)
    async with OnvifFleet(1, password=PASSWORD, faults=plan, seed=1) as fleet:
        statuses = [
            (await post_soap(session, fleet.cameras[0].device_url, device_info()))[0]
            for _ in range(100)
        ]
    assert 15 <= statuses.count(401) <= 45


def test_cli_prints_one_address_per_camera_then_serves_until_terminated():
    env = {**os.environ, "TILIK_SIM_ONVIF_PASSWORD": PASSWORD}
    process = subprocess.Popen(
        [TILIK, "simulate", "onvif", "--cameras", "5", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        lines = [process.stdout.readline().decode().strip() for _ in range(5)]
        assert all(line.startswith("127.0.0.1:") for line in lines)
        assert len(set(lines)) == 5
        assert process.poll() is None
        process.terminate()
        assert process.wait(timeout=10) == 0
        assert PASSWORD.encode() not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.slow
async def test_two_thousand_cameras_in_one_process(session):
    async with OnvifFleet(2000, password=PASSWORD, seed=2) as fleet:
        assert len(set(fleet.addresses)) == 2000
        sample = fleet.cameras[::97]
        serials = await asyncio.gather(*(serial_of(session, c) for c in sample))
    assert serials == [camera.serial for camera in sample]


def test_serials_and_macs_are_unique_within_a_fleet_and_differ_between_seeds():
    cameras = OnvifFleet(3000, seed=8).cameras
    assert len({c.serial for c in cameras}) == 3000
    assert len({c.mac for c in cameras}) == 3000
    other = OnvifFleet(3, seed=9).cameras
    assert {c.serial for c in other}.isdisjoint(c.serial for c in cameras)
    assert {c.mac for c in other}.isdisjoint(c.mac for c in cameras)


def test_simulator_password_defaults_to_the_sim_password_setting():
    from connectors.onvif.simulator.cli import simulate_onvif
    from connectors.sdk.simulator import default_sim_password

    [option] = [p for p in simulate_onvif.params if p.name == "password"]
    assert option.envvar is None and option.default is default_sim_password

"""Simulated ONVIF cameras over raw HTTP: authentication, faults and device/media answers."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import aiohttp
import pytest
from structlog.testing import capture_logs

from connectors.onvif.simulator import FaultPlan, OnvifFleet
from connectors.onvif.simulator.client import (
    fault_subcodes,
    post_soap,
    request_envelope,
    username_token,
)
from connectors.onvif.simulator.soap import NAMESPACES, child_text, parse_request

PASSWORD = "Kota-Lama#2024"
NS = NAMESPACES


@pytest.fixture
async def fleet() -> AsyncIterator[OnvifFleet]:
    async with OnvifFleet(3, username="admin", password=PASSWORD, seed=7) as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def device_request(operation: str, *, password: str = PASSWORD, **token: object) -> bytes:
    return request_envelope(f"<tds:{operation}/>", username_token("admin", password, **token))  # type: ignore[arg-type]


async def test_system_date_and_time_answers_without_credentials(fleet, session):
    camera = fleet.cameras[0]
    status, root = await post_soap(
        session, camera.device_url, request_envelope("<tds:GetSystemDateAndTime/>")
    )
    assert status == 200
    year = root.findtext(".//tt:UTCDateTime/tt:Date/tt:Year", namespaces=NS)
    assert year == str(dt.datetime.now(dt.UTC).year)


async def test_device_information_with_a_valid_digest(fleet, session):
    camera = fleet.cameras[0]
    status, root = await post_soap(
        session, camera.device_url, device_request("GetDeviceInformation")
    )
    assert status == 200
    assert root.findtext(".//tds:SerialNumber", namespaces=NS) == camera.serial
    assert root.findtext(".//tds:Manufacturer", namespaces=NS) == "HIKVISION"


@pytest.mark.parametrize(("index", "status"), [(0, 401), (1, 400)])
async def test_wrong_password_is_a_not_authorized_fault_with_the_vendors_status(
    fleet, session, index, status
):
    camera = fleet.cameras[index]
    got, root = await post_soap(
        session, camera.device_url, device_request("GetDeviceInformation", password="wrong")
    )
    assert got == status
    assert root.findtext(".//env:Code/env:Value", namespaces=NS) == "env:Sender"
    assert fault_subcodes(root) == ["ter:NotAuthorized"]


async def test_request_without_a_token_is_not_authorized(fleet, session):
    status, root = await post_soap(
        session, fleet.cameras[0].device_url, request_envelope("<tds:GetDeviceInformation/>")
    )
    assert status == 401
    assert fault_subcodes(root) == ["ter:NotAuthorized"]


async def test_created_outside_the_skew_is_rejected(fleet, session):
    stale = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    status, root = await post_soap(
        session, fleet.cameras[0].device_url, device_request("GetScopes", created=stale)
    )
    assert status == 401
    assert fault_subcodes(root) == ["ter:NotAuthorized"]


async def test_skew_is_measured_against_the_cameras_clock(fleet, session):
    camera = fleet.cameras[2]
    camera.faults = FaultPlan(clock_offset=3600)
    status, root = await post_soap(
        session, camera.device_url, request_envelope("<tds:GetSystemDateAndTime/>")
    )
    hour = int(root.findtext(".//tt:UTCDateTime/tt:Time/tt:Hour", namespaces=NS))
    assert hour == (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).hour
    late = await post_soap(session, camera.device_url, device_request("GetHostname"))
    assert late[0] == 401
    shifted = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    status, root = await post_soap(
        session, camera.device_url, device_request("GetHostname", created=shifted)
    )
    assert status == 200
    assert root.findtext(".//tt:Name", namespaces=NS)


async def test_rejected_credentials_never_reach_the_logs(fleet, session):
    with capture_logs() as logs:
        await post_soap(
            session,
            fleet.cameras[0].device_url,
            device_request("GetDeviceInformation", password="hunter2-wrong"),
        )
    assert logs, "the rejection is logged"
    rendered = repr(logs)
    assert "hunter2-wrong" not in rendered
    assert PASSWORD not in rendered


async def test_malformed_request_is_a_sender_fault(fleet, session):
    status, root = await post_soap(session, fleet.cameras[0].device_url, b"<not-soap")
    assert status == 400
    assert root.findtext(".//env:Code/env:Value", namespaces=NS) == "env:Sender"


def test_request_entities_are_not_expanded():
    payload = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>'
        + request_envelope("<tds:SetHostname><tds:Name>&xxe;</tds:Name></tds:SetHostname>").split(
            b"?>", 1
        )[1]
    )
    request = parse_request(payload)
    assert request.operation == "SetHostname"
    assert child_text(request.body, "Name") == ""


async def test_unknown_operation_is_action_not_supported(fleet, session):
    status, root = await post_soap(
        session, fleet.cameras[0].device_url, device_request("GetZeroConfiguration")
    )
    assert status == 500
    assert fault_subcodes(root) == ["ter:ActionNotSupported"]


async def test_network_interface_reports_the_cameras_mac(fleet, session):
    camera = fleet.cameras[1]
    _, root = await post_soap(session, camera.device_url, device_request("GetNetworkInterfaces"))
    assert root.findtext(".//tt:HwAddress", namespaces=NS) == camera.mac


async def test_scopes_name_the_camera_and_its_kecamatan(fleet, session):
    camera = fleet.cameras[0]
    _, root = await post_soap(session, camera.device_url, device_request("GetScopes"))
    items = [item.text for item in root.iterfind(".//tt:ScopeItem", namespaces=NS)]
    assert "onvif://www.onvif.org/location/city/Semarang" in items
    assert any(item.startswith("onvif://www.onvif.org/name/") for item in items)
    assert any(item.startswith("onvif://www.onvif.org/location/kecamatan/") for item in items)


async def test_profiles_and_stream_uri_without_credentials_in_it(fleet, session):
    camera = fleet.cameras[0]
    media_url = f"{camera.base_url}/onvif/media_service"
    token = username_token("admin", PASSWORD)
    _, root = await post_soap(session, media_url, request_envelope("<trt:GetProfiles/>", token))
    profiles = root.findall(".//trt:Profiles", namespaces=NS)
    assert 2 <= len(profiles) <= 3
    encodings = {p.findtext(".//tt:Encoding", namespaces=NS) for p in profiles}
    assert encodings <= {"H264", "H265"}
    body = (
        "<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport>"
        "<tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup>"
        "<trt:ProfileToken>Profile_1</trt:ProfileToken></trt:GetStreamUri>"
    )
    token = username_token("admin", PASSWORD)
    _, root = await post_soap(session, media_url, request_envelope(body, token))
    uri = root.findtext(".//tt:Uri", namespaces=NS)
    assert uri.startswith(f"rtsp://{camera.host}:554/")
    assert "@" not in uri and PASSWORD not in uri


async def test_a_replayed_request_is_rejected(fleet, session):
    replayed = device_request("GetDeviceInformation")
    first, _ = await post_soap(session, fleet.cameras[0].device_url, replayed)
    again, root = await post_soap(session, fleet.cameras[0].device_url, replayed)
    assert (first, again) == (200, 401)
    assert fault_subcodes(root) == ["ter:NotAuthorized"]

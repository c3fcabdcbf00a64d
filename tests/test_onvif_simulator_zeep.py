"""onvif-zeep-async, the library the ONVIF connector builds on, talks to the simulated cameras."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from onvif import ONVIFCamera
from zeep.exceptions import Fault

from connectors.onvif.simulator import FaultPlan, OnvifFleet

PASSWORD = "Simpang-Lima-7"
DEVICE_NS = "http://www.onvif.org/ver10/device/wsdl"
EVENTS_NS = "http://www.onvif.org/ver10/events/wsdl"
PTZ_NS = "http://www.onvif.org/ver20/ptz/wsdl"
WSRF_RW = "http://docs.oasis-open.org/wsrf/rw-2"
ONVIF_ERROR = "http://www.onvif.org/ver10/error"


@pytest.fixture
async def fleet() -> AsyncIterator[OnvifFleet]:
    async with OnvifFleet(3, username="admin", password=PASSWORD, seed=11) as running:
        yield running


def client_for(address: str, password: str = PASSWORD, *, adjust_time: bool = False) -> ONVIFCamera:
    host, port = address.rsplit(":", 1)
    return ONVIFCamera(host, int(port), "admin", password, no_cache=True, adjust_time=adjust_time)


@pytest.fixture
async def onvif_camera(fleet) -> AsyncIterator[ONVIFCamera]:
    client = client_for(fleet.cameras[0].address)
    await client.update_xaddrs()
    yield client
    await client.close()


async def test_update_xaddrs_finds_every_service(fleet, onvif_camera):
    camera = fleet.cameras[0]
    assert onvif_camera.xaddrs[DEVICE_NS] == camera.device_url
    assert onvif_camera.xaddrs[EVENTS_NS] == f"{camera.base_url}/onvif/events_service"


async def test_device_information_and_scopes(fleet, onvif_camera):
    camera = fleet.cameras[0]
    device = await onvif_camera.create_devicemgmt_service()
    info = await device.GetDeviceInformation()
    assert info.SerialNumber == camera.serial
    assert info.Model == camera.identity.model
    interfaces = await device.GetNetworkInterfaces()
    assert interfaces[0].Info.HwAddress == camera.mac
    scopes = [scope.ScopeItem for scope in await device.GetScopes()]
    assert f"onvif://www.onvif.org/hardware/{camera.identity.model}" in scopes
    capabilities = await onvif_camera.get_capabilities()
    assert capabilities["Events"]["WSPullPointSupport"] is True


async def test_profiles_stream_and_snapshot_uris(fleet, onvif_camera):
    camera = fleet.cameras[0]
    media = await onvif_camera.create_media_service()
    profiles = await media.GetProfiles()
    assert [p.token for p in profiles] == ["Profile_1", "Profile_2", "Profile_3"]
    assert profiles[0].VideoEncoderConfiguration.Resolution.Width == 2560
    stream = await media.GetStreamUri(
        {
            "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
            "ProfileToken": profiles[1].token,
        }
    )
    assert stream.Uri == f"rtsp://{camera.host}:554/Streaming/Channels/102"
    snapshot = await onvif_camera.get_snapshot(profiles[0].token)
    assert snapshot is not None and snapshot.startswith(b"\xff\xd8")


async def test_pullpoint_subscription_delivers_an_injected_event(fleet, onvif_camera):
    camera = fleet.cameras[0]
    events = await onvif_camera.create_events_service()
    properties = await events.GetEventProperties()
    assert properties.FixedTopicSet is True
    manager = await onvif_camera.create_pullpoint_manager(dt.timedelta(seconds=60), lambda: None)
    try:
        pullpoint = manager.get_service()
        initial = await pullpoint.PullMessages(
            {"MessageLimit": 100, "Timeout": dt.timedelta(seconds=1)}
        )
        assert {m.Message._value_1.PropertyOperation for m in initial.NotificationMessage} == {
            "Initialized"
        }
        camera.inject("tns1:RuleEngine/LineDetector/Crossed", data={"ObjectId": "4242"})
        pulled = await pullpoint.PullMessages(
            {"MessageLimit": 10, "Timeout": dt.timedelta(seconds=5)}
        )
        [message] = pulled.NotificationMessage
        assert message.Topic._value_1.strip() == "tns1:RuleEngine/LineDetector/Crossed"
        payload = message.Message._value_1
        assert payload.Data.SimpleItem[0].Name == "ObjectId"
        assert payload.Data.SimpleItem[0].Value == "4242"
        assert pulled.TerminationTime > pulled.CurrentTime
    finally:
        await manager.shutdown()


async def test_renew_after_reboot_is_a_fault(fleet, onvif_camera):
    camera = fleet.cameras[0]
    manager = await onvif_camera.create_pullpoint_manager(dt.timedelta(seconds=60), lambda: None)
    subscription = await onvif_camera.create_subscription_service("PullPointSubscription")
    renewed = await subscription.Renew("PT120S")
    assert renewed.TerminationTime > renewed.CurrentTime
    camera.reboot()
    with pytest.raises(Fault) as raised:
        await subscription.Renew("PT120S")
    [subcode] = raised.value.subcodes
    assert (subcode.namespace, subcode.localname) == (WSRF_RW, "ResourceUnknownFault")
    await manager.shutdown()


async def test_wrong_password_raises_a_fault(fleet):
    client = client_for(fleet.cameras[1].address, "not-the-password")
    try:
        device = await client.create_devicemgmt_service()
        with pytest.raises(Fault) as raised:
            await device.GetDeviceInformation()
        [subcode] = raised.value.subcodes
        assert (subcode.namespace, subcode.localname) == (ONVIF_ERROR, "NotAuthorized")
    finally:
        await client.close()


async def test_adjust_time_works_with_a_camera_an_hour_ahead(fleet):
    camera = fleet.cameras[2]
    camera.faults = FaultPlan(clock_offset=3600)
    client = client_for(camera.address, adjust_time=True)
    try:
        await client.update_xaddrs()
        device = await client.create_devicemgmt_service()
        assert (await device.GetDeviceInformation()).SerialNumber == camera.serial
    finally:
        await client.close()


async def test_ptz_service_only_on_ptz_models():
    async with OnvifFleet(9, password=PASSWORD, seed=11) as fleet:
        with_ptz = next(c for c in fleet.cameras if c.identity.has_ptz)
        without = next(c for c in fleet.cameras if not c.identity.has_ptz)
        for camera, expected in ((with_ptz, True), (without, False)):
            client = client_for(camera.address)
            try:
                await client.update_xaddrs()
                assert (PTZ_NS in client.xaddrs) is expected
                if expected:
                    ptz = await client.create_ptz_service()
                    [node] = await ptz.GetNodes()
                    assert node.HomeSupported is True
            finally:
                await client.close()

"""Media2 (Profile T): cameras that offer only ``ver20/media`` (many H.265 models) get their
profiles and stream URIs, over real loopback HTTP to the simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from connectors.onvif.connector import OnvifConfig, OnvifConnector
from connectors.onvif.device import MEDIA2, TR2, OnvifDevice, parse_profiles
from connectors.onvif.probe import ProbeTarget, probe_many
from connectors.onvif.simulator import OnvifFleet
from connectors.onvif.soap import SoapFault, SoapTransport
from connectors.sdk.errors import DeviceDataError
from connectors.sdk.http import HttpLimits
from connectors.sdk.secrets import Credentials
from connectors.sdk.xmlsafe import parse_device_xml

PASSWORD = "Rahasia-Media2-41"
REF = "admin@env:TILIK_CAMERA_SECRET_TEST_MEDIA2"


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TILIK_CAMERA_SECRET_TEST_MEDIA2", PASSWORD)


@pytest_asyncio.fixture
async def transport() -> AsyncIterator[SoapTransport]:
    async with SoapTransport(HttpLimits(timeout_s=5)) as shared:
        yield shared


def creds() -> Credentials:
    return Credentials(username="admin", password=PASSWORD)  # type: ignore[arg-type]


def streams(records: list) -> dict[str, list[tuple]]:
    return {
        r.serial: [(s.token, s.name, s.codec, s.width, s.height, s.fps) for s in r.streams]
        for r in records
    }


async def test_a_media2_only_camera_gets_the_same_profiles_and_uris_as_through_media(
    transport: SoapTransport,
) -> None:
    # The same cameras (same seed), once offering Media and once only Media2.
    async with OnvifFleet(cameras=3, password=PASSWORD, seed=41) as fleet:
        through_media = await probe_many(transport, [ProbeTarget(a, REF) for a in fleet.addresses])
    async with OnvifFleet(cameras=3, password=PASSWORD, seed=41, media="media2") as fleet:
        through_media2 = await probe_many(transport, [ProbeTarget(a, REF) for a in fleet.addresses])
        snapshot = await OnvifDevice(transport, fleet.addresses[0], creds()).snapshot()
    assert through_media2.failures == []
    assert streams(through_media2.records) == streams(through_media.records)
    # Camera 0 is the H.265 model: its main stream is reported as such.
    assert snapshot.services.media is None and snapshot.services.media2 is not None
    main = snapshot.profiles[0]
    assert (main.codec, main.width, main.height, main.fps) == ("H265", 2560, 1440, 25.0)
    host = fleet.addresses[0].split(":")[0]
    assert main.stream_uri == f"rtsp://{host}:554/Streaming/Channels/101"
    assert main.snapshot_uri is not None
    assert main.snapshot_uri.startswith(f"http://{fleet.addresses[0]}/onvif/snapshot")
    for record in through_media2.records:
        assert [s.token for s in record.streams] == ["Profile_1", "Profile_2", "Profile_3"]
        assert all(s.rtsp_uri and s.rtsp_uri.startswith("rtsp://") for s in record.streams)


async def test_a_camera_with_both_services_is_read_through_media(
    transport: SoapTransport,
) -> None:
    async with OnvifFleet(cameras=1, password=PASSWORD, seed=42, media="both") as fleet:
        snapshot = await OnvifDevice(transport, fleet.addresses[0], creds()).snapshot()
    assert snapshot.services.media is not None
    assert len(snapshot.profiles) == 3 and snapshot.profiles[0].stream_uri


async def test_the_connector_discovers_a_media2_only_camera_with_its_streams() -> None:
    async with OnvifFleet(cameras=1, password=PASSWORD, seed=43, media="media2") as fleet:
        connector = OnvifConnector(OnvifConfig(address=fleet.addresses[0], credential_ref=REF))
        try:
            (record,) = await connector.discover()
        finally:
            await connector.close()
    assert record.serial == fleet.cameras[0].serial
    assert len(record.streams) == 3 and all(s.rtsp_uri for s in record.streams)


async def test_a_media2_only_camera_refuses_media_calls(transport: SoapTransport) -> None:
    # What a client that knows only Media meets: the probe's old path fails on this camera.
    async with OnvifFleet(cameras=1, password=PASSWORD, seed=44, media="media2") as fleet:
        device = OnvifDevice(transport, fleet.addresses[0], creds())
        await device.sync_clock()
        media_url = f"http://{fleet.addresses[0]}/onvif/media_service"
        with pytest.raises(SoapFault):
            await device.call(
                media_url, '<GetProfiles xmlns="http://www.onvif.org/ver10/media/wsdl"/>'
            )
        capabilities = await device.services()
        assert capabilities.media is None
        # A stream protocol Media2 does not define is refused, not guessed.
        with pytest.raises(SoapFault):
            await device.call(
                capabilities.media2,
                f'<GetStreamUri xmlns="{TR2}"><Protocol>HTTP</Protocol>'
                "<ProfileToken>Profile_1</ProfileToken></GetStreamUri>",
            )


MEDIA2_REPLY = f"""<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
 xmlns:m2="{TR2}" xmlns:t="http://www.onvif.org/ver10/schema"><s:Body>
<m2:GetProfilesResponse>
 <m2:Profiles token="h265main" fixed="true"><m2:Name>main</m2:Name><m2:Configurations>
  <m2:VideoEncoder token="enc0" GovLength="50" Profile="Main"><t:Name>e</t:Name>
   <t:UseCount>1</t:UseCount><t:Encoding>H265</t:Encoding>
   <t:Resolution><t:Width>3840.0</t:Width><t:Height>2160</t:Height></t:Resolution>
   <t:RateControl ConstantBitRate="true"><t:FrameRateLimit>20</t:FrameRateLimit>
   <t:BitrateLimit>8192</t:BitrateLimit></t:RateControl><t:Quality>4</t:Quality>
  </m2:VideoEncoder>
  <m2:PTZ token="ptz0"><t:Name>p</t:Name><t:UseCount>1</t:UseCount><t:NodeToken>n</t:NodeToken></m2:PTZ>
 </m2:Configurations></m2:Profiles>
 <m2:Profiles token="bare"><m2:Name>no configurations asked</m2:Name></m2:Profiles>
</m2:GetProfilesResponse></s:Body></s:Envelope>"""


def test_media2_profiles_are_read_with_their_encoder_and_ptz() -> None:
    body = parse_device_xml(MEDIA2_REPLY.encode(), device="cam")
    main, bare = parse_profiles(body, device="cam", media=MEDIA2)
    assert (main.token, main.name, main.codec, main.width, main.height, main.fps) == (
        "h265main",
        "main",
        "H265",
        3840,
        2160,
        20.0,
    )
    assert main.has_ptz
    assert (bare.token, bare.codec, bare.width, bare.has_ptz) == ("bare", None, None, False)


def test_a_media2_profile_without_a_token_is_device_data_error() -> None:
    reply = MEDIA2_REPLY.replace('token="bare"', 'token=" "')
    with pytest.raises(DeviceDataError, match="without a token"):
        parse_profiles(parse_device_xml(reply.encode(), device="cam"), device="cam", media=MEDIA2)

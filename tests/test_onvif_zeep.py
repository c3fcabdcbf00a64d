"""What remains on onvif-zeep-async (PTZ, imaging): over the shared transport, hardened, secrets kept.

The probe, health and events are raw SOAP; these tests cover the zeep path that is left.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import pytest_asyncio
import zeep.exceptions
from aiohttp import web
from structlog.testing import capture_logs
from zeep.loader import parse_xml

from connectors.onvif import zeep_client
from connectors.onvif.device import OnvifDevice, ServiceAddresses
from connectors.onvif.simulator import OnvifFleet
from connectors.onvif.simulator.device import VirtualCamera
from connectors.onvif.soap import SoapTransport
from connectors.onvif.zeep_client import HARDENED_SETTINGS, ZeepServices
from connectors.sdk.errors import AuthenticationError, ConfigurationError, DeviceDataError
from connectors.sdk.http import HttpLimits
from connectors.sdk.secrets import Credentials
from connectors.sdk.simulator import run_loopback_site

PASSWORD = "Tugu-Muda-Lawang-Sewu-9"
WRONG = "Bukan-Sandinya-2"

_REPLY = (
    '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"'
    ' xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl"><env:Body>'
    '<tptz:GetNodesResponse><tptz:PTZNode token="n"><tt:Name xmlns:tt="http://www.onvif.org/ver10/schema">'
    "{entity}</tt:Name></tptz:PTZNode></tptz:GetNodesResponse>"
    "</env:Body></env:Envelope>"
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE env:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    + _REPLY.format(entity="&xxe;")
).encode()
BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE env:Envelope [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">'
        for n in range(1, 10)
    )
    + "]>"
    + _REPLY.format(entity="&lol9;")
).encode()


@pytest_asyncio.fixture
async def transport() -> AsyncIterator[SoapTransport]:
    async with SoapTransport(HttpLimits(timeout_s=5)) as shared:
        yield shared


@pytest_asyncio.fixture
async def fleet() -> AsyncIterator[OnvifFleet]:
    async with OnvifFleet(cameras=9, username="admin", password=PASSWORD, seed=31) as running:
        yield running


def ptz_cameras(fleet: OnvifFleet) -> list[VirtualCamera]:
    return [camera for camera in fleet.cameras if camera.identity.has_ptz]


async def services_of(
    transport: SoapTransport, camera: VirtualCamera, password: str = PASSWORD
) -> ZeepServices:
    """The zeep services of ``camera``, at the addresses the raw probe found."""
    device = OnvifDevice(
        transport, camera.address, Credentials(username="admin", password=password)
    )
    probing = OnvifDevice(
        transport, camera.address, Credentials(username="admin", password=PASSWORD)
    )
    await probing.sync_clock()
    addresses = await probing.services()
    device.clock_offset = probing.clock_offset
    return ZeepServices(device, addresses)


@asynccontextmanager
async def serve(payload: bytes) -> AsyncIterator[str]:
    """A PTZ service answering every request with ``payload``; yields its URL."""

    async def ptz_service(_: web.Request) -> web.Response:
        return web.Response(body=payload, content_type="application/soap+xml")

    app = web.Application()
    app.router.add_post("/onvif/ptz_service", ptz_service)
    async with run_loopback_site(app) as port:
        yield f"http://127.0.0.1:{port}/onvif/ptz_service"


async def test_ptz_operations_go_through_zeep_on_the_shared_transport(
    transport: SoapTransport, fleet: OnvifFleet
) -> None:
    camera = ptz_cameras(fleet)[0]
    services = await services_of(transport, camera)
    [node] = await services.call("ptz", "GetNodes")
    assert node.token and node.HomeSupported is True
    profile = camera.profiles[0].token
    await services.call(
        "ptz",
        "ContinuousMove",
        {"ProfileToken": profile, "Velocity": {"PanTilt": {"x": 0.5, "y": 0.0}}},
    )
    await services.call("ptz", "Stop", {"ProfileToken": profile})
    # No session of zeep's or the library's own: the process's pool carried every request.
    assert transport.pool.requests > 0
    assert services.transport.soap is transport


async def test_a_camera_without_ptz_is_told_so_before_any_request(
    transport: SoapTransport, fleet: OnvifFleet
) -> None:
    camera = next(c for c in fleet.cameras if not c.identity.has_ptz)
    services = await services_of(transport, camera)
    with pytest.raises(ConfigurationError, match="no ptz service"):
        await services.call("ptz", "GetNodes")


async def test_many_cameras_at_once_parse_the_wsdl_once(
    transport: SoapTransport, fleet: OnvifFleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(zeep_client, "_DOCUMENTS", {})
    monkeypatch.setattr(zeep_client, "_DOCUMENT_LOCKS", {})
    parsed: list[str] = []
    original = zeep_client._parse_wsdl

    def counting(path: str) -> object:
        parsed.append(path)
        return original(path)

    monkeypatch.setattr(zeep_client, "_parse_wsdl", counting)
    cameras = ptz_cameras(fleet)
    assert len(cameras) > 1
    every = [await services_of(transport, camera) for camera in cameras]
    nodes = await asyncio.gather(*(s.call("ptz", "GetNodes") for s in every))
    assert all(found for found in nodes)
    assert [Path(p).name for p in parsed] == ["ptz.wsdl"]


def test_the_wsdl_loader_reads_nothing_outside_the_package() -> None:
    loader = zeep_client._PackageWsdlLoader()
    assert loader.load(str(zeep_client.WSDL_DIR / "ptz.wsdl")).startswith(b"<?xml")
    with pytest.raises(ConfigurationError, match="outside"):
        loader.load("/etc/passwd")
    with pytest.raises(ConfigurationError, match="outside"):
        loader.load(str(zeep_client.WSDL_DIR / ".." / "__init__.py"))


def zeep_parse(payload: bytes, settings: zeep.Settings = HARDENED_SETTINGS) -> None:
    """zeep's own reply parser (annotated for str, but replies reach it as bytes)."""
    parse_xml(payload, None, settings=settings)  # type: ignore[arg-type]


LENIENT = zeep.Settings(forbid_dtd=False, forbid_entities=True, xml_huge_tree=False)


def test_zeep_itself_refuses_an_external_entity_with_the_hardened_settings() -> None:
    with pytest.raises(zeep.exceptions.DTDForbidden):
        zeep_parse(XXE)
    # Even with DTDs let through, entity declarations are refused, never resolved.
    with pytest.raises(zeep.exceptions.EntitiesForbidden):
        zeep_parse(XXE, LENIENT)


def test_zeep_with_libxml2_limits_kept_refuses_a_billion_laughs() -> None:
    # Refused by zeep's DTD check, or earlier by libxml2's amplification limit, which
    # xml_huge_tree=False keeps; never expanded.
    refusals = (zeep.exceptions.DTDForbidden, zeep.exceptions.XMLSyntaxError)
    with pytest.raises(refusals):
        zeep_parse(BILLION_LAUGHS)
    with pytest.raises((zeep.exceptions.EntitiesForbidden, zeep.exceptions.XMLSyntaxError)):
        zeep_parse(BILLION_LAUGHS, LENIENT)


@pytest.mark.parametrize("payload", [XXE, BILLION_LAUGHS], ids=["xxe", "billion-laughs"])
async def test_a_hostile_reply_is_a_device_data_error_with_the_payload(
    transport: SoapTransport, payload: bytes
) -> None:
    async with serve(payload) as ptz_url:
        device = OnvifDevice(transport, ptz_url.split("/")[2], None)
        services = ZeepServices(device, ServiceAddresses(ptz=ptz_url))
        with pytest.raises(DeviceDataError) as refused:
            await services.call("ptz", "GetNodes")
    assert refused.value.payload == payload
    assert "root:" not in str(refused.value)


async def test_a_reply_over_the_size_cap_is_refused() -> None:
    huge = _REPLY.format(entity="x" * 20_000).encode()
    async with (
        SoapTransport(HttpLimits(timeout_s=5, max_response_bytes=4096)) as capped,
        serve(huge) as ptz_url,
    ):
        device = OnvifDevice(capped, ptz_url.split("/")[2], None)
        with pytest.raises(DeviceDataError, match="4096 byte limit"):
            await ZeepServices(device, ServiceAddresses(ptz=ptz_url)).call("ptz", "GetNodes")


async def test_wrong_password_through_zeep_is_unauthorized_and_never_logged(
    transport: SoapTransport, fleet: OnvifFleet, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    camera = ptz_cameras(fleet)[0]
    with capture_logs() as logs:
        services = await services_of(transport, camera, password=WRONG)
        with pytest.raises(AuthenticationError) as refused:
            await services.call("ptz", "GetNodes")
    texts = [json.dumps(entry, default=str) for entry in logs]
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(refused.value), repr(refused.value), repr(refused.value.__cause__)]
    assert not [t for t in texts if WRONG in t or PASSWORD in t]

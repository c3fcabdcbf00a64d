"""The onboarding probe through onvif-zeep-async: WSDLs parsed once, hostile XML refused, secrets kept."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import onvif.client
import pytest
import pytest_asyncio
import zeep.exceptions
from aiohttp import web
from structlog.testing import capture_logs
from test_onvif_onboarding import (  # fixtures and dead-letter reading shared with onboarding
    _dead_letters_since,
    _end_offsets,
    producer,
    revoke_after,
)
from test_onvif_onboarding import request as onboard_request
from zeep.loader import parse_xml

from connectors.onvif import zeep_client
from connectors.onvif.device import OnvifDevice
from connectors.onvif.onboard_run import run_onboarding
from connectors.onvif.probe import ProbeReport, ProbeTarget, probe_many
from connectors.onvif.simulator import OnvifFleet
from connectors.onvif.soap import SoapTransport, TransportLimits
from connectors.onvif.zeep_client import HARDENED_SETTINGS
from connectors.onvif.zeep_device import ZeepOnvifDevice
from connectors.sdk.errors import AuthenticationError, DeviceDataError
from connectors.sdk.secrets import Credentials
from connectors.sdk.simulator import run_loopback_site
from topics.client import CatalogProducer
from topics.models import DeadLetterKind

PASSWORD = "Tugu-Muda-Lawang-Sewu-9"
WRONG = "Bukan-Sandinya-2"
REF = "admin@env:TILIK_CAMERA_SECRET_TEST_ONVIF_ZEEP_PASS"
__all__ = ["producer", "revoke_after"]  # fixtures used here
TILIK = str(Path(sys.executable).parent / "tilik")

_REPLY = (
    '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"'
    ' xmlns:tds="http://www.onvif.org/ver10/device/wsdl"'
    ' xmlns:tt="http://www.onvif.org/ver10/schema"><env:Body>'
    "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
    "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
    "<tt:TimeZone><tt:TZ>{entity}</tt:TZ></tt:TimeZone>"
    "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse></env:Body></env:Envelope>"
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


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TILIK_CAMERA_SECRET_TEST_ONVIF_ZEEP_PASS", PASSWORD)
    monkeypatch.setenv("TILIK_CAMERA_SECRET_TEST_ONVIF_ZEEP_WRONG", WRONG)


@pytest_asyncio.fixture
async def transport() -> AsyncIterator[SoapTransport]:
    async with SoapTransport(TransportLimits(timeout_s=5)) as shared:
        yield shared


@asynccontextmanager
async def serve(payload: bytes) -> AsyncIterator[str]:
    """A device answering every request with ``payload``; yields its host:port."""

    async def device_service(_: web.Request) -> web.Response:
        return web.Response(body=payload, content_type="application/soap+xml")

    app = web.Application()
    app.router.add_post("/onvif/device_service", device_service)
    async with run_loopback_site(app) as port:
        yield f"127.0.0.1:{port}"


async def test_many_cameras_probed_at_once_parse_each_wsdl_once(
    transport: SoapTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A process that has parsed nothing yet, and a count of real WSDL parses.
    monkeypatch.setattr(zeep_client, "_DOCUMENTS", {})
    monkeypatch.setattr(zeep_client, "_DOCUMENT_LOCKS", {})
    monkeypatch.setattr(onvif.client, "_DOCUMENT_CACHE", {})
    parsed: list[str] = []
    original = onvif.client.DocumentWithDeferredLoad.original_load

    def counting(self: object, url: str, *args: object, **kwargs: object) -> None:
        parsed.append(url)
        original(self, url, *args, **kwargs)

    monkeypatch.setattr(onvif.client.DocumentWithDeferredLoad, "original_load", counting)
    async with OnvifFleet(cameras=12, username="admin", password=PASSWORD, seed=31) as fleet:
        targets = [ProbeTarget(a, credential_ref=REF) for a in fleet.addresses]
        report = await probe_many(transport, targets, concurrency=12)
    assert report.failures == [] and len(report.records) == 12
    assert sorted(p.rsplit("/", 1)[1] for p in parsed) == ["devicemgmt.wsdl", "media.wsdl"]
    assert len(zeep_client._DOCUMENTS) == 2


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


async def test_zeep_refusals_leave_the_probe_as_device_data_errors(
    transport: SoapTransport,
) -> None:
    device = ZeepOnvifDevice(transport, "127.0.0.1:9", None)

    async def hostile_reply() -> None:
        zeep_parse(XXE)

    with pytest.raises(DeviceDataError, match="DTDForbidden"):
        await device._call(hostile_reply)
    await device.camera.close()


async def test_zeep_and_raw_probes_give_the_same_records(transport: SoapTransport) -> None:
    async with OnvifFleet(cameras=8, username="admin", password=PASSWORD, seed=34) as fleet:
        targets = [ProbeTarget(a, credential_ref=REF) for a in fleet.addresses]
        through_zeep = await probe_many(transport, targets, concurrency=4)
        raw = await probe_many(transport, targets, concurrency=4, prober=OnvifDevice)
    assert len({r.vendor for r in raw.records}) > 1  # several vendors' answers compared

    def comparable(report: ProbeReport) -> dict[str, dict[str, object]]:
        return {
            r.camera_id: r.model_dump(exclude={"discovered_at", "updated_at"})
            for r in report.records
        }

    assert len(raw.records) == 8 and comparable(through_zeep) == comparable(raw)


@pytest.mark.parametrize("payload", [XXE, BILLION_LAUGHS], ids=["xxe", "billion-laughs"])
async def test_a_hostile_probe_reply_is_a_device_data_error_with_the_payload(
    transport: SoapTransport, payload: bytes
) -> None:
    async with serve(payload) as address:
        report = await probe_many(transport, [ProbeTarget(address, credential_ref=REF)])
    assert report.records == []
    (failure,) = report.failures
    assert failure.error_type == "DeviceDataError" and failure.payload == payload
    assert "root:" not in failure.reason


async def test_a_reply_over_the_size_cap_is_refused() -> None:
    huge = _REPLY.format(entity="x" * 20_000).encode()
    limits = TransportLimits(timeout_s=5, max_response_bytes=4096)
    async with SoapTransport(limits) as capped, serve(huge) as address:
        with pytest.raises(DeviceDataError):
            await ZeepOnvifDevice(capped, address, None).snapshot()


async def test_wrong_password_through_zeep_is_unauthorized_and_never_logged(
    transport: SoapTransport, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = Credentials(username="admin", password=WRONG)
    async with OnvifFleet(cameras=4, username="admin", password=PASSWORD, seed=32) as fleet:
        with capture_logs() as logs:
            report = await probe_many(
                transport,
                [
                    ProbeTarget(
                        a, credential_ref="admin@env:TILIK_CAMERA_SECRET_TEST_ONVIF_ZEEP_WRONG"
                    )
                    for a in fleet.addresses
                ],
            )
            with pytest.raises(AuthenticationError) as refused:
                await ZeepOnvifDevice(transport, fleet.addresses[0], wrong).snapshot()
    assert report.records == []
    assert {f.error_type for f in report.failures} == {"AuthenticationError"}
    texts = [json.dumps(entry, default=str) for entry in logs]
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(refused.value), repr(refused.value), repr(refused.value.__cause__)]
    texts += [f.reason for f in report.failures]
    assert not [t for t in texts if WRONG in t or PASSWORD in t]


@pytest.mark.kafka
async def test_a_hostile_probe_reply_is_dead_lettered_when_onboarding(
    kafka_bootstrap: str, producer: CatalogProducer, revoke_after: set[str]
) -> None:
    async with (
        OnvifFleet(cameras=2, username="admin", password=PASSWORD, seed=33) as fleet,
        serve(XXE) as hostile,
    ):
        start = await _end_offsets(kafka_bootstrap)
        outcome = await run_onboarding(
            onboard_request(
                [*fleet.addresses, hostile], bootstrap=kafka_bootstrap, credential_ref=REF
            ),
            producer=producer,
        )
        await producer.flush()
    revoke_after.update(r.camera_id for r in outcome.records)
    assert len(outcome.records) == 2
    (failure,) = outcome.report.failures
    assert failure.address == hostile and failure.error_type == "DeviceDataError"
    letters = await _dead_letters_since(kafka_bootstrap, start, hostile)
    assert letters and letters[0].kind is DeadLetterKind.DEVICE_INPUT
    assert letters[0].payload and "DOCTYPE" in str(letters[0].payload)


@pytest.mark.parametrize("prober", ["zeep", "raw"])
async def test_cli_probes_with_either_path(prober: str) -> None:
    async with OnvifFleet(cameras=2, username="admin", password=PASSWORD, seed=35) as fleet:
        process = await asyncio.create_subprocess_exec(
            TILIK, "discover", "onvif", "--hosts", ",".join(fleet.addresses),
            "--credential-ref", REF, "--probe", prober, "--dry-run", "--json",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "TILIK_CAMERA_SECRET_TEST_ONVIF_ZEEP_PASS": PASSWORD},
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    records = json.loads(out)
    assert {r["serial"] for r in records} == {c.serial for c in fleet.cameras}
    assert PASSWORD not in out.decode() + err.decode()

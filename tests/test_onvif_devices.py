"""ONVIF connector against simulated cameras over real loopback sockets: probing, identity, health, events."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import pytest_asyncio
from structlog.testing import capture_logs

from connectors.onvif.connector import OnvifConfig, OnvifConnector
from connectors.onvif.device import OnvifDevice
from connectors.onvif.discovery import ws_discover
from connectors.onvif.health import HealthTarget, check_camera, check_fleet
from connectors.onvif.probe import ProbeTarget, probe_many
from connectors.onvif.simulator import FaultPlan, OnvifFleet
from connectors.onvif.soap import SoapTransport
from connectors.onvif.subscription import SubscriptionState
from connectors.sdk.base import UnparsedEvent
from connectors.sdk.errors import AuthenticationError, DeviceDataError
from connectors.sdk.http import HttpLimits
from connectors.sdk.netpolicy import ProbePolicy
from connectors.sdk.secrets import Credentials
from topics.models import CameraState, DeviceEvent

PASSWORD = "Rahasia-Kamera-77"
WRONG = "Salah-Sandi-13"
REF = "admin@env:TILIK_CAMERA_SECRET_TEST_ONVIF_PASS"


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TILIK_CAMERA_SECRET_TEST_ONVIF_PASS", PASSWORD)
    monkeypatch.setenv("TILIK_CAMERA_SECRET_TEST_ONVIF_WRONG", WRONG)


@pytest_asyncio.fixture
async def transport() -> AsyncIterator[SoapTransport]:
    async with SoapTransport(HttpLimits(timeout_s=5)) as shared:
        yield shared


def creds(password: str = PASSWORD) -> Credentials:
    return Credentials(username="admin", password=password)  # type: ignore[arg-type]


async def collect(
    connector: OnvifConnector, want, timeout_s: float = 10.0
) -> list[DeviceEvent | UnparsedEvent]:
    items: list[DeviceEvent | UnparsedEvent] = []

    async def run() -> None:
        async for item in connector.events():
            items.append(item)
            if want(items):
                return

    try:
        await asyncio.wait_for(run(), timeout_s)
    finally:
        await connector.close()
    return items


async def test_probing_a_fleet_gives_one_record_per_camera_with_stable_ids(
    transport: SoapTransport,
) -> None:
    async with OnvifFleet(cameras=6, username="admin", password=PASSWORD, seed=11) as fleet:
        targets = [ProbeTarget(a, credential_ref=REF) for a in fleet.addresses]
        first = await probe_many(transport, targets, concurrency=3)
        again = await probe_many(transport, targets, concurrency=6)
    assert first.failures == []
    assert len({r.camera_id for r in first.records}) == 6
    assert {r.camera_id for r in first.records} == {r.camera_id for r in again.records}
    by_address = {r.address: r for r in first.records}
    for camera in fleet.cameras:
        record = by_address[camera.address]
        assert record.serial == camera.serial
        assert record.mac == camera.mac.lower()
        assert record.credential_ref == REF
        assert record.streams and all(s.rtsp_uri and "@" not in s.rtsp_uri for s in record.streams)
        assert record.capabilities.events


async def test_a_camera_that_moves_keeps_its_id(transport: SoapTransport) -> None:
    async with OnvifFleet(cameras=1, username="admin", password=PASSWORD, seed=12) as fleet:
        camera = fleet.cameras[0]
        before = await probe_many(transport, [ProbeTarget(camera.address, credential_ref=REF)])
        await camera.move_to(0)
        after = await probe_many(transport, [ProbeTarget(camera.address, credential_ref=REF)])
    (old,), (new,) = before.records, after.records
    assert old.address != new.address
    assert old.camera_id == new.camera_id


async def test_a_device_clock_an_hour_ahead_is_followed(transport: SoapTransport) -> None:
    async with OnvifFleet(
        cameras=1, username="admin", password=PASSWORD, seed=13, faults=FaultPlan(clock_offset=3600)
    ) as fleet:
        report = await probe_many(transport, [ProbeTarget(fleet.addresses[0], credential_ref=REF)])
    assert report.failures == []
    assert (
        abs(report.snapshots[report.records[0].camera_id].clock_offset.total_seconds() - 3600) < 5
    )


async def test_wrong_password_is_unauthorized_and_never_logged(transport: SoapTransport) -> None:
    async with OnvifFleet(cameras=2, username="admin", password=PASSWORD, seed=14) as fleet:
        with capture_logs() as logs:
            report = await probe_many(
                transport,
                [
                    ProbeTarget(a, credential_ref="admin@env:TILIK_CAMERA_SECRET_TEST_ONVIF_WRONG")
                    for a in fleet.addresses
                ],
            )
            status = await check_camera(
                transport,
                HealthTarget("cam-00000000000000000001", fleet.addresses[0], creds(WRONG)),
            )
            connector = OnvifConnector(
                OnvifConfig(
                    address=fleet.addresses[0],
                    credential_ref="admin@env:TILIK_CAMERA_SECRET_TEST_ONVIF_WRONG",
                )
            )
            with pytest.raises(AuthenticationError) as refused:
                await connector.check()
            await connector.close()
    assert report.records == [] and {f.error_type for f in report.failures} == {
        "AuthenticationError"
    }
    assert status.state is CameraState.UNAUTHORIZED
    texts = [json.dumps(entry, default=str) for entry in logs]
    texts += [status.model_dump_json(), str(refused.value), repr(refused.value)]
    texts += [f.reason for f in report.failures]
    assert not [t for t in texts if WRONG in t or PASSWORD in t]


async def test_health_classifies_online_degraded_and_offline(transport: SoapTransport) -> None:
    async with OnvifFleet(cameras=3, username="admin", password=PASSWORD, seed=15) as fleet:
        slow = fleet.cameras[1]
        slow.faults = FaultPlan(slow=1.0, slow_seconds=0.4)
        targets = [HealthTarget(f"cam-{i:020x}", a, creds()) for i, a in enumerate(fleet.addresses)]
        offline_address = fleet.cameras[2].address
        await fleet.cameras[2].move_to(0)  # nothing listens at the old address any more
        statuses = await check_fleet(transport, targets, degraded_ms=250)
    states = [s.state for s in statuses]
    assert states == [CameraState.ONLINE, CameraState.DEGRADED, CameraState.OFFLINE], (
        offline_address,
        statuses,
    )
    assert (
        statuses[0].latency_ms is not None and statuses[1].reason and "slow" in statuses[1].reason
    )


async def test_events_flow_normalised_with_the_camera_id(transport: SoapTransport) -> None:
    async with OnvifFleet(
        cameras=1, username="admin", password=PASSWORD, seed=16, event_rate=20
    ) as fleet:
        (record,) = (
            await probe_many(transport, [ProbeTarget(fleet.addresses[0], credential_ref=REF)])
        ).records
        connector = OnvifConnector(OnvifConnector.config_from_record(record))  # type: ignore[arg-type]
        items = await collect(
            connector,
            lambda got: sum(isinstance(i, DeviceEvent) and i.active is not None for i in got) >= 20,
        )
    events = [i for i in items if isinstance(i, DeviceEvent)]
    assert events and all(e.camera_id == record.camera_id for e in events)
    # Distinct notifications get distinct ids; a repeat of the same notification keeps its id.
    contents = {
        (e.source.vendor_topic, e.device_time, e.active, e.attributes.model_dump_json())
        for e in events
    }
    assert len({e.event_id for e in events}) >= len(contents)
    assert (
        connector.subscription is not None
        and connector.subscription.state is SubscriptionState.CLOSED
    )


async def test_subscription_lost_on_reboot_is_recreated(transport: SoapTransport) -> None:
    async with OnvifFleet(
        cameras=1, username="admin", password=PASSWORD, seed=17, event_rate=0
    ) as fleet:
        camera = fleet.cameras[0]
        connector = OnvifConnector(
            OnvifConfig(address=camera.address, credential_ref=REF, pull_timeout_s=1)
        )
        seen_after_reboot = asyncio.Event()
        items: list[DeviceEvent | UnparsedEvent] = []

        async def run() -> None:
            async for item in connector.events():
                items.append(item)
                if isinstance(item, DeviceEvent) and item.source.vendor_topic.endswith("Crossed"):
                    seen_after_reboot.set()
                    return

        task = asyncio.create_task(run())
        while connector.subscription is None or connector.subscription.subscriptions_created < 1:
            await asyncio.sleep(0.05)
        camera.reboot()
        await asyncio.sleep(1.5)
        camera.inject("tns1:RuleEngine/LineDetector/Crossed", data={"ObjectId": "42"})
        await asyncio.wait_for(task, 15)
        created = connector.subscription.subscriptions_created if connector.subscription else 0
        await connector.close()
    assert seen_after_reboot.is_set()
    assert created >= 2


@pytest.mark.parametrize("fault", ["xxe", "malformed"])
async def test_a_hostile_event_reply_is_refused_and_the_subscription_survives(fault: str) -> None:
    async with OnvifFleet(
        cameras=1, username="admin", password=PASSWORD, seed=18, event_rate=5
    ) as fleet:
        camera = fleet.cameras[0]
        connector = OnvifConnector(
            OnvifConfig(address=camera.address, credential_ref=REF, pull_timeout_s=1)
        )
        before: list[DeviceEvent | UnparsedEvent] = []
        try:
            with pytest.raises(DeviceDataError) as refused:
                async with asyncio.timeout(15):
                    async for item in connector.events():
                        before.append(item)
                        if len(before) == 1:
                            camera.force_fault(fault, times=1)
            camera.inject("tns1:RuleEngine/LineDetector/Crossed", data={"ObjectId": "7"})
            after = []
            async with asyncio.timeout(15):
                async for item in connector.events():
                    after.append(item)
                    if isinstance(item, DeviceEvent) and item.source.vendor_topic.endswith(
                        "Crossed"
                    ):
                        break
            assert connector.subscription is not None
            created = connector.subscription.subscriptions_created
        finally:
            await connector.close()
    assert ("DOCTYPE" in str(refused.value)) if fault == "xxe" else refused.value.payload
    assert refused.value.payload
    assert created == 1  # the same subscription carried on after the refused reply


async def test_ws_discovery_unicast_finds_every_camera() -> None:
    async with OnvifFleet(
        cameras=4, username="admin", password=PASSWORD, seed=19, discovery_port=0
    ) as fleet:
        found = await ws_discover(
            policy=ProbePolicy.default(environ={}), target=fleet.discovery.address, timeout_s=1.0
        )
    assert {d.address for d in found} == set(fleet.addresses)
    assert {d.endpoint_reference for d in found} == {c.endpoint_reference for c in fleet.cameras}


DEVICE_INFORMATION = (
    '<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"'
    ' xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><env:Body><tds:GetDeviceInformationResponse>'
    "<tds:Manufacturer>Dahua</tds:Manufacturer><tds:Model>IPC-HFW2431S</tds:Model>"
    "<tds:FirmwareVersion>2.800</tds:FirmwareVersion><tds:SerialNumber>7J0ABC</tds:SerialNumber>"
    "<tds:HardwareId>1.00</tds:HardwareId></tds:GetDeviceInformationResponse></env:Body></env:Envelope>"
)


async def test_a_firmware_demanding_http_digest_is_answered(transport: SoapTransport) -> None:
    from aiohttp import web

    from connectors.sdk.simulator import device_auth_middleware, run_loopback_site

    requests = 0

    async def device_service(_: web.Request) -> web.Response:
        nonlocal requests
        requests += 1
        return web.Response(text=DEVICE_INFORMATION, content_type="application/soap+xml")

    app = web.Application(middlewares=[device_auth_middleware({"admin": PASSWORD})])
    app.router.add_post("/onvif/device_service", device_service)
    async with run_loopback_site(app) as port:
        address = f"127.0.0.1:{port}"
        with capture_logs() as logs:
            good = await check_camera(
                transport, HealthTarget("cam-0000000000000000000a", address, creds())
            )
            again = await check_camera(
                transport, HealthTarget("cam-0000000000000000000a", address, creds())
            )
            bad = await check_camera(
                transport, HealthTarget("cam-0000000000000000000b", address, creds(WRONG))
            )
    assert good.state is CameraState.ONLINE and again.state is CameraState.ONLINE
    assert bad.state is CameraState.UNAUTHORIZED
    assert requests == 2
    assert not [
        e
        for e in logs
        if WRONG in json.dumps(e, default=str) or PASSWORD in json.dumps(e, default=str)
    ]


async def test_a_cidr_scan_finds_the_cameras_and_reports_empty_addresses() -> None:
    from connectors.onvif.onboard_run import OnboardRequest, run_onboarding

    base = f"127.{100 + (os.getpid() % 50)}.{os.getpid() % 250}.0"
    async with OnvifFleet(
        cameras=3,
        username="admin",
        password=PASSWORD,
        seed=20,
        host_mode="addresses",
        address_base=base,
    ) as fleet:
        port = int(fleet.addresses[0].rsplit(":", 1)[1])
        outcome = await run_onboarding(
            OnboardRequest(
                policy=ProbePolicy.default(environ={}),
                cidr=f"{base}/29",
                port=port,
                credential_ref=REF,
                publish=False,
                timeout_s=3,
            )
        )
    assert {r.address for r in outcome.records} == set(fleet.addresses)
    # The /29 has six hosts: three cameras, three addresses where nothing listens.
    assert len(outcome.report.failures) == 3
    assert {f.error_type for f in outcome.report.failures} == {"RetriableError"}


async def test_inventory_placement_lands_in_the_records(tmp_path: Path) -> None:
    from connectors.onvif.onboard_run import OnboardRequest, run_onboarding

    async with OnvifFleet(cameras=2, username="admin", password=PASSWORD, seed=21) as fleet:
        inventory = tmp_path / "cameras.yaml"
        inventory.write_text(
            "cameras:\n"
            f"  - {{address: '{fleet.addresses[0]}', name: Pasar Johar, kecamatan: Semarang Tengah,"
            " kelurahan: Kauman, rw: 1, rt: 4, lat: -6.97, lon: 110.42, site_type: market, sharing: public}\n"
            f"  - {{address: '{fleet.addresses[1]}', owner_kind: private, owner_id: toko-makmur, site_type: shop,"
            f" credential_ref: '{REF}'}}\n"
        )
        outcome = await run_onboarding(
            OnboardRequest(
                policy=ProbePolicy.default(environ={}),
                inventory=inventory,
                credential_ref=REF,
                publish=False,
            )
        )
    by_address = {r.address: r for r in outcome.records}
    market, shop = by_address[fleet.addresses[0]], by_address[fleet.addresses[1]]
    assert market.name == "Pasar Johar" and market.location.area.kelurahan == "Kauman"
    assert market.location.area.rt == "4" and market.location.point is not None
    assert market.site_type.value == "market" and market.sharing.value == "public"
    assert shop.owner.kind.value == "private" and shop.owner.id == "toko-makmur"


HOSTILE_CLOCK = (
    '<?xml version="1.0"?><!DOCTYPE env:Envelope [{entities}]>'
    '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"'
    ' xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema">'
    "<env:Body><tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
    "<tt:TimeZone><tt:TZ>{entity}</tt:TZ></tt:TimeZone>"
    "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse></env:Body></env:Envelope>"
)
XXE = HOSTILE_CLOCK.format(
    entities='<!ENTITY xxe SYSTEM "file:///etc/passwd">', entity="&xxe;"
).encode()
BILLION_LAUGHS = HOSTILE_CLOCK.format(
    entities='<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">'
        for n in range(1, 10)
    ),
    entity="&lol9;",
).encode()


@asynccontextmanager
async def answering(payload: bytes) -> AsyncIterator[int]:
    """A device answering every request with ``payload``; yields its port."""
    from aiohttp import web

    from connectors.sdk.simulator import run_loopback_site

    async def device_service(_: web.Request) -> web.Response:
        return web.Response(body=payload, content_type="application/soap+xml")

    app = web.Application()
    app.router.add_post("/onvif/device_service", device_service)
    async with run_loopback_site(app) as port:
        yield port


@pytest.mark.parametrize("payload", [XXE, BILLION_LAUGHS], ids=["xxe", "billion-laughs"])
async def test_a_hostile_probe_reply_is_a_device_data_error_with_the_payload(
    transport: SoapTransport, payload: bytes
) -> None:
    async with answering(payload) as port:
        report = await probe_many(transport, [ProbeTarget(f"127.0.0.1:{port}", credential_ref=REF)])
    assert report.records == []
    (failure,) = report.failures
    assert failure.error_type == "DeviceDataError" and failure.payload == payload
    assert "root:" not in failure.reason


async def test_a_probe_reply_over_the_devices_size_cap_is_refused(transport: SoapTransport) -> None:
    huge = HOSTILE_CLOCK.format(entities="", entity="x" * 20_000).replace(
        "<!DOCTYPE env:Envelope []>", ""
    )
    async with answering(huge.encode()) as port:
        device = OnvifDevice(transport, f"127.0.0.1:{port}", None, max_response_bytes=4096)
        with pytest.raises(DeviceDataError, match="4096 byte limit"):
            await device.snapshot()
        # The same transport still reads the reply for a device whose cap allows it.
        roomy = OnvifDevice(transport, f"127.0.0.1:{port}", None)
        assert await roomy.sync_clock() is not None


async def test_uris_are_asked_only_for_the_profiles_a_record_keeps(
    transport: SoapTransport,
) -> None:
    """A device listing more profiles than a registry record keeps costs two requests for each
    kept profile only, not for every profile it lists."""
    from aiohttp import web

    from connectors.onvif.device import MAX_PROFILES, ServiceAddresses
    from connectors.sdk.simulator import run_loopback_site

    listed = MAX_PROFILES + 6
    asked: dict[str, int] = {"GetStreamUri": 0, "GetSnapshotUri": 0}
    envelope = (
        '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"'
        ' xmlns:trt="http://www.onvif.org/ver10/media/wsdl"'
        ' xmlns:tt="http://www.onvif.org/ver10/schema"><env:Body>{}</env:Body></env:Envelope>'
    )

    async def device_service(request: web.Request) -> web.Response:
        body = await request.read()
        if b"GetProfiles" in body:
            answer = "".join(
                f'<trt:Profiles token="p{n}"><tt:Name>p{n}</tt:Name></trt:Profiles>'
                for n in range(listed)
            )
            answer = f"<trt:GetProfilesResponse>{answer}</trt:GetProfilesResponse>"
        else:
            operation = next(name for name in asked if name.encode() in body)
            asked[operation] += 1
            answer = (
                f"<trt:{operation}Response><trt:MediaUri><tt:Uri>rtsp://camera/s</tt:Uri>"
                f"</trt:MediaUri></trt:{operation}Response>"
            )
        return web.Response(body=envelope.format(answer), content_type="application/soap+xml")

    app = web.Application()
    app.router.add_post("/onvif/device_service", device_service)
    async with run_loopback_site(app) as port:
        device = OnvifDevice(transport, f"127.0.0.1:{port}", None)
        profiles = await device.profiles(ServiceAddresses())
    assert [p.token for p in profiles] == [f"p{n}" for n in range(MAX_PROFILES)]
    assert all(p.stream_uri == "rtsp://camera/s" for p in profiles)
    assert asked == {"GetStreamUri": MAX_PROFILES, "GetSnapshotUri": MAX_PROFILES}

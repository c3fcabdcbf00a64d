"""The simulators' variant mode: a device replays the event corpus over its real protocol, and the
connector side normalises every replayed payload exactly as the corpus table says it should."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import aiohttp
import pytest
from event_corpus import DAHUA, HIKVISION, ONVIF, dahua_events, hikvision_events, onvif_events
from lxml import etree

from connectors.onvif.event_topics import TopicParser, notifications
from connectors.onvif.simulator import OnvifFleet
from connectors.onvif.simulator.client import post_soap, request_envelope, username_token
from connectors.private_vendors.kits import VENDORS
from connectors.private_vendors.variants import load_payloads
from connectors.sdk.base import UnparsedEvent
from connectors.sdk.simulation.testing import collect_numbered
from topics.models import DeviceEvent

PASSWORD = "variants-Pa55"
REF = "admin@env:TILIK_CAMERA_SECRET_TEST_VARIANTS"
NS = {
    "wsa": "http://www.w3.org/2005/08/addressing",
    "tev": "http://www.onvif.org/ver10/events/wsdl",
}


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TILIK_CAMERA_SECRET_TEST_VARIANTS", PASSWORD)


def meaning(item: DeviceEvent | UnparsedEvent) -> tuple[Any, ...]:
    """What a normalised event says, leaving out what differs between devices and receipts."""
    if isinstance(item, UnparsedEvent):
        return ("unparsed", item.vendor_topic.strip(), item.reason)
    return (
        item.source.vendor_topic.strip(),
        item.kind,
        item.active,
        item.source.channel,
        item.attributes.model_dump_json(exclude_none=True),
    )


async def test_onvif_camera_replays_every_recorded_notification() -> None:
    files = sorted(ONVIF.glob("*.xml"))
    expected = Counter(meaning(e) for path in files for e in onvif_events(path.read_bytes()))
    wanted = sum(expected.values())
    parser = TopicParser(camera_id="cam-0123456789abcdef0123", device_id="dev-0123456789abcdef0123")
    got: Counter[tuple[Any, ...]] = Counter()
    async with OnvifFleet(1, password=PASSWORD, event_rate=200, variants=ONVIF) as fleet:
        camera = fleet.cameras[0]
        async with aiohttp.ClientSession() as session:

            async def call(url: str, body: str) -> etree._Element:
                status, root = await post_soap(
                    session, url, request_envelope(body, username_token("admin", PASSWORD))
                )
                assert status == 200
                return root

            created = await call(
                f"{camera.base_url}/onvif/events_service",
                "<tev:CreatePullPointSubscription><tev:InitialTerminationTime>PT60S"
                "</tev:InitialTerminationTime></tev:CreatePullPointSubscription>",
            )
            address = created.findtext(".//tev:SubscriptionReference/wsa:Address", namespaces=NS)
            async with asyncio.timeout(30):
                while sum(got.values()) < wanted:
                    reply = await call(
                        address,
                        "<tev:PullMessages><tev:Timeout>PT1S</tev:Timeout>"
                        "<tev:MessageLimit>1024</tev:MessageLimit></tev:PullMessages>",
                    )
                    for message in notifications(reply):
                        if message.find(".//{*}Message[@PropertyOperation='Initialized']") is None:
                            got[meaning(parser.parse(message))] += 1
    # The camera goes round again while the last pull is answered: compare one round.
    assert camera.variants is not None and camera.variants.replayed >= wanted
    assert +(expected - got) == Counter()


@pytest.mark.parametrize(
    ("vendor", "directory", "pattern", "normalise"),
    [
        ("hikvision", HIKVISION, "*.xml", hikvision_events),
        ("dahua", DAHUA, "*.txt", dahua_events),
    ],
)
async def test_vendor_device_replays_every_recorded_payload(
    vendor: str, directory: Any, pattern: str, normalise: Any
) -> None:
    payloads = load_payloads(directory, pattern)
    expected = Counter(meaning(e) for payload in payloads for e in normalise(payload))
    wanted = sum(expected.values())
    kit = VENDORS[vendor]
    async with kit.simulator(
        password=PASSWORD, event_rate=200, max_events=len(payloads), variants=directory
    ) as sim:
        connector = kit.make(sim.addresses[0], REF, reconnect_initial_s=0.05, timeout_s=3)
        try:
            run = await collect_numbered(
                connector,
                sim.devices[0],
                len(payloads),
                timeout_s=30,
                stop=lambda run: len(run.events) + len(run.unparsed) >= wanted,
            )
        finally:
            await connector.close()
    got = Counter(meaning(item) for item in [*run.events, *run.unparsed])
    assert got == expected
    # The device time is the event's number, as for every simulated event (a Dahua record
    # without data has no time of its own: it takes the receive time).
    timed = {
        seq
        for seq, payload in enumerate(payloads)
        if (b"<dateTime>" in payload or b'"UTC"' in payload)
        and any(isinstance(e, DeviceEvent) for e in normalise(payload))
    }
    assert timed <= {sim.devices[0].seq_of(e.device_time) for e in run.events}

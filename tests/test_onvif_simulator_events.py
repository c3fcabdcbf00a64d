"""PullPoint subscriptions of simulated cameras over raw SOAP: blocking pulls, limits, renew, loss."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from lxml import etree

from connectors.onvif.simulator import TOPICS, OnvifFleet
from connectors.onvif.simulator.client import (
    fault_subcodes,
    post_soap,
    request_envelope,
    username_token,
)
from connectors.onvif.simulator.soap import NAMESPACES, WSA

PASSWORD = "Tugu-Muda-1"
NS = NAMESPACES
REQUIRED_TOPICS = {
    "tns1:VideoSource/MotionAlarm",
    "tns1:RuleEngine/CellMotionDetector/Motion",
    "tns1:RuleEngine/FieldDetector/ObjectsInside",
    "tns1:RuleEngine/LineDetector/Crossed",
    "tns1:RuleEngine/TamperDetector/Tamper",
    "tns1:VideoSource/GlobalSceneChange/ImagingService",
    "tns1:VideoSource/ImageTooBlurry/AnalyticsService",
    "tns1:VideoSource/ImageTooDark/AnalyticsService",
    "tns1:VideoSource/ImageTooBright/AnalyticsService",
    "tns1:RuleEngine/CountAggregation/Counter",
    "tns1:RuleEngine/ObjectDetection/Object",
    "tns1:Device/HardwareFailure/StorageFailure",
    "tns1:RuleEngine/MyVendorDetector/Unknown",
}


@pytest.fixture
async def fleet() -> AsyncIterator[OnvifFleet]:
    async with OnvifFleet(3, username="admin", password=PASSWORD, seed=3) as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def call(session, url: str, body: str) -> tuple[int, etree._Element]:
    return await post_soap(session, url, request_envelope(body, username_token("admin", PASSWORD)))


async def subscribe(session, camera, termination: str = "PT60S") -> str:
    status, root = await call(
        session,
        f"{camera.base_url}/onvif/events_service",
        "<tev:CreatePullPointSubscription><tev:InitialTerminationTime>"
        f"{termination}</tev:InitialTerminationTime></tev:CreatePullPointSubscription>",
    )
    assert status == 200
    assert root.findtext(".//wsa:Action", namespaces={"wsa": WSA}).endswith(
        "CreatePullPointSubscriptionResponse"
    )
    return root.findtext(".//tev:SubscriptionReference/wsa:Address", namespaces=NS)


async def pull(session, address: str, *, timeout: str = "PT1S", limit: int = 100):
    return await call(
        session,
        address,
        f"<tev:PullMessages><tev:Timeout>{timeout}</tev:Timeout>"
        f"<tev:MessageLimit>{limit}</tev:MessageLimit></tev:PullMessages>",
    )


def topics_of(root: etree._Element) -> list[str]:
    return [t.text for t in root.iterfind(".//wsnt:NotificationMessage/wsnt:Topic", namespaces=NS)]


async def drain(session, address: str) -> None:
    await pull(session, address, timeout="PT0S", limit=1000)


def test_every_required_topic_is_simulated():
    assert {spec.topic for spec in TOPICS} >= REQUIRED_TOPICS
    assert any(spec.topic.startswith("tns1:RuleEngine/OccupancyCounter/") for spec in TOPICS)
    assert any(spec.topic.startswith("tns1:RuleEngine/LoiteringDetector/") for spec in TOPICS)


async def test_new_subscription_starts_with_initialized_property_states(fleet, session):
    address = await subscribe(session, fleet.cameras[0])
    status, root = await pull(session, address)
    assert status == 200
    operations = {m.get("PropertyOperation") for m in root.iterfind(".//tt:Message", namespaces=NS)}
    assert operations == {"Initialized"}
    assert "tns1:VideoSource/MotionAlarm" in topics_of(root)


async def test_pull_blocks_until_an_event_arrives(fleet, session):
    camera = fleet.cameras[0]
    address = await subscribe(session, camera)
    await drain(session, address)
    loop = asyncio.get_running_loop()
    loop.call_later(
        0.3,
        lambda: camera.inject("tns1:RuleEngine/TamperDetector/Tamper", data={"IsTamper": "true"}),
    )
    started = time.monotonic()
    status, root = await pull(session, address, timeout="PT10S")
    waited = time.monotonic() - started
    assert status == 200
    assert 0.25 <= waited < 5
    assert topics_of(root) == ["tns1:RuleEngine/TamperDetector/Tamper"]
    item = root.find(".//tt:Data/tt:SimpleItem", namespaces=NS)
    assert (item.get("Name"), item.get("Value")) == ("IsTamper", "true")
    assert root.findtext(".//wsa:Action", namespaces={"wsa": WSA}).endswith(
        "PullPointSubscription/PullMessagesResponse"
    )


async def test_pull_times_out_empty_with_current_and_termination_time(fleet, session):
    address = await subscribe(session, fleet.cameras[0])
    await drain(session, address)
    status, root = await pull(session, address, timeout="PT0.2S")
    assert status == 200
    assert topics_of(root) == []
    assert root.findtext(".//tev:CurrentTime", namespaces=NS)
    assert root.findtext(".//tev:TerminationTime", namespaces=NS)


async def test_message_limit_is_honoured_and_the_rest_kept(fleet, session):
    camera = fleet.cameras[0]
    address = await subscribe(session, camera)
    await drain(session, address)
    for object_id in range(5):
        camera.inject("tns1:RuleEngine/LineDetector/Crossed", data={"ObjectId": str(object_id)})
    _, first = await pull(session, address, limit=3)
    _, rest = await pull(session, address, limit=10)
    assert len(topics_of(first)) == 3
    values = [i.get("Value") for i in rest.iterfind(".//tt:Data/tt:SimpleItem", namespaces=NS)]
    assert values == ["3", "4"]


async def test_some_vendors_pad_the_topic_text_with_whitespace(fleet, session):
    dahua = fleet.cameras[1]
    assert dahua.identity.vendor.manufacturer == "Dahua"
    address = await subscribe(session, dahua)
    await drain(session, address)
    dahua.inject("tns1:VideoSource/MotionAlarm")
    _, root = await pull(session, address)
    [topic] = topics_of(root)
    assert topic != topic.strip()
    assert topic.strip() == "tns1:VideoSource/MotionAlarm"


async def test_renew_extends_and_unsubscribe_ends_a_subscription(fleet, session):
    address = await subscribe(session, fleet.cameras[0], termination="PT10S")
    status, root = await call(
        session,
        address,
        "<wsnt:Renew><wsnt:TerminationTime>PT600S</wsnt:TerminationTime></wsnt:Renew>",
    )
    assert status == 200
    assert root.findtext(".//wsnt:TerminationTime", namespaces=NS) > root.findtext(
        ".//wsnt:CurrentTime", namespaces=NS
    )
    status, _ = await call(session, address, "<wsnt:Unsubscribe/>")
    assert status == 200
    status, root = await pull(session, address)
    assert status == 400
    assert fault_subcodes(root) == ["wsrf-rw:ResourceUnknownFault"]


async def test_reboot_loses_subscriptions_and_wakes_blocked_pullers(fleet, session):
    camera = fleet.cameras[2]
    address = await subscribe(session, camera)
    await drain(session, address)
    asyncio.get_running_loop().call_later(0.2, camera.reboot)
    started = time.monotonic()
    status, root = await pull(session, address, timeout="PT30S")
    assert time.monotonic() - started < 5
    assert status == 400
    assert fault_subcodes(root) == ["wsrf-rw:ResourceUnknownFault"]
    status, _ = await call(
        session,
        address,
        "<wsnt:Renew><wsnt:TerminationTime>PT60S</wsnt:TerminationTime></wsnt:Renew>",
    )
    assert status == 400


async def test_unsubscribe_ends_a_blocked_pull_at_once(fleet, session):
    address = await subscribe(session, fleet.cameras[0])
    await drain(session, address)
    blocked = asyncio.create_task(pull(session, address, timeout="PT30S"))
    await asyncio.sleep(0.2)
    status, _ = await call(session, address, "<wsnt:Unsubscribe/>")
    assert status == 200
    status, root = await asyncio.wait_for(blocked, 5)
    assert status == 400
    assert fault_subcodes(root) == ["wsrf-rw:ResourceUnknownFault"]


async def test_expired_subscription_is_unknown(fleet, session):
    address = await subscribe(session, fleet.cameras[0], termination="PT1S")
    await asyncio.sleep(1.2)
    status, root = await pull(session, address)
    assert status == 400
    assert fault_subcodes(root) == ["wsrf-rw:ResourceUnknownFault"]


async def test_event_rate_generates_events_from_the_topic_table(session):
    async with OnvifFleet(1, password=PASSWORD, event_rate=20.0, seed=5) as fleet:
        address = await subscribe(session, fleet.cameras[0])
        await drain(session, address)
        await asyncio.sleep(1.0)
        _, root = await pull(session, address, limit=1000)
    topics = {topic.strip() for topic in topics_of(root)}
    assert 10 <= len(topics_of(root)) <= 40
    assert topics <= {spec.topic for spec in TOPICS}


async def test_event_properties_list_the_topic_tree(fleet, session):
    camera = fleet.cameras[0]
    _, root = await call(
        session, f"{camera.base_url}/onvif/events_service", "<tev:GetEventProperties/>"
    )
    topic_set = root.find(".//wstop:TopicSet", namespaces=NS)
    motion = topic_set.find("tns1:RuleEngine/tns1:CellMotionDetector/tns1:Motion", namespaces=NS)
    assert motion is not None
    assert motion.get(f"{{{NS['wstop']}}}topic") == "true"


async def test_axis_style_cameras_stamp_events_with_fractional_seconds(fleet, session):
    axis = fleet.cameras[2]
    assert axis.identity.vendor.manufacturer == "AXIS"
    address = await subscribe(session, axis)
    await drain(session, address)
    axis.inject("tns1:RuleEngine/FieldDetector/ObjectsInside", data={"IsInside": "true"})
    _, root = await pull(session, address)
    stamp = root.find(".//tt:Message", namespaces=NS).get("UtcTime")
    assert "." in stamp and stamp.endswith("Z")

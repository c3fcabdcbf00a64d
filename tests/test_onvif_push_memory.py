"""A watched ONVIF camera on push delivery holds nothing of its last Notify while it is quiet: a
parsed message keeps its whole document (libxml2's memory, invisible to Python's accounting)
alive, so a suspended event stream that still referenced its last batch cost every quiet camera
its last Notify for as long as it stayed quiet."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator
from typing import Any

import pytest
from lxml import etree
from sdk_helpers import eventually

from connectors.onvif.connector import OnvifConfig, OnvifConnector
from connectors.onvif.push import PushSubscription
from connectors.onvif.simulator import OnvifFleet
from connectors.onvif.subscription import EventBatch
from core.settings import get_settings
from topics.models import DeviceEvent

pytestmark = pytest.mark.timeout(120)

PASSWORD = "Sandi-Dorong-34"
SECRET = "TILIK_CAMERA_SECRET_TEST_ONVIF_PUSH_MEMORY"


@pytest.fixture
def push(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(SECRET, PASSWORD)
    monkeypatch.setenv("TILIK_ONVIF_PUSH_URL", "http://127.0.0.1:0")
    monkeypatch.setenv("TILIK_ONVIF_EVENT_DELIVERY", "push")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _held(generator: AsyncGenerator[Any, None]) -> list[str]:
    """What of a batch the suspended generator's frame still references (names of its locals)."""
    frame = generator.ag_frame
    assert frame is not None, "the generator has ended"
    held = []
    for name, value in frame.f_locals.items():
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, etree._Element | EventBatch) for v in values):
            held.append(name)
    return held


async def test_a_quiet_push_camera_holds_no_parsed_notify(push: None) -> None:
    async with OnvifFleet(cameras=1, username="admin", password=PASSWORD, seed=311) as fleet:
        connector = OnvifConnector(
            OnvifConfig(address=fleet.addresses[0], credential_ref=f"admin@env:{SECRET}")
        )
        stream = connector.events()
        received: list[Any] = []

        async def read() -> None:
            async for item in stream:
                received.append(item)

        reader = asyncio.create_task(read())
        try:
            # The subscription's first Notify (its Initialized states) arrives and is read ...
            assert await eventually(
                lambda: any(isinstance(i, DeviceEvent) for i in received), timeout_s=30
            )
            subscription = connector.subscription
            assert isinstance(subscription, PushSubscription)
            # ... and the stream waits for the next one, the camera being quiet.
            assert await eventually(
                lambda: subscription._waiter is not None and not subscription._pending,
                timeout_s=30,
            )
            assert _held(stream) == []
            batches = stream.ag_frame.f_locals["batches"] if stream.ag_frame else None
            assert batches is not None
            assert _held(batches) == []
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await connector.close()

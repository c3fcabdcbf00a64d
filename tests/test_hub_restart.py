"""A hub worker SIGKILLed in the middle of a stream and restarted loses no alert; repeats keep their keys."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import Principals

from hub.testing import TopicWatch, WorkerProcess
from topics import identity
from topics.catalog import ALERTS, DEVICE_EVENTS, dispatch_spec
from topics.client import CatalogProducer
from topics.examples import camera_record
from topics.models import DeviceEvent, EventKind, EventSource

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

FIXTURES = Path(__file__).parent / "hub_fixtures"
CAMERAS = 300


def tamper(camera_id: str) -> DeviceEvent:
    at = datetime.now(UTC)
    return DeviceEvent(
        event_id=identity.event_id(camera_id=camera_id, vendor_topic="tamper", device_time=at),
        camera_id=camera_id,
        kind=EventKind.TAMPER,
        device_time=at,
        received_at=at,
        source=EventSource(connector="onvif", device_id="dev-test", vendor_topic="tamper"),
    )


async def test_sigkill_mid_stream_loses_no_alert_and_repeats_keep_their_idempotency_key(
    kafka_bootstrap: str, kafka_principals: Principals, tmp_path: Path
) -> None:
    routes = tmp_path / "routes.yaml"
    # No webhook here: this worker must not post (and dead-letter) other tests' dispatches.
    text = (FIXTURES / "routes.yaml").read_text()
    routes.write_text(re.sub(r"\n    webhook:\n(      .*\n)+", "\n", text))
    app_id = f"tilik-hub-kill-{uuid.uuid4().hex[:8]}"

    def worker(name: str) -> WorkerProcess:
        return WorkerProcess(
            kafka_bootstrap,
            app_id,
            tmp_path / f"{name}.log",
            rules=FIXTURES / "rules.yaml",
            routes=routes,
            extra_args=["--from-latest", "--escalation-check-every", "60"],
            client_config=kafka_principals.hub,
        )

    placed: dict[str, tuple[int, int]] = {}
    cameras = [camera_record(uuid.uuid4().hex).camera_id for _ in range(CAMERAS)]
    first = worker("first")
    first.start()
    second: WorkerProcess | None = None
    watches: list[TopicWatch] = []
    try:
        await first.wait_ready(90)
        alerts = await TopicWatch(kafka_bootstrap, ALERTS).start()
        polisi = await TopicWatch(kafka_bootstrap, dispatch_spec("polisi")).start()
        watches += [alerts, polisi]
        async with CatalogProducer(kafka_bootstrap) as producer:

            async def stream() -> None:
                for camera_id in cameras:
                    meta = await producer.send(DEVICE_EVENTS, tamper(camera_id))
                    placed[camera_id] = (meta.partition, meta.offset)
                    await asyncio.sleep(0.01)

            sending = asyncio.create_task(stream())
            mine = set(cameras)
            await alerts.wait_for(lambda v: sum(a.camera_id in mine for a in v) >= CAMERAS // 5, 60)
            first.kill()
            await asyncio.sleep(1.0)
            second = worker("second")
            second.start()
            await sending
            await second.wait_ready(90)

        try:
            await alerts.wait_for(lambda v: mine <= {a.camera_id for a in v}, 90)
        except TimeoutError:
            seen = {a.camera_id for a in alerts.values()}
            missing = sorted(placed[c] for c in mine - seen)
            raise AssertionError(f"no alert for events at (partition, offset) {missing}") from None
        await polisi.wait_for(lambda v: mine <= {d.alert.camera_id for d in v}, 90)

        opened: dict[str, set[str]] = defaultdict(set)
        for alert in alerts.values():
            if alert.camera_id in mine:
                opened[alert.camera_id].add(alert.alert_id)
        # Reprocessing after the crash reproduces the same alert, never a second one.
        assert all(len(ids) == 1 for ids in opened.values())
        by_key: dict[str, set[str]] = defaultdict(set)
        for dispatch in polisi.values():
            if dispatch.alert.camera_id in mine:
                by_key[dispatch.idempotency_key].add(dispatch.dispatch_id)
        assert len(by_key) == CAMERAS
        assert all(len(ids) == 1 for ids in by_key.values())
    finally:
        for watch in watches:
            await watch.stop()
        first.stop()
        if second is not None:
            second.stop()

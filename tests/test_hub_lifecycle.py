"""The alert lifecycle in a real worker: a removed rule's alerts resolve and stop escalating, and
the offline rules' scope and schedule apply to camera health as they do in the rule harness."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiokafka.partitioner import DefaultPartitioner
from conftest import Principals
from test_hub_pipeline import device_event, dispatched, for_camera, new_camera, online

from hub.testing import TopicWatch, WorkerProcess
from topics.catalog import ALERTS, CAMERA_REGISTRY, CAMERA_STATUS, DEVICE_EVENTS, dispatch_spec
from topics.client import CatalogProducer
from topics.models import AlertStatus, CameraRecord, EventKind, SiteType

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

INSTANT = """
  - id: {id}
    kind: instant
    category: {category}
    severity: critical
    title: {id}
    events: [{event}]
"""
TAMPER = INSTANT.format(id="l-tamper", category="tamper", event="tamper")
FLOOD = INSTANT.format(id="l-flood", category="flood", event="flood_level")
RULES = "version: 1\ndefaults: {resolve_after_s: 600, cooldown_s: 0, update_every_s: 0}\nrules:"
# Long enough for a worker to stop and another to start before the first deadline passes.
ESCALATE_AFTER_S = 30
ROUTES = f"""
version: 1
agencies:
  - {{id: polisi, name: Polisi}}
  - {{id: satpol-pp, name: Satpol PP}}
routes:
  - id: l-security
    categories: [tamper, flood]
    agency: polisi
    escalation: [{{after_s: {ESCALATE_AFTER_S}, to: satpol-pp}}]
fallback_agency: polisi
"""


def worker(
    bootstrap: str,
    principals: Principals,
    tmp: Path,
    name: str,
    app_id: str,
    rules: str,
    *args: str,
) -> WorkerProcess:
    (tmp / f"{name}.rules.yaml").write_text(rules)
    (tmp / "routes.yaml").write_text(ROUTES)
    return WorkerProcess(
        bootstrap,
        app_id,
        tmp / f"{name}.log",
        rules=tmp / f"{name}.rules.yaml",
        routes=tmp / "routes.yaml",
        extra_args=[
            "--from-latest",
            "--tick-every",
            "0.5",
            "--escalation-check-every",
            "0.5",
            *args,
        ],
        client_config=principals.hub,
    )


async def test_a_removed_rule_resolves_its_open_alert_and_its_escalation_stops(
    kafka_bootstrap: str, kafka_principals: Principals, tmp_path: Path
) -> None:
    app_id = f"tilik-hub-retire-{uuid.uuid4().hex[:8]}"
    retired, control = new_camera(), new_camera()
    alerts = await TopicWatch(kafka_bootstrap, ALERTS).start()
    polisi = await TopicWatch(kafka_bootstrap, dispatch_spec("polisi")).start()
    satpol = await TopicWatch(kafka_bootstrap, dispatch_spec("satpol-pp")).start()
    first = worker(
        kafka_bootstrap, kafka_principals, tmp_path, "first", app_id, RULES + TAMPER + FLOOD
    )
    second = worker(kafka_bootstrap, kafka_principals, tmp_path, "second", app_id, RULES + FLOOD)
    try:
        first.start()
        await first.wait_ready(90)
        async with CatalogProducer(kafka_bootstrap) as producer:
            await producer.send(CAMERA_REGISTRY, retired)
            await producer.send(DEVICE_EVENTS, device_event(retired.camera_id, EventKind.TAMPER))
            await polisi.wait_for(dispatched(retired.camera_id, level=0), 30)
            first.stop()
            # The rule that raised the alert is gone from the file the next worker runs.
            second.start()
            await second.wait_ready(90)
            values = await alerts.wait_for(
                for_camera(retired.camera_id, status=AlertStatus.RESOLVED), 30
            )
            resolved = next(a for a in values if a.camera_id == retired.camera_id and a.sequence)
            assert (resolved.rule_id, resolved.summary) == (
                "l-tamper",
                "resolved: the rule was removed",
            )
            await producer.send(CAMERA_REGISTRY, control)
            await producer.send(
                DEVICE_EVENTS,
                device_event(control.camera_id, EventKind.FLOOD_LEVEL, flood_level_cm=50),
            )
        # The control alert's deadline comes after the retired one's: once it has escalated,
        # the retired alert would have escalated too, had its escalation stayed armed.
        await satpol.wait_for(dispatched(control.camera_id, level=1), ESCALATE_AFTER_S + 60)
        assert not dispatched(retired.camera_id)(satpol.values())
        # Its agency was told it resolved.
        assert any(
            d.alert.camera_id == retired.camera_id and d.alert.status == AlertStatus.RESOLVED
            for d in polisi.values()
        )
    finally:
        for watch in (alerts, polisi, satpol):
            await watch.stop()
        first.stop()
        second.stop()


def same_partition(make: int = 200) -> tuple[CameraRecord, CameraRecord]:
    """A market and a main-road camera whose health lives in the same partition, so the worker
    judges their silences in the order they began."""
    partitions = list(range(CAMERA_STATUS.partitions))
    market = new_camera(site=SiteType.MARKET)
    wanted = DefaultPartitioner()(market.camera_id.encode(), partitions, partitions)
    for _ in range(make):
        road = new_camera(site=SiteType.MAIN_ROAD)
        if DefaultPartitioner()(road.camera_id.encode(), partitions, partitions) == wanted:
            return market, road
    raise AssertionError("no main-road camera in the market camera's partition")


async def test_the_offline_rules_scope_and_schedule_apply_in_the_worker(
    kafka_bootstrap: str, kafka_principals: Principals, tmp_path: Path
) -> None:
    # A one-minute slot twelve hours from now: the market rule is never in force during the test.
    local = datetime.now(UTC).astimezone(ZoneInfo("Asia/Jakarta")) + timedelta(hours=12)
    slot = f"{local:%H:%M}-{local + timedelta(minutes=1):%H:%M}"
    rules = (
        RULES
        + f"""
  - id: l-offline-market
    kind: offline
    category: camera_offline
    title: Market camera offline
    after_s: 600
    scope: {{site_types: [market]}}
    schedule: {{times: ["{slot}"]}}
  - id: l-offline-road
    kind: offline
    category: camera_offline
    title: Road camera offline
    after_s: 600
    scope: {{site_types: [main_road]}}
"""
    )
    app_id = f"tilik-hub-offline-{uuid.uuid4().hex[:8]}"
    process = worker(
        kafka_bootstrap,
        kafka_principals,
        tmp_path,
        "offline",
        app_id,
        rules,
        "--offline-after",
        "2",
        "--health-check-every",
        "0.5",
    )
    market, road = same_partition()
    alerts = await TopicWatch(kafka_bootstrap, ALERTS).start()
    try:
        process.start()
        await process.wait_ready(90)
        async with CatalogProducer(kafka_bootstrap) as producer:
            for camera in (market, road):
                await producer.send(CAMERA_REGISTRY, camera)
                await producer.send(CAMERA_STATUS, online(camera.camera_id))
        # Both fall silent; the market camera first. The road rule raises its alert ...
        values = await alerts.wait_for(for_camera(road.camera_id, status="opened"), 30)
        opened = next(a for a in values if a.camera_id == road.camera_id)
        assert opened.rule_id == "l-offline-road"
        # ... the market rule, outside its schedule, does not (judged before, in the same partition).
        assert not for_camera(market.camera_id)(alerts.values())
    finally:
        await alerts.stop()
        process.stop()

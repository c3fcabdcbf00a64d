"""Health agents: registry and status into the health table, a timer for silent cameras, /coverage."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

import structlog
from faust.web import Request, Response, View

from hub.context import Hub, due_entries, utcnow
from hub.dispatching.outlet import AlertOutlet
from hub.due import RECHECK_CAP_S, DueIndex
from hub.gaps import guarded, watch_stalls
from hub.health.coverage import compute_coverage
from hub.health.state import CameraHealth, check_at, on_registry, on_silence_check, on_status
from hub.isolation import RecordIsolation, catalog_entry, catalog_payload, internal_json
from hub.rules import RuleEngine
from topics.catalog import CAMERA_REGISTRY, CAMERA_STATUS
from topics.models import CameraRecord, CameraStatus

log = structlog.get_logger(__name__)
COMPONENT = "hub.health"


def install(hub: Hub, outlet: AlertOutlet, engine: RuleEngine) -> None:
    app = hub.app
    config = hub.config
    silence_s = config.silence_s(engine.ruleset)
    partitions = CAMERA_STATUS.partitions
    health = hub.table("camera-health", partitions)
    silence_checks = hub.internal_topic("health-silence-checks", partitions)
    due = DueIndex()
    isolation = RecordIsolation(hub.catalog, COMPONENT)
    registry_entry = catalog_entry(CAMERA_REGISTRY)
    status_of = catalog_payload(CAMERA_STATUS, CameraStatus)

    def load(camera_id: str) -> CameraHealth | None:
        stored = health.get(camera_id)
        return CameraHealth.model_validate(stored) if stored is not None else None

    def store(value: CameraHealth) -> None:
        health[value.camera_id] = value.model_dump(mode="json")
        due.touch(value.camera_id)

    async def publish(alerts: list[Any]) -> None:
        await outlet.publish_all(alerts)
        for alert in alerts:
            log.info(
                "health alert",
                alert_id=alert.alert_id,
                status=alert.status,
                camera_id=alert.camera_id,
            )

    async def on_registry_record(partition: int, entry: tuple[str, Any]) -> None:
        key, record = entry
        assert record is None or isinstance(record, CameraRecord)
        camera_id = record.camera_id if record is not None else key
        updated, alerts = on_registry(
            load(camera_id), camera_id, record, partition, utcnow(), engine
        )
        await publish(alerts)
        store(updated)

    @app.agent(hub.catalog.topic(CAMERA_REGISTRY), name="hub.health.registry")
    async def registry_agent(stream: Any) -> None:
        async for event in stream.events():
            await isolation.handle(
                event, registry_entry, partial(on_registry_record, event.message.partition)
            )

    async def apply_status(partition: int, status: CameraStatus) -> None:
        updated, alerts = on_status(load(status.camera_id), status, partition, utcnow(), engine)
        await publish(alerts)
        store(updated)

    async def on_status_event(event: Any) -> None:
        await isolation.handle(event, status_of, partial(apply_status, event.message.partition))

    @app.agent(hub.catalog.topic(CAMERA_STATUS), name="hub.health.status")
    async def status_agent(stream: Any) -> None:
        async for event in guarded(stream.events(), hub.gaps):
            await on_status_event(event)

    watch_stalls(
        app, hub.gaps, CAMERA_STATUS.name, on_status_event, name="hub.health.status-stall-check"
    )

    async def on_silence(record: tuple[Any, Any]) -> None:
        _, check = record
        current = load(str(check["camera_id"]))
        if current is None:
            return
        updated, alerts = on_silence_check(current, datetime.fromisoformat(check["at"]), engine)
        await publish(alerts)
        if updated != current:
            store(updated)

    @app.agent(silence_checks, name="hub.health.silence")
    async def silence_agent(stream: Any) -> None:
        async for event in stream.events():
            await isolation.handle(event, internal_json, on_silence)

    @app.timer(config.health_check_every_s, name="hub.health.silence-timer")
    async def find_silent_cameras() -> None:
        # The timer only finds candidates; the state changes where it lives, in its partition.
        # Only cameras whose silence may have run out are looked at (hub/due.py).
        now = utcnow()
        async for camera_id, version, stored in due_entries(due, health, now):
            current = CameraHealth.model_validate(stored)
            if on_silence_check(current, now, engine) != (current, []):
                await hub.catalog.send_json(
                    silence_checks,
                    camera_id,
                    {"camera_id": camera_id, "at": now.isoformat()},
                    partition=current.partition,
                )
                # The silence agent's write touches it again; until then, not before the next run.
                due.schedule(camera_id, now.timestamp() + config.health_check_every_s, version)
                continue
            # Nothing to wait for (no offline rule watches it): look again now and then regardless.
            due.schedule(
                camera_id,
                check_at(current, now, engine) or now.timestamp() + RECHECK_CAP_S,
                version,
            )

    @app.page("/coverage")
    async def coverage_page(web: View, request: Request) -> Response:
        cameras = (CameraHealth.model_validate(v) for _, v in list(health.items()))
        coverage = compute_coverage(cameras, utcnow(), silence_s)
        return web.json(coverage.model_dump(mode="json"))

    hub.extras["health_table"] = health

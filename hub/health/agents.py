"""Health agents: registry and status into the health table, a timer for silent cameras, /coverage."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from faust.web import Request, Response, View

from hub.context import Hub, due_entries, utcnow
from hub.dispatching.outlet import AlertOutlet
from hub.due import RECHECK_CAP_S, DueIndex
from hub.edge import Refused, accept, accept_as
from hub.gaps import guarded, watch_stalls
from hub.health.coverage import compute_coverage
from hub.health.state import (
    CameraHealth,
    offline_check_at,
    offline_due,
    on_registry,
    on_silence_check,
    on_status,
)
from topics.catalog import CAMERA_REGISTRY, CAMERA_STATUS
from topics.models import CameraRecord, CameraStatus

log = structlog.get_logger(__name__)
COMPONENT = "hub.health"


def install(hub: Hub, outlet: AlertOutlet) -> None:
    app = hub.app
    config = hub.config
    partitions = CAMERA_STATUS.partitions
    health = hub.table("camera-health", partitions)
    silence_checks = hub.internal_topic("health-silence-checks", partitions)
    due = DueIndex()

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

    @app.agent(hub.catalog.topic(CAMERA_REGISTRY), name="hub.health.registry")
    async def registry_agent(stream: Any) -> None:
        async for event in stream.events():
            try:
                record = await accept(hub.catalog, CAMERA_REGISTRY, event, component=COMPONENT)
            except Refused:
                continue
            key = event.message.key
            camera_id = (
                record.camera_id if isinstance(record, CameraRecord) else (key or b"").decode()
            )
            if not camera_id:
                continue
            assert record is None or isinstance(record, CameraRecord)
            store(
                on_registry(load(camera_id), camera_id, record, event.message.partition, utcnow())
            )

    async def on_status_event(event: Any) -> None:
        try:
            status = await accept_as(
                hub.catalog, CAMERA_STATUS, CameraStatus, event, component=COMPONENT
            )
        except Refused:
            return
        updated, alerts = on_status(load(status.camera_id), status, event.message.partition)
        await publish(alerts)
        store(updated)

    @app.agent(hub.catalog.topic(CAMERA_STATUS), name="hub.health.status")
    async def status_agent(stream: Any) -> None:
        async for event in guarded(stream.events(), hub.gaps):
            await on_status_event(event)

    watch_stalls(
        app, hub.gaps, CAMERA_STATUS.name, on_status_event, name="hub.health.status-stall-check"
    )

    @app.agent(silence_checks, name="hub.health.silence")
    async def silence_agent(stream: Any) -> None:
        async for event in stream.events():
            check = event.value
            current = load(str(check["camera_id"]))
            if current is None:
                continue
            updated, alerts = on_silence_check(
                current,
                datetime.fromisoformat(check["at"]),
                config.offline_after_s,
                config.offline_rule_id,
                config.offline_severity,
                config.offline_scope,
            )
            if alerts:
                await publish(alerts)
                store(updated)

    @app.timer(config.health_check_every_s, name="hub.health.silence-timer")
    async def find_silent_cameras() -> None:
        # The timer only finds candidates; the state changes where it lives, in its partition.
        # Only cameras whose silence may have run out are looked at (hub/due.py).
        now = utcnow()
        async for camera_id, version, stored in due_entries(due, health, now):
            current = CameraHealth.model_validate(stored)
            if offline_due(current, now, config.offline_after_s, config.offline_scope):
                await silence_checks.send(
                    key=camera_id,
                    value={"camera_id": camera_id, "at": now.isoformat()},
                    partition=current.partition,
                )
                # The silence agent's write touches it again; until then, not before the next run.
                due.schedule(camera_id, now.timestamp() + config.health_check_every_s, version)
                continue
            # Nothing to wait for (offline already, revoked): look again now and then regardless.
            check_at = offline_check_at(current, config.offline_after_s, config.offline_scope)
            due.schedule(camera_id, check_at or now.timestamp() + RECHECK_CAP_S, version)

    @app.page("/coverage")
    async def coverage_page(web: View, request: Request) -> Response:
        cameras = (CameraHealth.model_validate(v) for _, v in list(health.items()))
        coverage = compute_coverage(cameras, utcnow(), config.offline_after_s)
        return web.json(coverage.model_dump(mode="json"))

    hub.extras["health_table"] = health

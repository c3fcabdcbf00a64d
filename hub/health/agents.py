"""Health agents: registry and status into the health table, a timer for silent cameras, /coverage.

What a record or a silence check does to a camera's health is ``hub.health.state``; the agents
read the topics, keep one ``CameraHealth`` per camera in a changelog-backed table, and publish
the offline rules' alerts through the outlet.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import faust
import structlog
from faust.web import Request, Response, View
from pydantic import AwareDatetime, BaseModel, ConfigDict

from hub.dispatching.outlet import AlertOutlet
from hub.due import RECHECK_CAP_S, DueIndex, due_entries
from hub.edge import Edges
from hub.gaps import GapGuard, guarded, watch_stalls
from hub.health.coverage import Coverage, compute_coverage
from hub.health.state import CameraHealth, check_at, on_registry, on_silence_check, on_status
from hub.isolation import RecordIsolation, catalog_entry, catalog_payload, internal_json
from hub.rules import RuleEngine
from topics.catalog import CAMERA_REGISTRY, CAMERA_STATUS
from topics.models import Alert, CameraRecord, CameraStatus, utcnow

log = structlog.get_logger(__name__)
COMPONENT = "hub.health"
registry_entry = catalog_entry(CAMERA_REGISTRY)
status_of = catalog_payload(CAMERA_STATUS, CameraStatus)


class SilenceCheck(BaseModel):
    """The silence timer found a camera whose offline rules time changes: judge it at ``at``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    camera_id: str
    at: AwareDatetime


class Health:
    """The camera health domain of one worker: its table, silence checks, agents and /coverage."""

    def __init__(
        self,
        app: faust.App,
        edges: Edges,
        engine: RuleEngine,
        outlet: AlertOutlet,
        gaps: GapGuard,
        *,
        check_every_s: float,
        silence_s: float,
    ) -> None:
        self.edges = edges
        self.engine = engine
        self.outlet = outlet
        self.gaps = gaps
        self.check_every_s = check_every_s
        self.silence_s = silence_s
        self.table = edges.table("camera-health", CAMERA_STATUS.partitions)
        self.checks = edges.internal_topic("health-silence-checks", CAMERA_STATUS.partitions)
        self.due = DueIndex()
        self.isolation = RecordIsolation(edges, COMPONENT)
        self.registry_agent = app.agent(edges.topic(CAMERA_REGISTRY), name="hub.health.registry")(
            self.follow_registry
        )
        self.status_agent = app.agent(edges.topic(CAMERA_STATUS), name="hub.health.status")(
            self.follow_status
        )
        self.silence_agent = app.agent(self.checks, name="hub.health.silence")(self.judge_silences)
        app.timer(check_every_s, name="hub.health.silence-timer")(self.find_silent_cameras)
        app.page("/coverage")(coverage_page(self))
        watch_stalls(
            app, gaps, CAMERA_STATUS.name, self.on_status_event, "hub.health.status-stall-check"
        )

    async def follow_registry(self, stream: Any) -> None:
        """Agent: registry records and tombstones (compacted: offsets have holes, no gap guard)."""
        async for event in stream.events():
            process = partial(self.on_registry_record, event.message.partition)
            await self.isolation.handle(event, registry_entry, process)

    async def on_registry_record(self, partition: int, entry: tuple[str, Any]) -> None:
        key, record = entry
        assert record is None or isinstance(record, CameraRecord)
        camera_id = record.camera_id if record is not None else key
        updated, alerts = on_registry(
            self.load(camera_id), camera_id, record, partition, utcnow(), self.engine
        )
        await self.publish(alerts)
        self.store(updated)

    async def follow_status(self, stream: Any) -> None:
        """Agent: health-check results."""
        async for event in guarded(stream.events(), self.gaps):
            await self.on_status_event(event)

    async def on_status_event(self, event: Any) -> None:
        process = partial(self.on_status_record, event.message.partition)
        await self.isolation.handle(event, status_of, process)

    async def on_status_record(self, partition: int, status: CameraStatus) -> None:
        current = self.load(status.camera_id)
        updated, alerts = on_status(current, status, partition, utcnow(), self.engine)
        await self.publish(alerts)
        self.store(updated)

    async def judge_silences(self, stream: Any) -> None:
        """Agent: silence checks the timer sent, judged where the camera's state lives."""
        async for event in stream.events():
            await self.isolation.handle(event, internal_json, self.on_silence_check)

    async def on_silence_check(self, record: tuple[Any, Any]) -> None:
        check = SilenceCheck.model_validate(record[1])
        current = self.load(check.camera_id)
        if current is None:
            return
        updated, alerts = on_silence_check(current, check.at, self.engine)
        await self.publish(alerts)
        if updated != current:
            self.store(updated)

    async def find_silent_cameras(self) -> None:
        """Timer: finds cameras whose offline rules time changes; only those due (hub/due.py)."""
        now = utcnow()
        async for camera_id, version, stored in due_entries(self.due, self.table, now):
            current = CameraHealth.model_validate(stored)
            if on_silence_check(current, now, self.engine) != (current, []):
                check = SilenceCheck(camera_id=camera_id, at=now)
                await self.edges.post(self.checks, camera_id, check, partition=current.partition)
                # The silence agent's write touches it again; until then, not before the next run.
                self.due.schedule(camera_id, now.timestamp() + self.check_every_s, version)
                continue
            # Nothing to wait for (no offline rule watches it): look again now and then regardless.
            next_at = check_at(current, now, self.engine) or now.timestamp() + RECHECK_CAP_S
            self.due.schedule(camera_id, next_at, version)

    def coverage(self) -> Coverage:
        """Coverage of the health partitions this worker owns."""
        cameras = (CameraHealth.model_validate(v) for _, v in list(self.table.items()))
        return compute_coverage(cameras, utcnow(), self.silence_s)

    def load(self, camera_id: str) -> CameraHealth | None:
        stored = self.table.get(camera_id)
        return CameraHealth.model_validate(stored) if stored is not None else None

    def store(self, value: CameraHealth) -> None:
        self.table[value.camera_id] = value.model_dump(mode="json")
        self.due.touch(value.camera_id)

    async def publish(self, alerts: list[Alert]) -> None:
        await self.outlet.publish_all(alerts)
        for alert in alerts:
            log.info(
                "health alert",
                alert_id=alert.alert_id,
                status=alert.status,
                camera_id=alert.camera_id,
            )


def coverage_page(health: Health) -> type[View]:
    """The ``/coverage`` page of one worker's health domain."""

    class CoveragePage(View):
        async def get(self, request: Request) -> Response:
            return self.json(health.coverage().model_dump(mode="json"))

    return CoveragePage

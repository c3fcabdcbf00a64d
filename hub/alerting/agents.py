"""The rules agents: device events joined with their camera, through the rules engine, into alerts.

Each alert is published through the outlet, which routes it to its agencies in the same step.
What one event or tick does to the rule state is ``hub.alerting.judging``; the agents here read
the topics, keep the state in a changelog-backed table (in the partition of the camera's events)
and publish. Timers only look for states that time would change; the change itself is made by
the tick agent in the state's own partition (Faust tables change only inside their partition's
stream). Events of a camera its owner revoked are dropped and audited, never evaluated.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import faust
import structlog
from pydantic import AwareDatetime, BaseModel, ConfigDict

from hub.alerting.judging import judge_event, judge_tick, split_key, tick_at
from hub.batching import HeldWrites
from hub.dispatching.outlet import AlertOutlet
from hub.due import DueIndex, due_entries
from hub.edge import Edges
from hub.gaps import GapGuard, watch_stalls
from hub.isolation import RecordIsolation, catalog_payload, internal_json
from hub.registry_view import RegistryView
from hub.rules import RuleEngine
from topics.catalog import AUDIT, DEVICE_EVENTS
from topics.models import AuditRecord, DeviceEvent, utcnow

log = structlog.get_logger(__name__)
COMPONENT = "hub.alerting"
# Events judged together: their alerts are delivered in one round trip before their state is kept.
BATCH_MAX = 500
BATCH_WITHIN_S = 0.01
device_event_of = catalog_payload(DEVICE_EVENTS, DeviceEvent)


class Tick(BaseModel):
    """The tick timer found a rule state that time changes: judge it at ``at``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    at: AwareDatetime


class Alerting:
    """The rules domain of one worker: its table, its tick topic, its agents and timer."""

    def __init__(
        self,
        app: faust.App,
        edges: Edges,
        engine: RuleEngine,
        outlet: AlertOutlet,
        registry: RegistryView,
        gaps: GapGuard,
        *,
        tick_every_s: float,
    ) -> None:
        self.edges = edges
        self.engine = engine
        self.outlet = outlet
        self.registry = registry
        self.gaps = gaps
        self.tick_every_s = tick_every_s
        self.states = edges.table("rule-state", DEVICE_EVENTS.partitions)
        self.ticks = edges.internal_topic("rule-ticks", DEVICE_EVENTS.partitions)
        self.due = DueIndex()
        self.isolation = RecordIsolation(edges, COMPONENT)
        self.rules_agent = app.agent(edges.topic(DEVICE_EVENTS), name="hub.alerting.rules")(
            self.judge_events
        )
        self.ticks_agent = app.agent(self.ticks, name="hub.alerting.ticks")(self.apply_ticks)
        app.timer(tick_every_s, name="hub.alerting.tick-timer")(self.find_due_ticks)
        watch_stalls(app, gaps, DEVICE_EVENTS.name, self.judge_stalled, "hub.alerting.stall-check")

    async def judge_events(self, stream: Any) -> None:
        """Agent: device events, in batches; a batch's state is kept once its alerts are out."""
        # Revocation must take effect before any event is judged, so wait for the registry.
        await self.registry.ready.wait()
        async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
            writes = self.writes()
            for event in events:
                for skipped in await self.gaps.missed(event):
                    await self.judge_record(writes, skipped)
                await self.judge_record(writes, event)
            await writes.apply()

    async def judge_stalled(self, event: Any) -> None:
        writes = self.writes()
        await self.judge_record(writes, event)
        await writes.apply()

    async def judge_record(self, writes: HeldWrites, event: Any) -> None:
        process = partial(self.judge, writes, event.message.partition)
        await self.isolation.handle(event, device_event_of, process)

    async def judge(self, writes: HeldWrites, partition: int, event: DeviceEvent) -> None:
        if self.registry.is_revoked(event.camera_id):
            await self.audit_dropped(event)
            return
        camera = self.registry.get(event.camera_id)
        for alert in judge_event(self.engine, writes, partition, event, camera, utcnow()):
            writes.after(await self.outlet.publish(alert))

    async def apply_ticks(self, stream: Any) -> None:
        """Agent: ticks, in batches like events (states that come due together, such as alerts
        opened in one burst resolving together, cost one delivery round trip)."""
        async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
            writes = self.writes()
            for event in events:
                await self.isolation.handle(event, internal_json, partial(self.tick, writes))
            await writes.apply()

    async def tick(self, writes: HeldWrites, record: tuple[Any, Any]) -> None:
        _, value = record
        tick = Tick.model_validate(value)
        camera = self.registry.get(split_key(tick.key)[0])
        for alert in judge_tick(self.engine, writes, tick.key, tick.at, camera):
            writes.after(await self.outlet.publish(alert))

    async def find_due_ticks(self) -> None:
        """Timer: only states whose next time-driven change has come are looked at (hub/due.py)."""
        now = utcnow()
        async for key, version, stored in due_entries(self.due, self.states, now):
            camera = self.registry.get(split_key(key)[0])
            next_at = tick_at(self.engine, key, stored, camera, now)
            if next_at is not None:
                self.due.schedule(key, next_at, version)
                continue
            # The tick agent's write touches the key again; until then, not before the next run.
            self.due.schedule(key, now.timestamp() + self.tick_every_s, version)
            await self.edges.post(
                self.ticks, key, Tick(key=key, at=now), partition=int(stored["p"])
            )

    def writes(self) -> HeldWrites:
        return HeldWrites(self.states, self.due.touch)

    async def audit_dropped(self, event: DeviceEvent) -> None:
        record = AuditRecord(
            audit_id=f"aud-{event.event_id[4:]}",
            at=utcnow(),
            actor=COMPONENT,
            action="event_dropped_revoked_camera",
            subject=event.camera_id,
            details={"event_id": event.event_id, "kind": str(event.kind)},
        )
        await self.edges.publish(AUDIT, record)

"""The rules agent: device events joined with their camera, through the rules engine, into alerts.

Each alert is published through the outlet, which routes it to its agencies in the same step.

Rule state lives in a changelog-backed table keyed ``camera_id|rule_id`` in the partition of the
camera's events. Timers only look for states that time would change; the change itself is made by
the tick agent in the state's own partition (Faust tables change only inside their partition's
stream). Events of a camera its owner revoked are dropped and audited, never evaluated.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

import structlog

from hub.alerting.slots import RuleSlot, advance
from hub.batching import HeldWrites
from hub.context import Hub, due_entries, utcnow
from hub.dispatching.outlet import AlertOutlet
from hub.due import RECHECK_CAP_S, DueIndex
from hub.gaps import watch_stalls
from hub.isolation import RecordIsolation, catalog_payload, internal_json
from hub.rules import RuleEngine, RuleState
from topics.catalog import AUDIT, DEVICE_EVENTS
from topics.models import Alert, AuditRecord, CameraRecord, DeviceEvent

log = structlog.get_logger(__name__)
COMPONENT = "hub.alerting"
# Events judged together: their alerts are delivered in one round trip before their state is kept.
BATCH_MAX = 500
BATCH_WITHIN_S = 0.01


def state_key(camera_id: str, rule_id: str) -> str:
    return f"{camera_id}|{rule_id}"


def retired(
    engine: RuleEngine,
    rule_id: str,
    camera_id: str,
    camera: CameraRecord | None,
    now: datetime,
    state: RuleState | None,
) -> tuple[RuleState, list[Alert]]:
    """A rule removed from the file or disabled: its open alert resolves, its state goes (idle)."""
    why = "the rule was disabled" if engine.rule(rule_id) is not None else None
    return RuleState(), engine.retire(rule_id, camera_id, state, camera, now, why=why)


def install(hub: Hub, outlet: AlertOutlet, engine: RuleEngine) -> None:
    app = hub.app
    partitions = DEVICE_EVENTS.partitions
    rule_states = hub.table("rule-state", partitions)
    ticks = hub.internal_topic("rule-ticks", partitions)
    gaps = hub.gaps
    due = DueIndex()
    isolation = RecordIsolation(hub.catalog, COMPONENT)
    device_event_of = catalog_payload(DEVICE_EVENTS, DeviceEvent)

    async def judge(
        writes: HeldWrites,
        key: str,
        partition: int,
        cause: str,
        step: Callable[[RuleState | None], tuple[RuleState, list[Alert]]],
    ) -> None:
        slot = RuleSlot.load(writes.get(key))
        if slot is not None:
            again = slot.replayed(cause)
            if again is not None:
                # Processed before a crash: its alerts may not have been delivered, so again.
                for alert in again:
                    writes.after(await outlet.publish(alert))
                return
        state, alerts = step(slot.state if slot is not None else None)
        for alert in alerts:
            writes.after(await outlet.publish(alert))
        updated = advance(slot, partition, cause, state, alerts)
        if updated.state.idle:
            writes.delete(key, partition)
        else:
            writes.set(key, partition, updated.dump())

    async def audit_dropped(event: DeviceEvent) -> None:
        record = AuditRecord(
            audit_id=f"aud-{event.event_id[4:]}",
            at=utcnow(),
            actor=COMPONENT,
            action="event_dropped_revoked_camera",
            subject=event.camera_id,
            details={"event_id": event.event_id, "kind": str(event.kind)},
        )
        await hub.catalog.send(AUDIT, record)

    @app.agent(hub.catalog.topic(DEVICE_EVENTS), name="hub.alerting.rules")
    async def apply_rules(stream: Any) -> None:
        # Revocation must take effect before any event is judged, so wait for the registry.
        await hub.registry.ready.wait()
        async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
            writes = HeldWrites(rule_states, due.touch)
            for event in events:
                for skipped in await gaps.missed(event):
                    await judge_event(writes, skipped)
                await judge_event(writes, event)
            await writes.apply()

    async def judge_stalled(event: Any) -> None:
        writes = HeldWrites(rule_states, due.touch)
        await judge_event(writes, event)
        await writes.apply()

    watch_stalls(app, gaps, DEVICE_EVENTS.name, judge_stalled, name="hub.alerting.stall-check")

    async def judge_event(writes: HeldWrites, event: Any) -> None:
        await isolation.handle(
            event, device_event_of, partial(judge_device_event, writes, event.message.partition)
        )

    async def judge_device_event(
        writes: HeldWrites, partition: int, device_event: DeviceEvent
    ) -> None:
        if hub.registry.is_revoked(device_event.camera_id):
            await audit_dropped(device_event)
            return
        camera = hub.registry.get(device_event.camera_id)
        now = utcnow()
        for rule in engine.rules_for(device_event, camera):
            await judge(
                writes,
                state_key(device_event.camera_id, rule.id),
                partition,
                device_event.event_id,
                partial(engine.apply, rule, device_event, camera, now=now),
            )

    async def apply_tick(writes: HeldWrites, record: tuple[Any, Any]) -> None:
        _, tick = record
        key = str(tick["key"])
        slot = RuleSlot.load(writes.get(key))
        if slot is None:
            return
        camera_id, _, rule_id = key.partition("|")
        rule = engine.in_force(rule_id)
        at = datetime.fromisoformat(tick["at"])
        camera = hub.registry.get(camera_id)
        step = (
            partial(engine.tick, rule, camera_id, camera=camera, now=at)
            if rule is not None
            else partial(retired, engine, rule_id, camera_id, camera, at)
        )
        await judge(writes, key, slot.partition, f"tick:{tick['at']}", step)

    @app.agent(ticks, name="hub.alerting.ticks")
    async def apply_ticks(stream: Any) -> None:
        # Many states can come due together (alerts opened in one burst resolve together), so
        # ticks are judged in batches too: one delivery round trip per batch, not per tick.
        async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):
            writes = HeldWrites(rule_states, due.touch)
            for event in events:
                await isolation.handle(event, internal_json, partial(apply_tick, writes))
            await writes.apply()

    @app.timer(hub.config.rules_tick_every_s, name="hub.alerting.tick-timer")
    async def find_due_ticks() -> None:
        # Only states whose next time-driven change has come are looked at (hub/due.py).
        now = utcnow()
        async for key, version, stored in due_entries(due, rule_states, now):
            state = RuleState.from_json(stored["s"])
            camera_id, _, rule_id = key.partition("|")
            rule = engine.in_force(rule_id)
            if rule is not None:
                if not engine.needs_tick(state):
                    due.schedule(key, now.timestamp() + RECHECK_CAP_S, version)
                    continue
                updated, alerts = engine.tick(
                    rule, camera_id, state, hub.registry.get(camera_id), now
                )
                if not alerts and updated == state:
                    due.schedule(key, engine.next_check(rule, state, now), version)
                    continue
            # The tick agent's write touches the key again; until then, not before the next run.
            due.schedule(key, now.timestamp() + hub.config.rules_tick_every_s, version)
            await hub.catalog.send_json(
                ticks, key, {"key": key, "at": now.isoformat()}, partition=int(stored["p"])
            )

"""What the rules agents make of one input, over the rules engine: the worker and ``RuleHarness`` alike.

Rule state lives in a store keyed ``camera_id|rule_id``, one ``RuleSlot`` per key, in the
partition of the camera's events: in the worker a changelog-backed table whose writes are held
until a batch's outputs are delivered (``hub.batching.HeldWrites``), in the harness a dict. An
input seen before (after a crash, the same event or tick again) gives the alerts it gave then,
so they are published again with the same ids instead of being judged twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any, Protocol

from hub.alerting.slots import RuleSlot, advance
from hub.due import RECHECK_CAP_S
from hub.rules import RuleEngine, RuleState
from topics.models import Alert, CameraRecord, DeviceEvent

Step = Callable[[RuleState | None], tuple[RuleState, list[Alert]]]


class SlotStore(Protocol):
    """Rule slots by key; each write names the partition its key lives in."""

    def get(self, key: str) -> Any: ...

    def set(self, key: str, partition: int, value: Any) -> None: ...

    def delete(self, key: str, partition: int) -> None: ...


def state_key(camera_id: str, rule_id: str) -> str:
    return f"{camera_id}|{rule_id}"


def split_key(key: str) -> tuple[str, str]:
    camera_id, _, rule_id = key.partition("|")
    return camera_id, rule_id


def judge_event(
    engine: RuleEngine,
    store: SlotStore,
    partition: int,
    event: DeviceEvent,
    camera: CameraRecord | None,
    now: datetime,
) -> list[Alert]:
    """One device event through every rule it feeds; the alert states to publish."""
    alerts: list[Alert] = []
    for rule in engine.rules_for(event, camera):
        step = partial(engine.apply, rule, event, camera, now=now)
        alerts += _judge(
            store, state_key(event.camera_id, rule.id), partition, event.event_id, step
        )
    return alerts


def judge_tick(
    engine: RuleEngine, store: SlotStore, key: str, at: datetime, camera: CameraRecord | None
) -> list[Alert]:
    """Time passing for one stored state. A rule removed from the file (or disabled) retires:
    its open alert resolves and the state goes."""
    slot = RuleSlot.load(store.get(key))
    if slot is None:
        return []
    camera_id, rule_id = split_key(key)
    rule = engine.in_force(rule_id)
    step: Step = (
        partial(engine.tick, rule, camera_id, camera=camera, now=at)
        if rule is not None
        else partial(_retired, engine, rule_id, camera_id, camera, at)
    )
    return _judge(store, key, slot.partition, f"tick:{at.isoformat()}", step)


def tick_at(
    engine: RuleEngine, key: str, stored: Any, camera: CameraRecord | None, now: datetime
) -> float | None:
    """For the tick timer: ``None`` if a tick now would change the state, else the epoch seconds
    when time alone next could (``hub.due``)."""
    slot = RuleSlot.load(stored)
    assert slot is not None
    camera_id, rule_id = split_key(key)
    rule = engine.in_force(rule_id)
    if rule is None:
        return None
    if not engine.needs_tick(slot.state):
        return now.timestamp() + RECHECK_CAP_S
    updated, alerts = engine.tick(rule, camera_id, slot.state, camera, now)
    if alerts or updated != slot.state:
        return None
    return engine.next_check(rule, slot.state, now)


def _judge(store: SlotStore, key: str, partition: int, cause: str, step: Step) -> list[Alert]:
    slot = RuleSlot.load(store.get(key))
    if slot is not None:
        again = slot.replayed(cause)
        if again is not None:
            # Processed before a crash: its alerts may not have been delivered, so again.
            return again
    state, alerts = step(slot.state if slot is not None else None)
    updated = advance(slot, partition, cause, state, alerts)
    if updated.state.idle:
        store.delete(key, partition)
    else:
        store.set(key, partition, updated.dump())
    return alerts


def _retired(
    engine: RuleEngine,
    rule_id: str,
    camera_id: str,
    camera: CameraRecord | None,
    now: datetime,
    state: RuleState | None,
) -> tuple[RuleState, list[Alert]]:
    why = "the rule was disabled" if engine.rule(rule_id) is not None else None
    return RuleState(), engine.retire(rule_id, camera_id, state, camera, now, why=why)

"""The rules agents' loop in memory, over the same handlers the worker runs: events, health results
and the passing of time in, alerts out.

``feed`` is what the rules agent does with a device event (``hub.alerting.judging``), ``health``
what the health agents do with a status report (``hub.health.state``), ``tick`` what the tick
and silence agents do when a timer finds time has changed a state. State goes through the same
JSON as in the worker's changelog tables. Cameras are registered when their first health result
comes (a camera never reported is not watched for silence).

An input judged before (the same event, or a tick at the same moment) gives its alerts again, as
in a worker reprocessing after a crash; like any consumer, the harness drops such repeats (same
alert id and sequence), so each call returns only new alert states.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.alerting.judging import judge_event, judge_tick, split_key, state_key
from hub.alerting.slots import RuleSlot
from hub.health.state import CameraHealth, on_registry, on_silence_check, on_status
from hub.rules import RuleEngine, RuleState
from topics.models import Alert, CameraRecord, CameraStatus, DeviceEvent

PARTITION = 0


class SlotDict(dict[str, Any]):
    """A rule-state store in memory (the worker's is its table)."""

    def set(self, key: str, partition: int, value: Any) -> None:
        self[key] = value

    def delete(self, key: str, partition: int) -> None:
        self.pop(key, None)


class RuleHarness:
    def __init__(self, engine: RuleEngine, cameras: list[CameraRecord] | None = None) -> None:
        self.engine = engine
        self.cameras = {cam.camera_id: cam for cam in cameras or []}
        self.slots = SlotDict()
        self.healths: dict[str, CameraHealth] = {}
        self.alerts: list[Alert] = []
        self._published_states: set[tuple[str, int]] = set()

    @property
    def states(self) -> dict[tuple[str, str], str]:
        """The event rules' states: (camera id, rule id) -> the state's JSON."""
        return {split_key(key): slot["s"] for key, slot in self.slots.items()}

    def state(self, camera_id: str, rule_id: str) -> RuleState | None:
        """The state of an event rule, or of an offline rule, on a camera."""
        slot = RuleSlot.load(self.slots.get(state_key(camera_id, rule_id)))
        if slot is not None:
            return slot.state
        health = self.healths.get(camera_id)
        return health.offline.get(rule_id) if health is not None else None

    def feed(self, evt: DeviceEvent, now: datetime | None = None) -> list[Alert]:
        cam = self.cameras.get(evt.camera_id)
        alerts = judge_event(self.engine, self.slots, PARTITION, evt, cam, now or evt.received_at)
        return self._published(alerts)

    def health(self, result: CameraStatus, now: datetime | None = None) -> list[Alert]:
        now = now or result.checked_at
        current = self.healths.get(result.camera_id)
        alerts: list[Alert] = []
        cam = self.cameras.get(result.camera_id)
        if current is None and cam is not None:
            current, alerts = on_registry(None, cam.camera_id, cam, PARTITION, now, self.engine)
        updated, more = on_status(current, result, PARTITION, now, self.engine)
        self.healths[result.camera_id] = updated
        return self._published(alerts + more)

    def tick(self, now: datetime) -> list[Alert]:
        alerts: list[Alert] = []
        for key in sorted(self.slots):
            camera = self.cameras.get(split_key(key)[0])
            alerts += judge_tick(self.engine, self.slots, key, now, camera)
        for camera_id in sorted(self.healths):
            self.healths[camera_id], more = on_silence_check(
                self.healths[camera_id], now, self.engine
            )
            alerts += more
        return self._published(alerts)

    def _published(self, alerts: list[Alert]) -> list[Alert]:
        new = []
        for alert in alerts:
            if (alert.alert_id, alert.sequence) not in self._published_states:
                self._published_states.add((alert.alert_id, alert.sequence))
                new.append(alert)
        self.alerts.extend(new)
        return new

"""Builders of device events, camera records and health results for testing rules and routing.

Ids come from ``topics.identity``, so events built twice from the same arguments are the same
event, as a replayed device event would be.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hub.rules.engine import RuleEngine
from hub.rules.state import RuleState
from topics.identity import camera_id as make_camera_id
from topics.identity import event_id as make_event_id
from topics.models import (
    AdminArea,
    Alert,
    CameraRecord,
    CameraState,
    CameraStatus,
    DeviceEvent,
    EventAttributes,
    EventKind,
    EventSource,
    Location,
    Owner,
    OwnerKind,
    SiteType,
)


def camera(
    serial: str = "CAM-1",
    *,
    site_type: SiteType = SiteType.MARKET,
    kecamatan: str | None = "Semarang Tengah",
    kelurahan: str | None = "Sekayu",
    owner_kind: OwnerKind = OwnerKind.MUNICIPAL,
    at: datetime,
) -> CameraRecord:
    cam_id = make_camera_id(vendor="test", serial=serial)
    return CameraRecord(
        camera_id=cam_id,
        name=f"Camera {serial}",
        connector="onvif",
        device_id="dev-" + cam_id[4:],
        address="127.0.0.1:8000",
        owner=Owner(
            kind=owner_kind, id="semarang" if owner_kind is OwnerKind.MUNICIPAL else "shop"
        ),
        location=Location(area=AdminArea(kecamatan=kecamatan, kelurahan=kelurahan)),
        site_type=site_type,
        discovered_at=at,
        updated_at=at,
    )


def event(
    cam: CameraRecord | str,
    kind: EventKind,
    at: datetime,
    *,
    active: bool | None = None,
    received_at: datetime | None = None,
    vendor_topic: str | None = None,
    **attributes: Any,
) -> DeviceEvent:
    """A normalised event from ``cam`` at device time ``at`` (received one second later by default)."""
    cam_id = cam if isinstance(cam, str) else cam.camera_id
    topic = vendor_topic or f"test/{kind}"
    return DeviceEvent(
        event_id=make_event_id(
            camera_id=cam_id,
            vendor_topic=topic,
            device_time=at,
            discriminator=(active, tuple(sorted(attributes.items()))),
        ),
        camera_id=cam_id,
        kind=kind,
        active=active,
        device_time=at,
        received_at=received_at or at + timedelta(seconds=1),
        source=EventSource(connector="onvif", device_id="dev-test", vendor_topic=topic),
        attributes=EventAttributes(**attributes),
    )


def status(cam: CameraRecord | str, state: CameraState, at: datetime) -> CameraStatus:
    cam_id = cam if isinstance(cam, str) else cam.camera_id
    return CameraStatus(camera_id=cam_id, state=state, checked_at=at)


class RuleHarness:
    """The rules agent's loop in memory: events and ticks in, alerts out, state kept per (camera, rule).

    State goes through ``to_json``/``from_json`` on every step, as it does in a changelog table.
    """

    def __init__(self, engine: RuleEngine, cameras: list[CameraRecord] | None = None) -> None:
        self.engine = engine
        self.cameras = {cam.camera_id: cam for cam in cameras or []}
        self.states: dict[tuple[str, str], str] = {}
        self.alerts: list[Alert] = []

    def state(self, camera_id: str, rule_id: str) -> RuleState | None:
        text = self.states.get((camera_id, rule_id))
        return None if text is None else RuleState.from_json(text)

    def _store(self, key: tuple[str, str], state: RuleState) -> None:
        if state.idle:
            self.states.pop(key, None)
        else:
            self.states[key] = state.to_json()

    def feed(self, evt: DeviceEvent, now: datetime | None = None) -> list[Alert]:
        cam = self.cameras.get(evt.camera_id)
        now = now or evt.received_at
        out: list[Alert] = []
        for rule in self.engine.rules_for(evt, cam):
            key = (evt.camera_id, rule.id)
            state, alerts = self.engine.apply(rule, evt, cam, self.state(*key), now)
            self._store(key, state)
            out.extend(alerts)
        self.alerts.extend(out)
        return out

    def health(self, result: CameraStatus, now: datetime | None = None) -> list[Alert]:
        cam = self.cameras.get(result.camera_id)
        out: list[Alert] = []
        for rule in self.engine.offline_rules(cam):
            key = (result.camera_id, rule.id)
            state, alerts = self.engine.apply_status(
                rule, result, cam, self.state(*key), now or result.checked_at
            )
            self._store(key, state)
            out.extend(alerts)
        self.alerts.extend(out)
        return out

    def tick(self, now: datetime) -> list[Alert]:
        out: list[Alert] = []
        for key in sorted(self.states):
            camera_id, rule_id = key
            rule = self.engine.rule(rule_id)
            state = self.state(*key)
            if rule is None or state is None or not self.engine.needs_tick(state):
                continue
            new, alerts = self.engine.tick(rule, camera_id, state, self.cameras.get(camera_id), now)
            self._store(key, new)
            out.extend(alerts)
        self.alerts.extend(out)
        return out

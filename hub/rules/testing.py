"""Builders of device events, camera records and health results for testing rules and routing.

Ids come from ``topics.identity``, so events built twice from the same arguments are the same
event, as a replayed device event would be. ``hub.harness.RuleHarness`` runs them through the
handlers the worker runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from topics.identity import camera_id as make_camera_id
from topics.identity import event_id as make_event_id
from topics.models import (
    AdminArea,
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
    SharingLevel,
    SiteType,
)


def camera(
    serial: str = "CAM-1",
    *,
    site_type: SiteType = SiteType.MARKET,
    kecamatan: str | None = "Semarang Tengah",
    kelurahan: str | None = "Sekayu",
    owner_kind: OwnerKind = OwnerKind.MUNICIPAL,
    sharing: SharingLevel = SharingLevel.LIVE,
    at: datetime,
) -> CameraRecord:
    """A registered camera; ``live`` unless told, as a city's own cameras usually are (a
    ``registry_only`` camera's events raise no alerts)."""
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
        sharing=sharing,
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

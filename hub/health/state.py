"""What the hub remembers about each camera's health, and the pure transitions on it.

One ``CameraHealth`` per camera lives in a changelog-backed table. Registry records and status
reports update it; a timer finds cameras silent for longer than the limit and opens a
``camera_offline`` alert; the next online report resolves that alert (the camera recovered).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict

from hub.rules.model import Scope
from topics.identity import alert_id
from topics.models import (
    Alert,
    AlertCategory,
    AlertStatus,
    CameraRecord,
    CameraState,
    CameraStatus,
    Location,
    OwnerKind,
    Severity,
    SiteType,
)


class CameraHealth(BaseModel):
    model_config = ConfigDict(extra="forbid")

    camera_id: str
    partition: int
    registered: bool = False
    revoked: bool = False
    name: str | None = None
    owner_id: str | None = None
    location: Location = Location()
    site_type: SiteType = SiteType.OTHER
    owner_kind: OwnerKind | None = None
    state: CameraState | None = None
    known_since: AwareDatetime | None = None
    last_seen: AwareDatetime | None = None
    offline_alert: Alert | None = None

    @property
    def kecamatan(self) -> str:
        return self.location.area.kecamatan or "(unknown)"

    @property
    def kelurahan(self) -> str:
        return self.location.area.kelurahan or "(unknown)"

    def is_online(self, now: datetime, offline_after_s: float) -> bool:
        return (
            self.state == CameraState.ONLINE
            and self.last_seen is not None
            and (now - self.last_seen).total_seconds() <= offline_after_s
        )


def on_registry(
    health: CameraHealth | None,
    camera_id: str,
    record: CameraRecord | None,
    partition: int,
    now: datetime,
) -> CameraHealth:
    """A registry record (or a tombstone: the camera left or its owner revoked it)."""
    current = health or CameraHealth(camera_id=camera_id, partition=partition)
    if record is None:
        return current.model_copy(update={"registered": False, "revoked": True})
    return current.model_copy(
        update={
            "registered": True,
            "revoked": False,
            "partition": partition,
            "name": record.name,
            "owner_id": record.owner.id,
            "owner_kind": record.owner.kind,
            "location": record.location,
            "site_type": record.site_type,
            "known_since": current.known_since or now,
        }
    )


def on_status(
    health: CameraHealth | None, status: CameraStatus, partition: int
) -> tuple[CameraHealth, list[Alert]]:
    """A health-check result: online refreshes last_seen and resolves an open offline alert."""
    current = health or CameraHealth(camera_id=status.camera_id, partition=partition)
    update: dict[str, object] = {"state": status.state}
    alerts: list[Alert] = []
    if status.state == CameraState.ONLINE:
        if current.last_seen is None or status.checked_at > current.last_seen:
            update["last_seen"] = status.checked_at
        if current.offline_alert is not None:
            alerts.append(_recovered(current.offline_alert, status.checked_at))
            update["offline_alert"] = None
    return current.model_copy(update=update), alerts


def silent_since(health: CameraHealth) -> datetime | None:
    return health.last_seen or health.known_since


def in_scope(health: CameraHealth, scope: Scope | None) -> bool:
    """Whether the offline rule's scope (site types, area, owner kinds) covers this camera."""
    if scope is None or not scope.needs_camera:
        return True
    if scope.site_types and health.site_type not in scope.site_types:
        return False
    if scope.owner_kinds and health.owner_kind not in scope.owner_kinds:
        return False
    return not scope.outside(health.location.area)


def offline_check_at(
    health: CameraHealth, offline_after_s: float, scope: Scope | None = None
) -> float | None:
    """Epoch seconds from which this camera can be offline-due; ``None``: not until it changes."""
    since = silent_since(health)
    if (
        not health.registered
        or health.revoked
        or health.offline_alert is not None
        or since is None
        or not in_scope(health, scope)
    ):
        return None
    return since.timestamp() + offline_after_s


def offline_due(
    health: CameraHealth, now: datetime, offline_after_s: float, scope: Scope | None = None
) -> bool:
    """Registered, still shared, in the rule's scope, silent too long and not yet alerted."""
    check_at = offline_check_at(health, offline_after_s, scope)
    return check_at is not None and now.timestamp() > check_at


def on_silence_check(
    health: CameraHealth,
    now: datetime,
    offline_after_s: float,
    rule_id: str,
    severity: Severity = Severity.WARNING,
    scope: Scope | None = None,
) -> tuple[CameraHealth, list[Alert]]:
    """The timer's verdict, re-checked where the state lives: open the offline alert if still due."""
    if not offline_due(health, now, offline_after_s, scope):
        return health, []
    since = silent_since(health)
    assert since is not None
    alert = Alert(
        alert_id=alert_id(camera_id=health.camera_id, rule_id=rule_id, opened_at=since),
        rule_id=rule_id,
        category=AlertCategory.CAMERA_OFFLINE,
        severity=severity,
        status=AlertStatus.OPENED,
        sequence=0,
        camera_id=health.camera_id,
        camera_name=health.name,
        owner_id=health.owner_id,
        location=health.location,
        site_type=health.site_type,
        title=f"Camera offline: {health.name or health.camera_id}",
        summary=f"no sign of life for more than {offline_after_s:g} s (last seen {since.isoformat()})",
        measurement=round((now - since).total_seconds(), 3),
        threshold=offline_after_s,
        opened_at=now,
        updated_at=now,
    )
    return health.model_copy(update={"offline_alert": alert, "state": CameraState.OFFLINE}), [alert]


def _recovered(opened: Alert, at: datetime) -> Alert:
    at = max(at, opened.opened_at)
    return opened.model_copy(
        update={
            "status": AlertStatus.RESOLVED,
            "sequence": opened.sequence + 1,
            "title": f"Camera recovered: {opened.camera_name or opened.camera_id}",
            "summary": "camera_recovered: the camera reports online again",
            "updated_at": at,
            "resolved_at": at,
        }
    )

"""Every camera of the registry where it is, with its latest health, served from memory: the
public catalog (GeoJSON), the command-center map and each tenant's own cameras are views of it.

Built from the registry (compacted) and recent health checks. Only where a camera is and what it
is are kept (``PlacedCamera``), never its address, stream URIs, contact or credential reference;
a private owner's (a tenant's) cameras are also kept whole, for that tenant alone (``owned_by``).
A public feature carries what a citizen needs to find and watch a camera and nothing of its owner
or device. The viewing URL comes from the configured stream gateway, never from the device. The
rendered catalog is cached with its ETag until a public camera (or its state) changes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.lifecycle import Lifecycle
from core.settings import Settings
from topics.catalog import CAMERA_REGISTRY, CAMERA_STATUS
from topics.follow import FollowedTopic
from topics.models import CameraRecord, CameraStatus, OwnerKind, SharingLevel, utcnow
from topics.reader import Received

# Health older than this is not read at start: a camera without a recent check is `unknown`.
STATUS_LOOKBACK = timedelta(minutes=30)
STREAM_PLACEHOLDER = "{camera_id}"
#: the state of a camera without a recent health check
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Rendered:
    body: bytes
    etag: str


@dataclass(frozen=True)
class PlacedCamera:
    """What the views need of a registry record: what the camera is, where, whose, how shared."""

    camera_id: str
    name: str
    site_type: str
    kecamatan: str | None
    kelurahan: str | None
    #: (lat, lon), when the record has coordinates
    point: tuple[float, float] | None
    owner_id: str
    sharing: SharingLevel

    @classmethod
    def of(cls, record: CameraRecord) -> PlacedCamera:
        point = record.location.point
        area = record.location.area
        return cls(
            camera_id=record.camera_id,
            name=record.name,
            site_type=record.site_type.value,
            kecamatan=area.kecamatan,
            kelurahan=area.kelurahan,
            point=(point.lat, point.lon) if point is not None else None,
            owner_id=record.owner.id,
            sharing=record.sharing,
        )

    @property
    def public(self) -> bool:
        return self.sharing is SharingLevel.PUBLIC


def view_url(template: str | None, camera_id: str) -> str | None:
    """The stream gateway's URL of a camera (``{camera_id}`` in the template is replaced)."""
    return template.replace(STREAM_PLACEHOLDER, camera_id) if template else None


def feature(camera: PlacedCamera, state: str, template: str | None) -> dict[str, Any]:
    """One public camera as a GeoJSON feature: only what a citizen may see."""
    return {
        "type": "Feature",
        "id": camera.camera_id,
        "geometry": (
            {"type": "Point", "coordinates": [camera.point[1], camera.point[0]]}
            if camera.point is not None
            else None
        ),
        "properties": {
            "camera_id": camera.camera_id,
            "name": camera.name,
            "site_type": camera.site_type,
            "kecamatan": camera.kecamatan,
            "kelurahan": camera.kelurahan,
            "status": state,
            "view_url": view_url(template, camera.camera_id),
        },
    }


class Cameras(Lifecycle):
    """Every registered camera and its latest health; the public catalog rendered on demand and
    cached; every private owner's cameras (``owned_by``)."""

    def __init__(
        self, *, stream_url_template: str | None, settings: Settings | None = None
    ) -> None:
        self._template = stream_url_template
        self._settings = settings
        self._cameras: dict[str, PlacedCamera] = {}
        self._states: dict[str, CameraStatus] = {}
        #: private owner (tenant) -> its cameras in the registry
        self._owned: dict[str, dict[str, CameraRecord]] = {}
        #: camera id -> its private owner, for a tombstone (which names no owner)
        self._owner_of: dict[str, str] = {}
        #: changes of the public catalog (its cache is good while this stands)
        self._version = 0
        self._rendered: tuple[int, Rendered] | None = None
        self._registry = FollowedTopic(
            CAMERA_REGISTRY, self._fold_record, component="api.registry", settings=settings
        )
        self._status: FollowedTopic | None = None

    async def start(self) -> None:
        self._status = FollowedTopic(
            CAMERA_STATUS,
            self._fold_status,
            component="api.status",
            settings=self._settings,
            start=utcnow() - STATUS_LOOKBACK,
        )
        await self._registry.start()
        await self._status.start()
        await self._registry.ready.wait()
        await self._status.ready.wait()

    async def stop(self) -> None:
        if self._status is not None:
            await self._status.stop()
        await self._registry.stop()

    def _fold_record(self, received: Received) -> None:
        assert received.key is not None
        record = received.value_as(CameraRecord) if received.value is not None else None
        self._index_owner(received.key, record)
        known = self._cameras.pop(received.key, None)
        if record is not None:
            self._cameras[received.key] = PlacedCamera.of(record)
        if (known is not None and known.public) or (
            record is not None and record.sharing is SharingLevel.PUBLIC
        ):
            # Revoked, removed, no longer public or changed: the catalog is rendered anew.
            self._version += 1

    def _index_owner(self, camera_id: str, record: CameraRecord | None) -> None:
        known = self._owner_of.pop(camera_id, None)
        if known is not None:
            self._owned.get(known, {}).pop(camera_id, None)
        if record is not None and record.owner.kind is OwnerKind.PRIVATE:
            self._owner_of[camera_id] = record.owner.id
            self._owned.setdefault(record.owner.id, {})[camera_id] = record

    def owned_by(self, tenant: str) -> dict[str, CameraRecord]:
        """The tenant's cameras in the registry, by camera id (another owner's are not here)."""
        return self._owned.get(tenant, {})

    def _fold_status(self, received: Received) -> None:
        status = received.value_as(CameraStatus)
        known = self._states.get(status.camera_id)
        if known is None or status.checked_at >= known.checked_at:
            self._states[status.camera_id] = status
            camera = self._cameras.get(status.camera_id)
            if (
                camera is not None
                and camera.public
                and (known is None or known.state != status.state)
            ):
                self._version += 1

    def state(self, camera_id: str) -> str:
        """``online``, ``offline``, ``unauthorized``, ``degraded``, or ``unknown`` without a
        recent check."""
        status = self._states.get(camera_id)
        return status.state.value if status is not None else UNKNOWN

    def checked_at(self, camera_id: str) -> datetime | None:
        """When the camera's health was last checked (its last sign of life), if known."""
        status = self._states.get(camera_id)
        return status.checked_at if status is not None else None

    def placed(self, *, public_only: bool) -> Iterator[tuple[PlacedCamera, str]]:
        """Every camera (or every public one) with its state, by camera id."""
        for camera_id, camera in sorted(self._cameras.items()):
            if camera.public or not public_only:
                yield camera, self.state(camera_id)

    def is_public(self, camera_id: str) -> bool:
        camera = self._cameras.get(camera_id)
        return camera is not None and camera.public

    def render(self) -> Rendered:
        """The FeatureCollection, rendered again only after a change."""
        if self._rendered is not None and self._rendered[0] == self._version:
            return self._rendered[1]
        version = self._version
        features = [
            feature(camera, state, self._template)
            for camera, state in self.placed(public_only=True)
        ]
        body = json.dumps(
            {"type": "FeatureCollection", "features": features}, separators=(",", ":")
        ).encode("utf-8")
        rendered = Rendered(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
        self._rendered = (version, rendered)
        return rendered

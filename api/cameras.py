"""The registry as the API serves it, from memory: the public camera catalog (the cameras their
owners share publicly, as GeoJSON) and each tenant's own cameras.

Built from the registry (compacted) and recent health checks. A feature carries what a citizen
needs to find and watch a camera, and nothing of its owner or device: never its address, stream
URIs, owner, contact or credential reference. The viewing URL comes from the configured stream
gateway, never from the device. The rendered document is cached with its ETag until a public
camera (or its state) changes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
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


@dataclass(frozen=True)
class Rendered:
    body: bytes
    etag: str


def view_url(template: str | None, camera_id: str) -> str | None:
    """The stream gateway's URL of a camera (``{camera_id}`` in the template is replaced)."""
    return template.replace(STREAM_PLACEHOLDER, camera_id) if template else None


def feature(record: CameraRecord, state: str, template: str | None) -> dict[str, Any]:
    """One public camera as a GeoJSON feature: only what a citizen may see."""
    point = record.location.point
    area = record.location.area
    return {
        "type": "Feature",
        "id": record.camera_id,
        "geometry": (
            {"type": "Point", "coordinates": [point.lon, point.lat]} if point is not None else None
        ),
        "properties": {
            "camera_id": record.camera_id,
            "name": record.name,
            "site_type": record.site_type.value,
            "kecamatan": area.kecamatan,
            "kelurahan": area.kelurahan,
            "status": state,
            "view_url": view_url(template, record.camera_id),
        },
    }


class PublicCameras(Lifecycle):
    """The registry's public cameras and their latest health, rendered on demand and cached; and
    every private owner's cameras (``owned_by``)."""

    def __init__(
        self, *, stream_url_template: str | None, settings: Settings | None = None
    ) -> None:
        self._template = stream_url_template
        self._settings = settings
        self._public: dict[str, CameraRecord] = {}
        self._states: dict[str, CameraStatus] = {}
        #: private owner (tenant) -> its cameras in the registry
        self._owned: dict[str, dict[str, CameraRecord]] = {}
        #: camera id -> its private owner, for a tombstone (which names no owner)
        self._owner_of: dict[str, str] = {}
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
        if record is not None and record.sharing is SharingLevel.PUBLIC:
            self._public[received.key] = record
            self._version += 1
        elif self._public.pop(received.key, None) is not None:
            # Revoked, removed or no longer public: gone from the catalog.
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

    def state_of(self, camera_id: str) -> str:
        """The camera's latest health (``unknown`` without a recent check)."""
        status = self._states.get(camera_id)
        return status.state.value if status is not None else "unknown"

    def _fold_status(self, received: Received) -> None:
        status = received.value_as(CameraStatus)
        known = self._states.get(status.camera_id)
        if known is None or status.checked_at >= known.checked_at:
            self._states[status.camera_id] = status
            if status.camera_id in self._public and (known is None or known.state != status.state):
                self._version += 1

    def render(self) -> Rendered:
        """The FeatureCollection, rendered again only after a change."""
        if self._rendered is not None and self._rendered[0] == self._version:
            return self._rendered[1]
        version = self._version
        features = [
            feature(record, self.state_of(camera_id), self._template)
            for camera_id, record in sorted(self._public.items())
        ]
        body = json.dumps(
            {"type": "FeatureCollection", "features": features}, separators=(",", ":")
        ).encode("utf-8")
        rendered = Rendered(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
        self._rendered = (version, rendered)
        return rendered

"""Every worker's view of the whole camera registry, kept current from the compacted registry topic
(``hub.followed_view``). A tombstone for a known camera marks it revoked."""

from __future__ import annotations

from core.settings import Settings
from hub.followed_view import FollowedView
from topics.catalog import CAMERA_REGISTRY
from topics.models import CameraRecord
from topics.reader import Received


class RegistryView(FollowedView):
    """camera_id -> CameraRecord for the whole city, and the ids whose owners revoked them."""

    def __init__(self, bootstrap: str, *, settings: Settings | None = None) -> None:
        super().__init__(
            CAMERA_REGISTRY, bootstrap, component="hub.registry-view", settings=settings
        )
        self.cameras: dict[str, CameraRecord] = {}
        self.revoked: set[str] = set()

    def get(self, camera_id: str) -> CameraRecord | None:
        return self.cameras.get(camera_id)

    def is_revoked(self, camera_id: str) -> bool:
        return camera_id in self.revoked

    def size(self) -> int:
        return len(self.cameras)

    def apply(self, camera_id: str, record: CameraRecord | None) -> None:
        if record is None:
            if camera_id in self.cameras:
                self.revoked.add(camera_id)
            self.cameras.pop(camera_id, None)
        else:
            self.cameras[camera_id] = record
            self.revoked.discard(camera_id)

    def apply_received(self, received: Received) -> None:
        # An invalid record is the health agent's to dead-letter (once); the view skips it.
        if received.error is not None:
            return
        if isinstance(received.value, CameraRecord):
            self.apply(received.value.camera_id, received.value)
        elif received.value is None and received.key:
            self.apply(received.key, None)

"""Every worker's view of the whole camera registry, kept current from the compacted registry topic.

The registry topic is its own changelog: the view follows every partition from the start with a
``TopicReader`` (no consumer group), so each worker can join any event with its camera whatever
partitions it owns, and a restarted worker rebuilds the view from the topic. A tombstone for a
known camera marks it revoked.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from core.settings import Settings
from topics.catalog import CAMERA_REGISTRY
from topics.models import CameraRecord
from topics.reader import Received, TopicReader

log = structlog.get_logger(__name__)


class RegistryView:
    """camera_id -> CameraRecord for the whole city, and the ids whose owners revoked them."""

    def __init__(self, bootstrap: str, *, settings: Settings | None = None) -> None:
        self._reader = TopicReader(
            CAMERA_REGISTRY, component="hub.registry-view", bootstrap=bootstrap, settings=settings
        )
        self.cameras: dict[str, CameraRecord] = {}
        self.revoked: set[str] = set()
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def get(self, camera_id: str) -> CameraRecord | None:
        return self.cameras.get(camera_id)

    def is_revoked(self, camera_id: str) -> bool:
        return camera_id in self.revoked

    def apply(self, camera_id: str, record: CameraRecord | None) -> None:
        if record is None:
            if camera_id in self.cameras:
                self.revoked.add(camera_id)
            self.cameras.pop(camera_id, None)
        else:
            self.cameras[camera_id] = record
            self.revoked.discard(camera_id)

    async def start(self) -> None:
        await self._reader.start()
        self._task = following = asyncio.create_task(self._follow())
        caught_up = asyncio.ensure_future(self._reader.caught_up.wait())
        await asyncio.wait({following, caught_up}, return_when=asyncio.FIRST_COMPLETED)
        if following.done():
            caught_up.cancel()
            following.result()  # the reader failed: say why
        log.info("registry view loaded", cameras=len(self.cameras))
        self.ready.set()

    async def _follow(self) -> None:
        async for received in self._reader.follow():
            self.apply_received(received)

    def apply_received(self, received: Received) -> None:
        # An invalid record is the health agent's to dead-letter (once); the view skips it.
        if received.error is not None:
            return
        if isinstance(received.value, CameraRecord):
            self.apply(received.value.camera_id, received.value)
        elif received.value is None and received.key:
            self.apply(received.key, None)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._reader.stop()

"""Every worker's view of the whole camera registry, kept current from the compacted registry topic.

The registry topic is its own changelog: the view reads every partition from the start (no consumer
group), so each worker can join any event with its camera whatever partitions it owns, and a
restarted worker rebuilds the view from the topic. A tombstone for a known camera marks it revoked.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from core.settings import Settings
from topics import codec
from topics.catalog import CAMERA_REGISTRY
from topics.connection import connection_config
from topics.models import CameraRecord

log = structlog.get_logger(__name__)

RegistryListener = Callable[[str, CameraRecord | None], None]


class RegistryView:
    """camera_id -> CameraRecord for the whole city, and the ids whose owners revoked them."""

    def __init__(self, bootstrap: str, *, settings: Settings | None = None) -> None:
        self._bootstrap = bootstrap
        self._settings = settings
        self.cameras: dict[str, CameraRecord] = {}
        self.revoked: set[str] = set()
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

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
        consumer = AIOKafkaConsumer(
            **connection_config(self._bootstrap, settings=self._settings),
            group_id=None,
            enable_auto_commit=False,
            client_id="tilik-hub-registry-view",
            max_partition_fetch_bytes=2 * codec.MAX_MESSAGE_BYTES,
        )
        await consumer.start()
        self._consumer = consumer
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(CAMERA_REGISTRY.name) or set()
        tps = [TopicPartition(CAMERA_REGISTRY.name, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps) if tps else {}
        self._task = asyncio.create_task(self._follow(consumer, end))

    async def _follow(self, consumer: AIOKafkaConsumer, end: dict[TopicPartition, int]) -> None:
        behind = {tp for tp, offset in end.items() if offset > 0}
        if not behind:
            self.ready.set()
        while True:
            batches = await consumer.getmany(timeout_ms=500)
            for tp, records in batches.items():
                for record in records:
                    self._apply_record(record.key, record.value, list(record.headers or ()))
                    if tp in behind and record.offset + 1 >= end[tp]:
                        behind.discard(tp)
            if behind:
                for tp in list(behind):
                    if await consumer.position(tp) >= end[tp]:
                        behind.discard(tp)
            if not behind and not self.ready.is_set():
                log.info("registry view loaded", cameras=len(self.cameras))
                self.ready.set()

    def _apply_record(self, key: bytes | None, value: bytes | None, headers: codec.Headers) -> None:
        try:
            record = codec.decode(CAMERA_REGISTRY, value, headers)
        except codec.InvalidMessage:
            # The registry's own consumers (the health agent) dead-letter invalid records once.
            return
        camera_id = key.decode("utf-8", "replace") if key else None
        if isinstance(record, CameraRecord):
            self.apply(record.camera_id, record)
        elif camera_id:
            self.apply(camera_id, None)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

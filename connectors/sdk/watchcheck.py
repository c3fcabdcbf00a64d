"""Whether a camera onboarding just published is watched where it will run: asked of the runtime.

A credential reference names a secret in *some* process's environment or secrets directory. The
process that onboards resolves it (it has to, to reach the device), but the cameras are watched by
``tilik connectors run`` somewhere else, with its own environment. So the watching runtime is
where a reference is checked: when it takes a registry record it resolves the reference, and it
says what came of it on ``tilik.cameras.watch.v1`` (``WatchReport``, per record version:
``watching``, ``credentials_unresolved``, ``refused``, ``invalid_config``).

Onboarding asks in two steps:

1. Is a runtime of the connector running at all? Its consumer group (``tilik-connector-<name>``
   unless the runtimes were given another) is described; a group without members means nobody
   will answer, and onboarding says so at once instead of waiting.
2. Otherwise it reads the watch topic from where it ended before publishing, until every camera
   it published has a report about the version it published, or ``verify_s`` has passed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import Self

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from kafka.errors import GroupIdNotFoundError
from kafka.errors import KafkaError as AdminKafkaError

from topics import codec
from topics.admin import AdminError, admin_client
from topics.catalog import CAMERA_WATCH
from topics.client import CatalogProducer
from topics.connection import connection_config
from topics.faults import RecordFaults
from topics.models import WatchReport

log = structlog.get_logger(__name__)


def watch_group(connector: str) -> str:
    """The consumer group a connector's runtimes share unless told otherwise."""
    return f"tilik-connector-{connector}"


#: how long to retry describing the group while the broker's coordinator is not ready yet
DESCRIBE_RETRY_S = 10.0


def _members(bootstrap: str | None, group: str) -> int | None:
    deadline = time.monotonic() + DESCRIBE_RETRY_S
    while True:
        try:
            with admin_client(bootstrap) as client:
                described = client.describe_groups([group])
            break
        except AdminKafkaError as exc:
            # A fresh cluster has no group coordinator for a moment: that is worth waiting for.
            if not getattr(exc, "retriable", False) or time.monotonic() > deadline:
                log.warning("cannot tell whether a runtime is running", group=group, error=str(exc))
                return None
            time.sleep(0.2)
        except AdminError as exc:
            log.warning("cannot tell whether a runtime is running", group=group, error=str(exc))
            return None
    info = described.get(group) or {}
    error = info.get("error")
    if error and GroupIdNotFoundError.__name__ in error:
        return 0  # no runtime ever joined it
    if error:
        log.warning("cannot tell whether a runtime is running", group=group, error=error)
        return None
    return len(info.get("members") or [])


async def runtime_members(bootstrap: str | None, group: str) -> int | None:
    """How many runtimes are in ``group`` now (None: the broker would not say)."""
    return await asyncio.to_thread(_members, bootstrap, group)


class WatchReports:
    """The watch topic from the point it reached when opened, for reports about given records."""

    def __init__(self, bootstrap: str | None, *, component: str, producer: CatalogProducer) -> None:
        self._options = connection_config(bootstrap)
        self._consumer = AIOKafkaConsumer(
            **self._options,
            group_id=None,
            enable_auto_commit=False,
            client_id=f"tilik-{component}-watch",
            max_partition_fetch_bytes=2 * codec.MAX_MESSAGE_BYTES,
        )
        self._faults = RecordFaults(component, producer.dead_letter)
        #: camera id -> the latest report read
        self.reports: dict[str, WatchReport] = {}

    async def __aenter__(self) -> Self:
        await self._consumer.start()
        tps = [TopicPartition(CAMERA_WATCH.name, p) for p in range(CAMERA_WATCH.partitions)]
        self._consumer.assign(tps)
        for tp, offset in (await self._consumer.end_offsets(tps)).items():
            self._consumer.seek(tp, offset)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._consumer.stop()

    async def wait_for(
        self, published: Mapping[str, datetime], timeout_s: float
    ) -> dict[str, WatchReport]:
        """Reports about the published versions (camera id -> ``updated_at``), as many as arrive
        within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s

        def answered() -> dict[str, WatchReport]:
            return {
                camera: report
                for camera, version in published.items()
                if (report := self.reports.get(camera)) is not None
                and report.record_updated_at == version
            }

        while len(answered()) < len(published):
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                break
            batches = await self._consumer.getmany(timeout_ms=min(left_ms, 500))
            for records in batches.values():
                for record in records:
                    await self._take(record)
        return answered()

    async def _take(self, record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            value = codec.decode(CAMERA_WATCH, record.value, list(record.headers or ()))
        except codec.InvalidMessage as exc:
            await self._faults.refuse(record, exc.reason)
            return
        if isinstance(value, WatchReport):
            self.reports[value.camera_id] = value

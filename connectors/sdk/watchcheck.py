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
import contextlib
import time
from collections.abc import Mapping
from datetime import datetime

import structlog
from kafka.errors import GroupIdNotFoundError
from kafka.errors import KafkaError as AdminKafkaError

from core.lifecycle import Lifecycle
from topics.admin import AdminError, admin_client
from topics.catalog import CAMERA_WATCH
from topics.client import CatalogProducer
from topics.faults import RecordFaults
from topics.models import WatchReport
from topics.reader import TopicReader

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


class WatchReports(Lifecycle):
    """The watch topic from the point it reached when opened, for reports about given records."""

    def __init__(self, bootstrap: str | None, *, component: str, producer: CatalogProducer) -> None:
        self._reader = TopicReader(
            CAMERA_WATCH,
            component=component,
            start="end",
            faults=RecordFaults(component, producer.dead_letter),
            bootstrap=bootstrap,
        )
        #: camera id -> the latest report read
        self.reports: dict[str, WatchReport] = {}

    async def start(self) -> None:
        await self._reader.start()

    async def stop(self) -> None:
        await self._reader.stop()

    async def wait_for(
        self, published: Mapping[str, datetime], timeout_s: float
    ) -> dict[str, WatchReport]:
        """Reports about the published versions (camera id -> ``updated_at``), as many as arrive
        within ``timeout_s``. Reading stops at the timeout: one wait per opening."""

        def answered() -> dict[str, WatchReport]:
            return {
                camera: report
                for camera, version in published.items()
                if (report := self.reports.get(camera)) is not None
                and report.record_updated_at == version
            }

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                async for received in self._reader.follow():
                    if isinstance(received.value, WatchReport):
                        self.reports[received.value.camera_id] = received.value
                    if len(answered()) == len(published):
                        break
        return answered()

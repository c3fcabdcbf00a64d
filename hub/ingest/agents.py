"""Ingest agents: each tenant's cameras, statuses and events republished into the shared topics.

One agent per kind reads that kind's topic of every tenant the worker found when it started
(``tilik.tenant.<tenant>.{cameras.v2,status.v1,events.v2}``; a tenant added later is ingested
once the workers restart). What one record becomes is ``hub.ingest.stamping``: the tenant comes
from the record's topic, never from its payload. A refused record is dead-lettered
(``invalid_message``, with its topic, partition and offset) and audited (``ingest_refused``, with
how many of the tenant's records this worker has refused); an event its camera's sharing
withholds is counted and dropped.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import faust
import structlog
from pydantic import BaseModel

from hub.edge import Edges
from hub.gaps import GapGuard, guarded
from hub.ingest.stamping import (
    Refused,
    Withheld,
    shared_camera,
    shared_event,
    shared_revocation,
    shared_status,
)
from hub.isolation import RecordIsolation, message_headers
from hub.registry_view import RegistryView
from topics import codec
from topics.catalog import (
    AUDIT,
    CAMERA_REGISTRY,
    CAMERA_STATUS,
    DEVICE_EVENTS,
    get_spec,
    tenant_of_topic,
    tenant_topics,
)
from topics.faults import RecordFaults
from topics.identity import tenant_scoped
from topics.models import AuditRecord, CameraRecord, CameraStatus, DeviceEvent, utcnow

log = structlog.get_logger(__name__)
COMPONENT = "hub.ingest"
#: how long the first event of an unknown camera waits for the camera to reach the registry view
#: (the site sends the camera first, but the two arrive through different agents); later events
#: of a camera that never came are refused at once, so a site cannot hold the agent up
CAMERA_WAIT_S = 3.0
CAMERA_POLL_S = 0.05


@dataclass(frozen=True)
class TenantRecord:
    """One record of a tenant's ingest topic: whose it is (by its topic) and what it says."""

    tenant: str
    message: Any
    key: str | None
    value: BaseModel | None


def tenant_record(message: Any) -> TenantRecord:
    """Decoder: the record's tenant from its topic, its payload as the topic declares."""
    tenant = tenant_of_topic(message.topic)
    if tenant is None:
        raise codec.InvalidMessage(f"{message.topic} is no tenant's ingest topic")
    value = codec.decode(get_spec(message.topic), message.value, message_headers(message))
    try:
        key = message.key.decode("utf-8") if message.key is not None else None
    except UnicodeDecodeError:
        raise codec.InvalidMessage("record key is not UTF-8 text") from None
    return TenantRecord(tenant, message, key, value)


class Ingest:
    """The ingest domain of one worker: three agents over every known tenant's ingest topics."""

    def __init__(
        self,
        app: faust.App,
        edges: Edges,
        registry: RegistryView,
        gaps: GapGuard,
        tenants: Sequence[str],
    ) -> None:
        self.edges = edges
        self.registry = registry
        self.gaps = gaps
        self.tenants = sorted(tenants)
        self.isolation = RecordIsolation(edges, COMPONENT)
        self.faults = RecordFaults(COMPONENT, edges.dead_letter)
        #: tenant -> records refused / events withheld by sharing, since this worker started
        self.refused: Counter[str] = Counter()
        self.withheld: Counter[str] = Counter()
        self._waited: set[str] = set()
        topics = [tenant_topics(tenant) for tenant in self.tenants]
        self.cameras_agent = app.agent(
            edges.topics([t.cameras for t in topics]), name="hub.ingest.cameras"
        )(self.ingest_cameras)
        self.status_agent = app.agent(
            edges.topics([t.status for t in topics]), name="hub.ingest.status"
        )(self.ingest_statuses)
        self.events_agent = app.agent(
            edges.topics([t.events for t in topics]), name="hub.ingest.events"
        )(self.ingest_events)

    # --- agents ---------------------------------------------------------------------------

    async def ingest_cameras(self, stream: Any) -> None:
        """Agent: tenants' cameras (compacted: offsets have holes, no gap guard)."""
        async for event in stream.events():
            await self.isolation.handle(event, tenant_record, self.on_camera)

    async def ingest_statuses(self, stream: Any) -> None:
        async for event in guarded(stream.events(), self.gaps):
            await self.isolation.handle(event, tenant_record, self.on_status)

    async def ingest_events(self, stream: Any) -> None:
        # Sharing is the registry's word: wait until the view has the whole registry.
        await self.registry.ready.wait()
        async for event in guarded(stream.events(), self.gaps):
            await self.isolation.handle(event, tenant_record, self.on_event)

    # --- one record -----------------------------------------------------------------------

    async def on_camera(self, record: TenantRecord) -> None:
        if record.value is None:
            revoked = shared_revocation(record.tenant, record.key)
            if isinstance(revoked, Refused):
                await self.refuse(record, revoked)
                return
            await self.edges.tombstone(CAMERA_REGISTRY, revoked)
            return
        assert isinstance(record.value, CameraRecord)
        shared = shared_camera(record.tenant, record.value)
        if isinstance(shared, Refused):
            await self.refuse(record, shared)
            return
        await self.edges.publish(CAMERA_REGISTRY, shared)

    async def on_status(self, record: TenantRecord) -> None:
        assert isinstance(record.value, CameraStatus)
        await self.edges.publish(CAMERA_STATUS, shared_status(record.tenant, record.value))

    async def on_event(self, record: TenantRecord) -> None:
        assert isinstance(record.value, DeviceEvent)
        camera = await self.registered(tenant_scoped(record.tenant, record.value.camera_id))
        shared = shared_event(record.tenant, record.value, camera)
        if isinstance(shared, Refused):
            await self.refuse(record, shared)
        elif isinstance(shared, Withheld):
            self.withheld[record.tenant] += 1
        else:
            await self.edges.publish(DEVICE_EVENTS, shared)

    async def registered(self, camera_id: str) -> CameraRecord | None:
        """The camera's registry record, waiting a moment for one that is on its way."""
        if camera_id in self._waited:
            return self.registry.get(camera_id)
        self._waited.add(camera_id)
        deadline = time.monotonic() + CAMERA_WAIT_S
        while (camera := self.registry.get(camera_id)) is None and time.monotonic() < deadline:
            if self.registry.is_revoked(camera_id):
                return None
            await asyncio.sleep(CAMERA_POLL_S)
        return camera

    async def refuse(self, record: TenantRecord, refused: Refused) -> None:
        """Dead-lettered with the reason, and audited with the tenant's count of refusals."""
        self.refused[record.tenant] += 1
        message = record.message
        await self.faults.refuse(message, refused.reason)
        await self.edges.publish(
            AUDIT,
            AuditRecord(
                audit_id=f"aud-{uuid.uuid4().hex[:24]}",
                at=utcnow(),
                actor=COMPONENT,
                action="ingest_refused",
                subject=f"tenant:{record.tenant}",
                details={
                    "topic": message.topic,
                    "partition": str(message.partition),
                    "offset": str(message.offset),
                    "reason": refused.reason[:4096],
                    "refused_by_this_worker": str(self.refused[record.tenant]),
                },
            ),
        )
        log.warning(
            "tenant record refused",
            tenant=record.tenant,
            topic=message.topic,
            reason=refused.reason,
        )

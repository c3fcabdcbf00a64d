"""Ingest agents: each tenant's cameras, statuses and events republished into the shared topics.

One agent per kind reads that kind's topic of every tenant the worker knows
(``tilik.tenant.<tenant>.{cameras.v2,status.v1,events.v2}``): those found when it started, and
those a periodic check finds later (``hub.ingest.discovery``), which join the running agents. What one record becomes is ``hub.ingest.stamping``: the tenant comes
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import faust
import structlog
from pydantic import BaseModel

from hub.edge import Edges, GrowingTopic
from hub.gaps import GapGuard
from hub.ingest.choices import ChoicesView, Choosing
from hub.ingest.discovery import RESUBSCRIBE_WAIT_S, widen
from hub.ingest.stamping import (
    Refused,
    Withheld,
    shared_event,
    shared_revocation,
    shared_status,
    stamped_camera,
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
#: how often a worker looks for tenants added since it started, by default
TENANT_CHECK_EVERY_S = 30.0

#: the tenants whose ingest topics the hub may read now (blocking: run in a thread)
FindTenants = Callable[[], Sequence[str]]


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
    """The ingest domain of one worker: three agents over every known tenant's ingest topics, and
    one applying tenants' choices (``hub.ingest.choices``)."""

    def __init__(
        self,
        app: faust.App,
        edges: Edges,
        registry: RegistryView,
        choices: ChoicesView,
        gaps: GapGuard,
        tenants: Sequence[str],
        *,
        find_tenants: FindTenants | None = None,
        check_every_s: float = TENANT_CHECK_EVERY_S,
    ) -> None:
        self.app = app
        self.edges = edges
        self.registry = registry
        self.gaps = gaps
        self.tenants = sorted(tenants)
        self.choices = choices
        self.choosing = Choosing(app, edges, registry, choices, gaps)
        self.isolation = RecordIsolation(edges, COMPONENT)
        self.faults = RecordFaults(COMPONENT, edges.dead_letter)
        #: tenant -> records refused / events withheld by sharing, since this worker started
        self.refused: Counter[str] = Counter()
        self.withheld: Counter[str] = Counter()
        self._waited: set[str] = set()
        topics = [tenant_topics(tenant) for tenant in self.tenants]
        #: each agent's channel, by the kind of ingest topic it reads
        self.channels: dict[str, GrowingTopic] = {
            "cameras": edges.growing_topics([t.cameras for t in topics]),
            "status": edges.growing_topics([t.status for t in topics]),
            "events": edges.growing_topics([t.events for t in topics]),
        }
        self.cameras_agent = app.agent(self.channels["cameras"], name="hub.ingest.cameras")(
            self.ingest_cameras
        )
        self.status_agent = app.agent(self.channels["status"], name="hub.ingest.status")(
            self.ingest_statuses
        )
        self.events_agent = app.agent(self.channels["events"], name="hub.ingest.events")(
            self.ingest_events
        )
        gaps.cover(self.channels["cameras"], self.on_camera_event)
        gaps.cover(self.channels["status"], self.on_status_event)
        gaps.cover(self.channels["events"], self.on_event_event)
        self._find_tenants = find_tenants
        if find_tenants is not None:
            app.timer(check_every_s, name="hub.ingest.tenant-check")(self.check_tenants)

    # --- tenants added while the worker runs -----------------------------------------------

    async def check_tenants(self) -> None:
        """Timer: tenants found since the last check join the running agents."""
        assert self._find_tenants is not None
        try:
            found = await asyncio.to_thread(self._find_tenants)
        except Exception as exc:  # noqa: BLE001 - the next check tries again
            log.warning("tenant check failed", error_type=type(exc).__name__, error=str(exc))
            return
        self.add_tenants(found)

    def add_tenants(self, tenants: Sequence[str]) -> list[str]:
        """Subscribe the running agents to these tenants' ingest topics; the tenants new here."""
        new = sorted(set(tenants) - set(self.tenants))
        if not new:
            return []
        topics = [tenant_topics(tenant) for tenant in new]
        widen(self.app, self.channels["cameras"], [t.cameras.name for t in topics])
        widen(self.app, self.channels["status"], [t.status.name for t in topics])
        widen(self.app, self.channels["events"], [t.events.name for t in topics])
        self.gaps.cover([t.cameras.name for t in topics], self.on_camera_event)
        self.gaps.cover([t.status.name for t in topics], self.on_status_event)
        self.gaps.cover([t.events.name for t in topics], self.on_event_event)
        self.tenants = sorted({*self.tenants, *new})
        log.info(
            "tenants added to ingest: read after the next rebalance",
            tenants=new,
            resubscribe_in_s=RESUBSCRIBE_WAIT_S,
        )
        return new

    # --- agents ---------------------------------------------------------------------------

    async def ingest_cameras(self, stream: Any) -> None:
        """Agent: tenants' cameras (compacted; the guard reads past compacted-away offsets)."""
        # A camera's tenant decides what the registry shows of it: wait for every choice.
        await self.choices.ready.wait()
        async for event in self.gaps.events(stream.events()):
            await self.on_camera_event(event)

    async def ingest_statuses(self, stream: Any) -> None:
        async for event in self.gaps.events(stream.events()):
            await self.on_status_event(event)

    async def ingest_events(self, stream: Any) -> None:
        # Sharing is the registry's word, and the tenant's latest choice where the registry does
        # not show it yet: wait until both views are whole.
        await self.registry.ready.wait()
        await self.choices.ready.wait()
        async for event in self.gaps.events(stream.events()):
            await self.on_event_event(event)

    async def on_camera_event(self, event: Any) -> None:
        await self.choices.ready.wait()
        await self.isolation.handle(event, tenant_record, self.on_camera)

    async def on_status_event(self, event: Any) -> None:
        await self.isolation.handle(event, tenant_record, self.on_status)

    async def on_event_event(self, event: Any) -> None:
        await self.registry.ready.wait()
        await self.choices.ready.wait()
        await self.isolation.handle(event, tenant_record, self.on_event)

    # --- one record -----------------------------------------------------------------------

    async def on_camera(self, record: TenantRecord) -> None:
        if record.value is None:
            revoked = shared_revocation(record.tenant, record.key)
            if isinstance(revoked, Refused):
                await self.refuse(record, revoked)
                return
            self.choosing.sent.pop(revoked, None)
            await self.edges.tombstone(CAMERA_REGISTRY, revoked)
            return
        assert isinstance(record.value, CameraRecord)
        stamped = stamped_camera(record.tenant, record.value)
        if isinstance(stamped, Refused):
            await self.refuse(record, stamped)
            return
        shared = self.choosing.as_chosen(stamped)
        if shared is not None:  # None: its tenant revoked it
            await self.edges.publish(CAMERA_REGISTRY, shared)

    async def on_status(self, record: TenantRecord) -> None:
        assert isinstance(record.value, CameraStatus)
        await self.edges.publish(CAMERA_STATUS, shared_status(record.tenant, record.value))

    async def on_event(self, record: TenantRecord) -> None:
        assert isinstance(record.value, DeviceEvent)
        camera_id = tenant_scoped(record.tenant, record.value.camera_id)
        choice = self.choices.get(camera_id)
        if choice is not None and choice.revoked:
            self.withheld[record.tenant] += 1  # its tenant revoked it: nothing of it is shared
            return
        camera = await self.registered(camera_id)
        if camera is not None and choice is not None:
            # The choice decides; the site's own record (if this worker ingested it) holds the
            # level a confirmation without one leaves to the site.
            camera = self.choosing.sent.get(camera_id, camera)
        shared = shared_event(record.tenant, record.value, camera, choice)
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

"""The edge agent: the connector runtime at a business's site, connecting out to the city.

    site.yaml ──► onboarding (read each device  ──► the tenant's cameras topic
                  on the site's own network)          (owner: the tenant; no credential reference)
              ──► the runtime watches exactly   ──► the tenant's status and events topics
                  those cameras                       (events of registry_only cameras: none)
                                 all through the outbox (on disk, bounded, in order, survives
                                 outages and restarts)

It reads its devices with the one onboarding pipeline (``connectors.sdk.onboard``, as a dry run:
admission, the network policy, the per-device boundary, retries and placement, nothing read from
the city's registry) and watches them with the one runtime (``WatchService.watch_records``), so a
site behaves as the city's runtime does, on its own devices only. It connects as the tenant's
principal (its client config), which may write the tenant's ingest topics and nothing else; the
hub's ingest agent takes the records from there (``hub.ingest``). The camera passwords are
resolved here, at the site, and go nowhere: the cameras it sends carry no credential reference.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic import BaseModel

from connectors.edge.outbox import Outbox
from connectors.edge.revocations import follow_site
from connectors.edge.site import EdgeDevice, SiteFile
from connectors.sdk.base import Connector
from connectors.sdk.onboard import OnboardOptions, OnboardSummary, onboard
from connectors.sdk.registry import load_connector
from connectors.sdk.runtime import RuntimeOptions, RuntimeTopics, WatchService
from core.settings import Settings, get_settings
from topics.catalog import TenantTopics, TopicSpec, tenant_topics
from topics.client import CatalogProducer
from topics.identity import tenant_scoped
from topics.models import CameraRecord, CameraStatus, DeviceEvent, SharingLevel

log = structlog.get_logger(__name__)

#: the agent's words for the person at the site (``tilik edge run`` prints them)
Say = Callable[[str], None]


@dataclass
class Found:
    """What the agent found at its site: the cameras it watches and the devices that failed."""

    cameras: dict[str, CameraRecord] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


class EdgeAgent:
    """One site's agent (module docstring)."""

    def __init__(
        self,
        site: SiteFile,
        *,
        settings: Settings | None = None,
        say: Say = print,
        connector_options: dict[str, Any] | None = None,
    ) -> None:
        self.site = site
        self.topics: TenantTopics = tenant_topics(site.tenant)
        if settings is None:
            settings = (
                Settings(client_config=site.client_config)
                if site.client_config is not None
                else get_settings()
            )
        self.settings = settings
        self.say = say
        self.found = Found()
        self._connector_options = connector_options or {}
        self._withheld_cameras: set[str] = set()
        #: cameras (the site's ids) its tenant revoked: not watched, nothing of them sent
        self.revoked: set[str] = set()
        self.outbox = Outbox(self._connect, site.outbox_dir, site.outbox, withhold=self._withholds)
        #: connector name -> the runtime watching the site's devices of that connector
        self.services: dict[str, WatchService] = {}
        self.ready = asyncio.Event()

    def _connect(self) -> CatalogProducer:
        return CatalogProducer(
            settings=self.settings,
            client_id=f"tilik-edge-{self.site.tenant}-{self.site.site}",
            # An outage is noticed within seconds, not after aiokafka's 40 s default.
            request_timeout_ms=10_000,
        )

    def _withholds(self, spec: TopicSpec, value: BaseModel) -> bool:
        """Events of a camera the business shares registry_only never leave the site; nothing of
        a camera its tenant revoked does."""
        if isinstance(value, DeviceEvent | CameraStatus) and value.camera_id in self.revoked:
            return True
        return (
            spec.name == self.topics.events.name
            and isinstance(value, DeviceEvent)
            and value.camera_id in self._withheld_cameras
        )

    async def run(self, stop: asyncio.Event) -> None:
        if self.outbox.waiting:
            self.say(f"{self.outbox.waiting} record(s) kept from before: sending them first")
        sender = asyncio.create_task(self.outbox.run(stop), name="edge-outbox")
        reporter = asyncio.create_task(self._report_loop(stop), name="edge-report")
        try:
            found = await self.discover(self.site.devices)
            self.send_cameras(found)
            self.services = {
                cls.name: WatchService(
                    cls,
                    options=RuntimeOptions(health_interval_s=self.site.health_interval_s),
                    topics=RuntimeTopics(
                        events=self.topics.events,
                        status=self.topics.status,
                        watch=None,
                        audit=None,
                    ),
                )
                for cls in found
            }
            watching = [
                asyncio.create_task(
                    self.services[cls.name].watch_records(records, self.outbox, stop)
                )
                for cls, records in found.items()
            ]
            await asyncio.gather(*(service.ready.wait() for service in self.services.values()))
            self.ready.set()
            watching.append(asyncio.create_task(self._retry_failed(stop), name="edge-retry"))
            watching.append(
                asyncio.create_task(
                    follow_site(
                        self.site.tenant, self.site.site, self.settings, self.apply_revoked,
                        stop, self.say,
                    ),
                    name="edge-site",
                )
            )  # fmt: skip
            await asyncio.gather(*watching)
        finally:
            stop.set()
            await asyncio.gather(sender, reporter, return_exceptions=True)
            self.report()
            self.outbox.close()

    async def apply_revoked(self, city_ids: frozenset[str] | None) -> None:
        """The cameras the site's record revokes (``None``: all) stop being watched; those no
        longer revoked are watched (and sent) again."""
        tenant = self.site.tenant
        revoked = {
            camera_id
            for camera_id in self.found.cameras
            if city_ids is None or tenant_scoped(tenant, camera_id) in city_ids
        }
        newly, back = revoked - self.revoked, self.revoked - revoked
        self.revoked = revoked
        for service in self.services.values():
            if newly:
                await service.unwatch(newly)
            if back:
                await service.watch_also(self.found.cameras[c] for c in back)
        for camera_id in sorted(newly):
            self.say(f"  {camera_id}  revoked by the tenant: no longer watched")
        for camera_id in sorted(back):
            self.say(f"  {camera_id}  confirmed again: watched")
            self.outbox.put(self.topics.cameras, self._sendable(self.found.cameras[camera_id]))

    async def _retry_failed(self, stop: asyncio.Event) -> None:
        """Devices that failed are read again every ``retry_failed_s``; their cameras join."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.site.retry_failed_s)
            failed = [d for d in self.site.devices if d.address in self.found.failed]
            if stop.is_set() or not failed:
                continue
            for address in [d.address for d in failed]:
                self.found.failed.pop(address, None)
            found = await self.discover(failed)
            self.send_cameras(found)
            for cls, records in found.items():
                await self.services[cls.name].watch_also(records)

    async def discover(
        self, devices_of_site: Sequence[EdgeDevice]
    ) -> dict[type[Connector[Any]], list[CameraRecord]]:
        """Read these devices with their connectors; say what was found. Every connector of
        them is in the result, with no records if its devices failed."""
        devices: dict[str, list[EdgeDevice]] = defaultdict(list)
        for device in devices_of_site:
            devices[device.connector].append(device)
        found: dict[type[Connector[Any]], list[CameraRecord]] = {}
        for name, entries in devices.items():
            cls = load_connector(name)
            configs = [
                {**entry.config_values(self.site.tenant), **self._connector_options}
                for entry in entries
            ]
            summary = await onboard(
                cls, configs, producer=None, options=OnboardOptions(actor=self.actor)
            )
            found[cls] = self._note(summary)
        return found

    @property
    def actor(self) -> str:
        return f"edge.{self.site.tenant}.{self.site.site}"

    def _note(self, summary: OnboardSummary) -> list[CameraRecord]:
        for address, failure in summary.failed.items():
            self.found.failed[address] = failure.reason
            self.say(f"device {address}: not onboarded: {failure.reason}")
        for address, cameras in summary.published.items():
            self.say(f"device {address}: {len(cameras)} camera(s)")
            for camera_id in cameras:
                record = summary.records[camera_id]
                self.found.cameras[camera_id] = record
                city_id = tenant_scoped(self.site.tenant, camera_id)
                self.say(
                    f"  {camera_id}  {record.name!r}  sharing {record.sharing.value}  "
                    f"(in the city: {city_id})"
                )
                if record.sharing is SharingLevel.REGISTRY_ONLY:
                    self._withheld_cameras.add(camera_id)
        return list(summary.records.values())

    def send_cameras(self, found: dict[type[Connector[Any]], list[CameraRecord]]) -> None:
        """The cameras, as the city may know them: no credential reference, no device config."""
        for record in (record for records in found.values() for record in records):
            self.outbox.put(self.topics.cameras, self._sendable(record))

    @staticmethod
    def _sendable(record: CameraRecord) -> CameraRecord:
        return record.model_copy(update={"credential_ref": None, "connector_config": {}})

    async def _report_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.site.report_every_s)
            if not stop.is_set():
                self.report()

    def report(self) -> None:
        """One line: what was sent, what waits, what was withheld and what was dropped."""
        outbox = self.outbox
        sent = {
            "cameras": outbox.sent[self.topics.cameras.name],
            "statuses": outbox.sent[self.topics.status.name],
            "events": outbox.sent[self.topics.events.name],
        }
        line = (
            f"sent {sent['cameras']} camera(s), {sent['statuses']} status(es), "
            f"{sent['events']} event(s); {outbox.waiting} waiting"
        )
        if outbox.unreachable_since is not None:
            line += (
                " (the city refuses this site's principal: revoked or rotated?)"
                if outbox.refused
                else " (the city's broker does not answer)"
            )
        withheld = sum(outbox.withheld.values())
        if withheld:
            line += f"; {withheld} event(s) of registry_only cameras not sent"
        if outbox.dropped:
            dropped = ", ".join(f"{n} on {topic}" for topic, n in sorted(outbox.dropped.items()))
            line += f"; DROPPED (outbox full): {dropped}"
        if outbox.spool.damaged_bytes:
            line += f"; {outbox.spool.damaged_bytes} damaged byte(s) of the outbox skipped"
        if outbox.device_input_kept_local:
            line += f"; {outbox.device_input_kept_local} unreadable device input(s) in the log"
        self.say(line)

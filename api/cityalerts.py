"""The city's open alerts, with the agencies they went to: every agency's inbox, merged.

The agencies are those with a dispatch topic on the broker (the API may describe each one),
looked for when the map is first asked for and again every ``AGENCY_CHECK_S``; each agency's
inbox (``api.inbox``) is the one its desk reads, so the map and the inboxes agree. An alert is
open until a dispatch carries its ``resolved`` state; an alert no route sends to any agency has
no dispatch and is not here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from datetime import datetime

import structlog
from pydantic import BaseModel

from api.fanout import Fanout
from api.inbox import AgencyInbox, InboxEntry, Inboxes, InboxFilter
from core.lifecycle import Lifecycle
from topics.models import Alert, AlertStatus
from topics.reader import TopicNotFound

log = structlog.get_logger(__name__)

#: how often the broker is asked for agencies added since
AGENCY_CHECK_S = 30.0

#: the agencies whose dispatch topics exist now
ListAgencies = Callable[[], list[str]]


class OpenAlert(BaseModel):
    """An alert still open, where it is and which agencies it went to."""

    alert_id: str
    camera_id: str
    camera_name: str | None
    category: str
    severity: str
    title: str
    kecamatan: str | None
    kelurahan: str | None
    #: (lat, lon) of the alert's place, when it has one
    point: tuple[float, float] | None
    opened_at: datetime
    updated_at: datetime
    agencies: list[str]
    #: the agencies that acknowledged it
    acknowledged_by: list[str]


class AlertChange(BaseModel):
    """An alert on a camera that opened or changed (``alert``), or one that is over
    (``resolved``: its id)."""

    camera_id: str
    alert: OpenAlert | None = None
    resolved: str | None = None


def _open_alert(alert: Alert, agencies: dict[str, bool]) -> OpenAlert:
    point = alert.location.point
    return OpenAlert(
        alert_id=alert.alert_id,
        camera_id=alert.camera_id,
        camera_name=alert.camera_name,
        category=alert.category.value,
        severity=alert.severity.value,
        title=alert.title,
        kecamatan=alert.location.area.kecamatan,
        kelurahan=alert.location.area.kelurahan,
        point=(point.lat, point.lon) if point is not None else None,
        opened_at=alert.opened_at,
        updated_at=alert.updated_at,
        agencies=sorted(agencies),
        acknowledged_by=sorted(a for a, acked in agencies.items() if acked),
    )


class CityAlerts(Lifecycle):
    """Open alerts across every agency's inbox, kept current; changes told to followers."""

    def __init__(self, inboxes: Inboxes, agencies: ListAgencies) -> None:
        self._inboxes = inboxes
        self._list_agencies = agencies
        self._watched: set[str] = set()
        #: alert id -> its newest state and, per agency it went to, whether that one acknowledged
        self._latest: dict[str, Alert] = {}
        self._agencies: dict[str, dict[str, bool]] = {}
        #: alerts that are over: an older state arriving late (from another agency's topic)
        #: does not open them again
        self._over: set[str] = set()
        self.changes: Fanout[AlertChange] = Fanout()
        self._watching: asyncio.Task[None] | None = None
        self._first: asyncio.Task[None] | None = None

    async def ready(self) -> None:
        """Until every agency's inbox is read (started by the first caller)."""
        first = self._first
        if first is None or (first.done() and (first.cancelled() or first.exception() is not None)):
            first = self._first = asyncio.create_task(self._look_for_agencies())
        await asyncio.shield(first)
        if self._watching is None:
            self._watching = asyncio.create_task(self._keep_looking(), name="city alerts")

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self.changes.close()
        for task in (self._watching, self._first):
            if task is not None:
                task.cancel()
                # A failed first look was the caller's error already; stopping says nothing more.
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _look_for_agencies(self) -> None:
        found = await asyncio.to_thread(self._list_agencies)
        for agency in sorted(set(found) - self._watched):
            try:
                inbox = await self._inboxes.of(agency)
            except TopicNotFound as exc:
                # Its acknowledgement topic is missing: the next look tries again.
                log.warning("agency's inbox not opened", agency=agency, reason=str(exc))
                continue
            self._watch(inbox)

    async def _keep_looking(self) -> None:
        while True:
            await asyncio.sleep(AGENCY_CHECK_S)
            try:
                await self._look_for_agencies()
            except Exception as exc:  # noqa: BLE001 - the next look tries again; say why now
                log.warning("agencies not listed", error=type(exc).__name__, reason=str(exc))

    def _watch(self, inbox: AgencyInbox) -> None:
        self._watched.add(inbox.agency)
        for entry in inbox.entries(InboxFilter()):
            self.apply(inbox.agency, entry, tell=False)
        inbox.changes.listen(lambda entry: self.apply(inbox.agency, entry, tell=True))

    def apply(self, agency: str, entry: InboxEntry, *, tell: bool = True) -> None:
        """One agency's entry of an alert (its latest dispatch there) taken in."""
        alert = entry.dispatch.alert
        if alert.alert_id in self._over:
            return
        known = self._latest.get(alert.alert_id)
        if known is not None and known.sequence > alert.sequence:
            alert = known  # this agency's dispatch is of an older state
        if alert.status is AlertStatus.RESOLVED:
            self._over.add(alert.alert_id)
            if self._latest.pop(alert.alert_id, None) is not None and tell:
                self.changes.tell(AlertChange(camera_id=alert.camera_id, resolved=alert.alert_id))
            self._agencies.pop(alert.alert_id, None)
            return
        self._latest[alert.alert_id] = alert
        agencies = self._agencies.setdefault(alert.alert_id, {})
        agencies[agency] = entry.acknowledgement is not None
        if tell:
            self.changes.tell(
                AlertChange(camera_id=alert.camera_id, alert=_open_alert(alert, agencies))
            )

    def open_alerts(self) -> list[OpenAlert]:
        """Newest first."""
        alerts = [_open_alert(a, self._agencies[i]) for i, a in self._latest.items()]
        return sorted(alerts, key=lambda a: a.opened_at, reverse=True)

    def following(self) -> AbstractContextManager[AsyncIterator[AlertChange]]:
        return self.changes.following()

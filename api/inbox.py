"""An agency's inbox: its dispatches and acknowledgements, from its own two topics, in memory.

One entry per alert routed to the agency (its latest dispatch), with a status: ``open`` until the
agency acknowledges it, ``acknowledged`` after, ``resolved`` once the alert is over. An
acknowledgement goes to the agency's acknowledgement topic, where the hub takes it as the
agency's (the topic says who wrote it) and stops the alert's escalation.

Only the agency's own topics are read for it: another agency's dispatch ids are simply not here.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import structlog
from pydantic import BaseModel

from api.fanout import Fanout
from api.opened import OpenedOnDemand
from core.lifecycle import Lifecycle
from core.settings import Settings
from topics.catalog import ack_spec, dispatch_spec
from topics.client import CatalogProducer
from topics.follow import FollowedTopic
from topics.models import AlertAck, AlertCategory, AlertStatus, Dispatch, utcnow
from topics.reader import Received

log = structlog.get_logger(__name__)


class InboxStatus(StrEnum):
    OPEN = "open"  # waiting for the agency
    ACKNOWLEDGED = "acknowledged"  # the agency took it on
    RESOLVED = "resolved"  # the alert is over


class InboxEntry(BaseModel):
    """One alert in an agency's inbox: its latest dispatch and where the agency stands with it."""

    status: InboxStatus
    dispatch: Dispatch
    acknowledgement: AlertAck | None = None


@dataclass(frozen=True)
class InboxFilter:
    status: InboxStatus | None = None
    category: AlertCategory | None = None
    kecamatan: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def admits(self, entry: InboxEntry) -> bool:
        alert = entry.dispatch.alert
        area = alert.location.area.kecamatan
        routed = entry.dispatch.routed_at
        return (
            (self.status is None or entry.status is self.status)
            and (self.category is None or alert.category is self.category)
            and (
                self.kecamatan is None
                or (area is not None and area.casefold() == self.kecamatan.casefold())
            )
            and (self.since is None or routed >= self.since)
            and (self.until is None or routed < self.until)
        )


class BadCursor(ValueError):
    """A paging cursor this service did not hand out."""


def _order(entry: InboxEntry) -> tuple[float, str]:
    return (entry.dispatch.routed_at.timestamp(), entry.dispatch.dispatch_id)


def encode_cursor(entry: InboxEntry) -> str:
    stamp, dispatch_id = _order(entry)
    return base64.urlsafe_b64encode(f"{stamp!r}|{dispatch_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, dispatch_id = text.split("|")
        return float(stamp), dispatch_id
    except ValueError:
        raise BadCursor("not a cursor this inbox handed out") from None


def page(
    entries: list[InboxEntry], *, limit: int, after: str | None
) -> tuple[list[InboxEntry], str | None]:
    """Newest first, ``limit`` at a time; the cursor continues after the last entry given."""
    ordered = sorted(entries, key=_order, reverse=True)
    if after is not None:
        position = decode_cursor(after)
        ordered = [e for e in ordered if _order(e) < position]
    chosen = ordered[:limit]
    more = len(ordered) > limit
    return chosen, (encode_cursor(chosen[-1]) if more and chosen else None)


def _newer(current: Dispatch | None, candidate: Dispatch) -> bool:
    if current is None:
        return True
    return (candidate.alert.sequence, candidate.routed_at) >= (
        current.alert.sequence,
        current.routed_at,
    )


class AgencyInbox(Lifecycle):
    """One agency's dispatches and acknowledgements, kept current from its two topics."""

    def __init__(
        self, agency: str, producer: CatalogProducer, *, settings: Settings | None = None
    ) -> None:
        self.agency = agency
        self._producer = producer
        self._ack_spec = ack_spec(agency)
        self._dispatch_ids: dict[str, str] = {}  # dispatch id -> alert id
        self._latest: dict[str, Dispatch] = {}  # alert id -> its latest dispatch here
        self._acks: dict[str, AlertAck] = {}  # alert id -> the first acknowledgement
        #: each new or updated entry, once the inbox holds what its topics had at start
        self.changes: Fanout[InboxEntry] = Fanout()
        self._dispatches = FollowedTopic(
            dispatch_spec(agency),
            self._fold_dispatch,
            component=f"api.inbox.{agency}",
            settings=settings,
        )
        self._acknowledgements = FollowedTopic(
            self._ack_spec, self._fold_ack, component=f"api.acks.{agency}", settings=settings
        )

    async def start(self) -> None:
        await self._dispatches.start()
        await self._acknowledgements.start()
        await self._dispatches.ready.wait()
        await self._acknowledgements.ready.wait()

    async def stop(self) -> None:
        self.changes.close()
        await self._acknowledgements.stop()
        await self._dispatches.stop()

    # --- folding -----------------------------------------------------------------------

    def _fold_dispatch(self, received: Received) -> None:
        dispatch = received.value_as(Dispatch)
        if dispatch.agency != self.agency:
            log.warning(
                "dispatch for another agency skipped", topic=received.topic, ref=received.ref
            )
            return
        alert_id = dispatch.alert.alert_id
        self._dispatch_ids[dispatch.dispatch_id] = alert_id
        if _newer(self._latest.get(alert_id), dispatch):
            self._latest[alert_id] = dispatch
            if self._dispatches.ready.is_set():
                self.changes.tell(self._entry(alert_id))

    def _fold_ack(self, received: Received) -> None:
        ack = received.value_as(AlertAck)
        if ack.agency == self.agency:
            self._acks.setdefault(ack.alert_id, ack)

    # --- reading -----------------------------------------------------------------------

    def _entry(self, alert_id: str) -> InboxEntry:
        dispatch = self._latest[alert_id]
        ack = self._acks.get(alert_id)
        if dispatch.alert.status is AlertStatus.RESOLVED:
            status = InboxStatus.RESOLVED
        elif ack is not None:
            status = InboxStatus.ACKNOWLEDGED
        else:
            status = InboxStatus.OPEN
        return InboxEntry(status=status, dispatch=dispatch, acknowledgement=ack)

    def entries(self, where: InboxFilter) -> list[InboxEntry]:
        return [e for e in map(self._entry, self._latest) if where.admits(e)]

    def find(self, dispatch_id: str) -> InboxEntry | None:
        """The entry of one of this agency's dispatches; ``None`` for any other id."""
        alert_id = self._dispatch_ids.get(dispatch_id)
        return self._entry(alert_id) if alert_id is not None else None

    def following(self) -> AbstractContextManager[AsyncIterator[InboxEntry]]:
        """Each new or updated dispatch from entering the block on, until the inbox stops or the
        follower falls too far behind (it reconnects and lists what it missed)."""
        return self.changes.following()

    # --- acknowledging -----------------------------------------------------------------

    async def acknowledge(
        self, dispatch_id: str, *, acked_by: str | None, note: str | None
    ) -> tuple[InboxEntry, bool] | None:
        """Acknowledge the alert of one of this agency's dispatches; ``None`` for any other id.
        Returns the entry and whether an acknowledgement was written (not if it had one)."""
        entry = self.find(dispatch_id)
        if entry is None:
            return None
        if entry.acknowledgement is not None:
            return entry, False
        ack = AlertAck(
            alert_id=entry.dispatch.alert.alert_id,
            agency=self.agency,
            acked_at=utcnow(),
            acked_by=acked_by,
            note=note,
        )
        written = await self._producer.send(self._ack_spec, ack)
        await self._acknowledgements.wait_applied(written)
        found = self.find(dispatch_id)
        assert found is not None
        return found, True


class Inboxes(OpenedOnDemand[AgencyInbox]):
    """Each agency's inbox, opened when the agency first asks and kept open."""

    def __init__(self, producer: CatalogProducer, *, settings: Settings | None = None) -> None:
        super().__init__(lambda agency: AgencyInbox(agency, producer, settings=settings))

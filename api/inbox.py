"""An agency's inbox: its dispatches and acknowledgements, from its own two topics, in memory.

One entry per alert routed to the agency (its latest dispatch), with a status: ``open`` until the
agency acknowledges it, ``acknowledged`` after, ``resolved`` once the alert is over. An
acknowledgement goes to the agency's acknowledgement topic, where the hub takes it as the
agency's (the topic says who wrote it) and stops the alert's escalation.

Only the agency's own topics are read for it: another agency's dispatch ids are simply not here.
"""

from __future__ import annotations

import base64
from bisect import bisect_left, insort
from collections.abc import AsyncIterator, Callable, Iterator
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


def _order(dispatch: Dispatch) -> tuple[float, str]:
    return (dispatch.routed_at.timestamp(), dispatch.dispatch_id)


def encode_cursor(entry: InboxEntry) -> str:
    stamp, dispatch_id = _order(entry.dispatch)
    return base64.urlsafe_b64encode(f"{stamp!r}|{dispatch_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, dispatch_id = text.split("|")
        return float(stamp), dispatch_id
    except ValueError:
        raise BadCursor("not a cursor this inbox handed out") from None


class Newest:
    """Alert ids ordered by their latest dispatch (routed at, then dispatch id), kept in order as
    dispatches arrive: a page walks from the newest only as far as it shows, instead of building
    and sorting every entry of the agency on each request."""

    def __init__(self) -> None:
        self._keys: list[tuple[float, str, str]] = []  # (routed at, dispatch id, alert id)
        self._key_of: dict[str, tuple[float, str, str]] = {}

    def put(self, alert_id: str, dispatch: Dispatch) -> None:
        """The alert's latest dispatch is now ``dispatch``."""
        old = self._key_of.get(alert_id)
        if old is not None:
            del self._keys[bisect_left(self._keys, old)]
        key = (*_order(dispatch), alert_id)
        insort(self._keys, key)
        self._key_of[alert_id] = key

    def before(self, position: tuple[float, str] | None) -> Iterator[str]:
        """Alert ids newest first, from just older than ``position`` (all when None)."""
        end = len(self._keys) if position is None else bisect_left(self._keys, position)
        for index in range(end - 1, -1, -1):
            yield self._keys[index][2]


def page(
    newest: Newest,
    entry_of: Callable[[str], InboxEntry],
    where: InboxFilter,
    *,
    limit: int,
    after: str | None,
) -> tuple[list[InboxEntry], str | None]:
    """Newest first, ``limit`` at a time; the cursor continues after the last entry given."""
    position = decode_cursor(after) if after is not None else None
    chosen: list[InboxEntry] = []
    for alert_id in newest.before(position):
        entry = entry_of(alert_id)
        if where.admits(entry):
            if len(chosen) == limit:
                return chosen, encode_cursor(chosen[-1])
            chosen.append(entry)
    return chosen, None


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
        self._newest = Newest()  # the same alert ids, newest dispatch first
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
            self._newest.put(alert_id, dispatch)
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
        # Both parts are validated models already (read from their topics).
        return InboxEntry.model_construct(status=status, dispatch=dispatch, acknowledgement=ack)

    def entries(self, where: InboxFilter) -> list[InboxEntry]:
        return [e for e in map(self._entry, self._latest) if where.admits(e)]

    def page(
        self, where: InboxFilter, *, limit: int, after: str | None = None
    ) -> tuple[list[InboxEntry], str | None]:
        """The entries ``where`` admits, newest first, ``limit`` at a time (``api.inbox.page``)."""
        return page(self._newest, self._entry, where, limit=limit, after=after)

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

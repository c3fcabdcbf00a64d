"""An agency's inbox over HTTP: its dispatches, paged and filtered, one acknowledged, new ones
followed live (Server-Sent Events). Every id, filter and stream is scoped to the agency the key
names: another agency's dispatch answers exactly like one that does not exist."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import AwareDatetime, BaseModel

from api.auth import AgencyCaller, Caller
from api.guards import topics_required
from api.inbox import AgencyInbox, BadCursor, InboxEntry, InboxFilter, InboxStatus
from api.service import ApiService, service_of
from topics.models import AlertCategory, LongText, ShortText, StrictModel

router = APIRouter(prefix="/agency", tags=["agency"])

DispatchId = Annotated[str, Path(pattern=r"^dsp-[0-9a-f]{24}$", description="A dispatch id.")]
Service = Annotated[ApiService, Depends(service_of)]


class InboxPage(BaseModel):
    items: list[InboxEntry]
    next: str | None = None


class AckRequest(StrictModel):
    """Who took the alert on, and a note for the command center (both optional)."""

    acked_by: ShortText | None = None
    note: LongText | None = None


_NOT_FOUND = "no such dispatch"


async def inbox_of(service: ApiService, caller: Caller) -> AgencyInbox:
    with topics_required(
        "this agency has no dispatch topic yet: the operator adds it (tilik access agency add)"
    ):
        return await service.inboxes.of(caller.subject)


@router.get("/dispatches", response_model=InboxPage)
async def list_dispatches(
    caller: AgencyCaller,
    service: Service,
    status_: Annotated[InboxStatus | None, Query(alias="status")] = None,
    category: AlertCategory | None = None,
    kecamatan: Annotated[str | None, Query(max_length=256)] = None,
    since: Annotated[AwareDatetime | None, Query(description="routed at or after")] = None,
    until: Annotated[AwareDatetime | None, Query(description="routed before")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    after: Annotated[
        str | None, Query(max_length=200, description="`next` of the page before")
    ] = None,
) -> InboxPage:
    """The agency's alerts, newest first, one entry per alert (its latest dispatch)."""
    inbox = await inbox_of(service, caller)
    where = InboxFilter(status_, category, kecamatan, since, until)
    try:
        items, following = inbox.page(where, limit=limit, after=after)
    except BadCursor as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    return InboxPage(items=items, next=following)


@router.get("/dispatches/stream", response_class=EventSourceResponse)
async def follow_dispatches(
    caller: AgencyCaller, service: Service
) -> AsyncIterator[ServerSentEvent]:
    """New and updated dispatches as they arrive, as Server-Sent Events (`event: dispatch`, the
    entry as JSON). A first comment (`: following`) says the stream is live; later comments keep
    the connection alive. A client that falls far behind is disconnected and lists what it
    missed."""
    inbox = await inbox_of(service, caller)
    with inbox.following() as entries:
        yield ServerSentEvent(comment="following")
        async for entry in entries:
            yield ServerSentEvent(
                event="dispatch", id=entry.dispatch.dispatch_id, raw_data=entry.model_dump_json()
            )


@router.get("/dispatches/{dispatch_id}", response_model=InboxEntry)
async def get_dispatch(
    dispatch_id: DispatchId, caller: AgencyCaller, service: Service
) -> InboxEntry:
    found = (await inbox_of(service, caller)).find(dispatch_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, _NOT_FOUND)
    return found


@router.post("/dispatches/{dispatch_id}/ack", response_model=InboxEntry)
async def acknowledge(
    dispatch_id: DispatchId,
    caller: AgencyCaller,
    service: Service,
    body: AckRequest | None = None,
) -> InboxEntry:
    """Acknowledge the dispatch's alert: it goes to the agency's acknowledgement topic and stops
    the alert's escalation. Acknowledging again changes nothing."""
    request = body or AckRequest()
    entry = await acknowledge_as(
        caller, service, dispatch_id, acked_by=request.acked_by, note=request.note
    )
    if entry is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, _NOT_FOUND)
    return entry


async def acknowledge_as(
    caller: Caller,
    service: ApiService,
    dispatch_id: str,
    *,
    acked_by: str | None,
    note: str | None,
) -> InboxEntry | None:
    """The agency ``caller`` speaks for acknowledges one of its dispatches (audited); ``None``
    for an id that is not one of its dispatches. The API and the inbox page both go through here."""
    done = await (await inbox_of(service, caller)).acknowledge(
        dispatch_id, acked_by=acked_by, note=note
    )
    if done is None:
        return None
    entry, written = done
    await service.audit.record(
        actor=caller.principal,
        action="api.dispatch.ack",
        subject=entry.dispatch.alert.alert_id,
        client=caller.client,
        details={"dispatch_id": dispatch_id, "written": str(written).lower()},
    )
    return entry

"""The agency's inbox page: sign in with the agency's API key, see dispatches, acknowledge one.

The key is kept in a cookie limited to ``/inbox`` (``api.pages.session``). Acknowledging here is
the API's acknowledgement (``api.routes.agency.acknowledge_as``): same topic, same audit record.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, Response

from api.inbox import InboxFilter, InboxStatus
from api.pages.session import KeySession, posted_form, render
from api.pages.words import INBOX_WORDS, language_of
from api.routes.agency import acknowledge_as, inbox_of
from api.service import ApiService, service_of
from topics.models import ApiKeyKind

router = APIRouter(prefix="/inbox", include_in_schema=False)

SESSION = KeySession("/inbox", ApiKeyKind.AGENCY)
SESSION.add_routes(router, INBOX_WORDS)
# One page of the inbox: the newest this many.
PAGE_SIZE = 100

Service = Annotated[ApiService, Depends(service_of)]


def _render(
    request: Request, name: str, lang: str, code: int = 200, **context: object
) -> HTMLResponse:
    return render(request, name, lang, INBOX_WORDS, code, page=SESSION.path, **context)


@router.get("", response_class=HTMLResponse)
async def inbox_page(
    request: Request,
    service: Service,
    lang: Annotated[str | None, Query(max_length=2)] = None,
    status_: Annotated[InboxStatus | None, Query(alias="status")] = None,
) -> Response:
    language = language_of(request, lang)
    caller = await SESSION.caller(request, service)
    if caller is None:
        return _render(request, "signin.html", language)
    inbox = await inbox_of(service, caller)
    entries, _ = inbox.page(InboxFilter(status=status_), limit=PAGE_SIZE)
    return _render(
        request,
        "inbox.html",
        language,
        agency=caller.subject,
        entries=entries,
        status=status_.value if status_ else None,
    )


@router.post("/{dispatch_id}/ack", response_class=HTMLResponse)
async def acknowledge_page(dispatch_id: str, request: Request, service: Service) -> Response:
    form = await posted_form(request)
    caller = await SESSION.caller(request, service)
    if caller is None:
        return SESSION.refused(request, INBOX_WORDS)
    acked_by = form.get("acked_by", "").strip()[:256] or None
    entry = await acknowledge_as(caller, service, dispatch_id, acked_by=acked_by, note=None)
    if entry is None:
        words = INBOX_WORDS[language_of(request, None)]
        raise HTTPException(status.HTTP_404_NOT_FOUND, words["not_found"])
    return SESSION.back()

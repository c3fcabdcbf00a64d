"""The agency's inbox page: sign in with the agency's API key, see dispatches, acknowledge one.

The key is kept in an HttpOnly, SameSite=Strict cookie limited to ``/inbox``: a page of another
site can neither read it nor make the browser send it with a form. A form posted from another
origin is refused as well (``Origin``). Acknowledging here is the API's acknowledgement
(``api.routes.agency.acknowledge_as``): same topic, same audit record.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from api.auth import Caller, checked_key, client_address
from api.inbox import InboxFilter, InboxStatus, page
from api.pages.words import LANGUAGE_COOKIE, WORDS, language_of
from api.routes.agency import acknowledge_as, inbox_of
from api.service import ApiService, service_of
from topics.models import ApiKeyKind

router = APIRouter(prefix="/inbox", include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")

KEY_COOKIE = "tilik_key"
# How long a browser stays signed in.
SESSION_S = 12 * 3600
# The city's time: what a desk in Semarang reads.
LOCAL_TIME = ZoneInfo("Asia/Jakarta")
# One page of the inbox: the newest this many.
PAGE_SIZE = 100

Service = Annotated[ApiService, Depends(service_of)]


def local(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TIME).strftime("%d-%m-%Y %H:%M WIB")


def _render(
    request: Request, name: str, lang: str, code: int = 200, **context: object
) -> HTMLResponse:
    response = templates.TemplateResponse(
        request,
        name,
        {
            "lang": lang,
            "w": WORDS[lang],
            "other": "en" if lang == "id" else "id",
            "local": local,
            **context,
        },
        status_code=code,
    )
    response.set_cookie(LANGUAGE_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response


async def _signed_in(request: Request, service: ApiService) -> Caller | None:
    token = request.cookies.get(KEY_COOKIE)
    if not token:
        return None
    key = await checked_key(service, token, client_address(request))
    if key is None or key.kind is not ApiKeyKind.AGENCY:
        return None
    return Caller(key, client_address(request))


async def _form(request: Request) -> dict[str, str]:
    """A posted form's fields (first value of each), from this site only."""
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a form from another site is refused")
    fields = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=10)
    return {name: values[0] for name, values in fields.items()}


def _back_to_inbox() -> RedirectResponse:
    return RedirectResponse("/inbox", status_code=status.HTTP_303_SEE_OTHER)


@router.get("", response_class=HTMLResponse)
async def inbox_page(
    request: Request,
    service: Service,
    lang: Annotated[str | None, Query(max_length=2)] = None,
    status_: Annotated[InboxStatus | None, Query(alias="status")] = None,
) -> Response:
    language = language_of(request, lang)
    caller = await _signed_in(request, service)
    if caller is None:
        return _render(request, "signin.html", language)
    inbox = await inbox_of(service, caller)
    entries, _ = page(inbox.entries(InboxFilter(status=status_)), limit=PAGE_SIZE, after=None)
    return _render(
        request,
        "inbox.html",
        language,
        agency=caller.subject,
        entries=entries,
        status=status_.value if status_ else None,
    )


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request, service: Service) -> Response:
    token = (await _form(request)).get("key", "").strip()
    key = await checked_key(service, token, client_address(request)) if token else None
    if key is None or key.kind is not ApiKeyKind.AGENCY:
        return _render(request, "signin.html", language_of(request, None), 401, error=True)
    response = _back_to_inbox()
    response.set_cookie(
        KEY_COOKIE,
        token,
        max_age=SESSION_S,
        path="/inbox",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    await _form(request)
    response = _back_to_inbox()
    response.delete_cookie(KEY_COOKIE, path="/inbox")
    return response


@router.post("/{dispatch_id}/ack", response_class=HTMLResponse)
async def acknowledge_page(dispatch_id: str, request: Request, service: Service) -> Response:
    form = await _form(request)
    caller = await _signed_in(request, service)
    language = language_of(request, None)
    if caller is None:
        return _render(request, "signin.html", language, 401, error=True)
    acked_by = form.get("acked_by", "").strip()[:256] or None
    entry = await acknowledge_as(caller, service, dispatch_id, acked_by=acked_by, note=None)
    if entry is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, WORDS[language]["not_found"])
    return _back_to_inbox()

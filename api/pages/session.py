"""What every page shares: rendering a template in the reader's language, and signing in with an
API key kept in a cookie.

The key is kept in an HttpOnly, SameSite=Strict cookie limited to the page's own path: a page of
another site can neither read it nor make the browser send it with a form, and the key of one
page is not sent to another. A form posted from another origin is refused as well (``Origin``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from api.auth import Caller, checked_key, client_address
from api.pages.words import LANGUAGE_COOKIE, language_of
from api.service import ApiService, service_of
from topics.models import ApiKeyKind

templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")

KEY_COOKIE = "tilik_key"
# How long a browser stays signed in.
SESSION_S = 12 * 3600
# The city's time: what a desk in Semarang reads.
LOCAL_TIME = ZoneInfo("Asia/Jakarta")


def local(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TIME).strftime("%d-%m-%Y %H:%M WIB")


def render(
    request: Request,
    name: str,
    lang: str,
    words: Mapping[str, Mapping[str, str]],
    code: int = 200,
    **context: object,
) -> HTMLResponse:
    """``name`` in ``lang`` (``words[lang]`` is ``w`` in the template); the language is
    remembered in a cookie."""
    response = templates.TemplateResponse(
        request,
        name,
        {
            "lang": lang,
            "w": words[lang],
            "other": "en" if lang == "id" else "id",
            "local": local,
            **context,
        },
        status_code=code,
    )
    response.set_cookie(LANGUAGE_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response


async def posted_form(request: Request, max_fields: int = 10) -> dict[str, str]:
    """A posted form's fields (first value of each; blank ones left out), from this site only."""
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a form from another site is refused")
    try:
        fields = parse_qs(
            (await request.body()).decode("utf-8", "replace"), max_num_fields=max_fields
        )
    except ValueError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "too many form fields") from None
    return {name: values[0] for name, values in fields.items()}


@dataclass(frozen=True)
class KeySession:
    """Signing in to the page at ``path`` with a key of ``kind``."""

    path: str
    kind: ApiKeyKind

    async def caller(self, request: Request, service: ApiService) -> Caller | None:
        """Who the browser is signed in as, or ``None`` (no key, or not a live key of ``kind``)."""
        token = request.cookies.get(KEY_COOKIE)
        if not token:
            return None
        return await self._checked(request, service, token)

    async def _checked(self, request: Request, service: ApiService, token: str) -> Caller | None:
        key = await checked_key(service, token, client_address(request))
        if key is None or key.kind is not self.kind:
            return None
        return Caller(key, client_address(request))

    def back(self, below: str = "") -> RedirectResponse:
        """To the page (or ``below`` it), after a form (post/redirect/get)."""
        return RedirectResponse(self.path + below, status_code=status.HTTP_303_SEE_OTHER)

    async def sign_in(self, request: Request, service: ApiService) -> Response | None:
        """Back to the page, signed in, when the form's key is a live key of ``kind``; else
        ``None`` (the page says the key is not valid)."""
        token = (await posted_form(request)).get("key", "").strip()
        if not token or await self._checked(request, service, token) is None:
            return None
        response = self.back()
        response.set_cookie(
            KEY_COOKIE,
            token,
            max_age=SESSION_S,
            path=self.path,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def sign_out(self, request: Request) -> Response:
        await posted_form(request)
        response = self.back()
        response.delete_cookie(KEY_COOKIE, path=self.path)
        return response

    def refused(self, request: Request, words: Mapping[str, Mapping[str, str]]) -> HTMLResponse:
        """The sign-in page again, saying the key is not valid here."""
        language = language_of(request, None)
        return render(request, "signin.html", language, words, 401, page=self.path, error=True)

    def add_routes(self, router: APIRouter, words: Mapping[str, Mapping[str, str]]) -> None:
        """``POST <path>/sign-in`` and ``POST <path>/sign-out`` on the page's ``router``."""

        @router.post("/sign-in", response_class=HTMLResponse)
        async def sign_in(
            request: Request, service: Annotated[ApiService, Depends(service_of)]
        ) -> Response:
            return await self.sign_in(request, service) or self.refused(request, words)

        @router.post("/sign-out")
        async def sign_out(request: Request) -> Response:
            return await self.sign_out(request)

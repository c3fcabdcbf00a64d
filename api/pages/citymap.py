"""The command-center map page (``/map``, operators, signed in with an operator's key like the
inbox) and the public map (``/map/public``, no key): Semarang drawn from the bundled gazetteer as
an SVG, the cameras and alerts filled in by a small script from ``/map/view`` and
``/map/stream`` (or their public twins). Nothing is fetched from anywhere else: no tiles, fonts or
scripts of another site."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.areas import semarang_map
from api.pages.session import render
from api.pages.words import MAP_WORDS, language_of
from api.routes.citymap import MAP_SESSION
from api.service import ApiService, service_of

router = APIRouter(prefix="/map", include_in_schema=False)
MAP_SESSION.add_routes(router, MAP_WORDS)

Service = Annotated[ApiService, Depends(service_of)]
Language = Annotated[str | None, Query(max_length=2)]

# How often the page asks again for cameras and coverage (alerts come as they happen).
REFRESH_S = 10


def _render(
    request: Request, name: str, lang: str, code: int = 200, **context: object
) -> HTMLResponse:
    return render(request, name, lang, MAP_WORDS, code, page=MAP_SESSION.path, **context)


def _map(request: Request, lang: str, *, public: bool) -> HTMLResponse:
    city = semarang_map()
    frame = city.frame
    base = "/map/public" if public else "/map"
    config = {
        "view": f"{base}/view",
        "stream": f"{base}/stream",
        "refresh_s": REFRESH_S,
        "frame": {
            "west": frame.west,
            "north": frame.north,
            "per_lon": frame.per_lon,
            "per_lat": frame.per_lat,
        },
        "words": MAP_WORDS[lang],
    }
    outline = "M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in city.outline) + "Z"
    return _render(
        request,
        "map.html",
        lang,
        public=public,
        city=city,
        outline=outline,
        # "</" cannot end the script element this is in.
        config=json.dumps(config).replace("</", "<\\/"),
        here=base,
    )


@router.get("", response_class=HTMLResponse)
async def operator_map(request: Request, service: Service, lang: Language = None) -> Response:
    language = language_of(request, lang)
    if await MAP_SESSION.caller(request, service) is None:
        return _render(request, "signin.html", language)
    return _map(request, language, public=False)


@router.get("/public", response_class=HTMLResponse)
async def public_map(request: Request, lang: Language = None) -> Response:
    return _map(request, language_of(request, lang), public=True)

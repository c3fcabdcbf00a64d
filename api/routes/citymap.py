"""The command-center map's data: every camera with its state, coverage per kecamatan and the
open alerts (``GET /map/view``), and alerts as they open, change and end (``GET /map/stream``,
Server-Sent Events), for operators; the same for everyone under ``/map/public/``, with only the
cameras shared ``public`` and the alerts on them.

An operator's requests carry the operator's key (``Authorization: Bearer``), or come from the map
page signed in with it (its cookie is limited to ``/map``); any other key is refused (403).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.sse import EventSourceResponse, ServerSentEvent

from api.auth import Caller, authenticated, bearer, of_kind
from api.citymap import MapView
from api.pages.session import KeySession
from api.routes.public import public_rate
from api.service import ApiService, service_of
from topics.models import ApiKeyKind

router = APIRouter(prefix="/map", tags=["map"])

#: the map page's sign-in (its cookie is sent with the page's own data requests)
MAP_SESSION = KeySession("/map", ApiKeyKind.OPERATOR)

Service = Annotated[ApiService, Depends(service_of)]


async def map_operator(
    request: Request,
    service: Service,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """The operator asking: by the key in the request, else by the map page's sign-in."""
    if credentials is not None:
        return of_kind(await authenticated(request, service, credentials), ApiKeyKind.OPERATOR)
    caller = await MAP_SESSION.caller(request, service)
    if caller is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "an operator's API key is required: Authorization: Bearer <key>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return caller


Operator = Annotated[Caller, Depends(map_operator)]
PublicRate = Annotated[None, Depends(public_rate)]


# The view is rendered once for every reader (``MapViews``): documented by its model, sent as is.
VIEW_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"model": MapView}}


async def _view(service: ApiService, *, public: bool) -> Response:
    body = await service.map_views.rendered(public=public)
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})


async def _alerts(service: ApiService, *, public: bool) -> AsyncIterator[ServerSentEvent]:
    """``alerts`` (every open one, as a list) first, then ``alert`` (one opened or changed) and
    ``resolved`` (``{"alert_id": ...}``) as they come; in public mode only those on public
    cameras."""
    city = service.city_alerts
    await city.ready()

    def shown(camera_id: str) -> bool:
        return not public or service.cameras.is_public(camera_id)

    with city.following() as changes:
        current = [a.model_dump(mode="json") for a in city.open_alerts() if shown(a.camera_id)]
        yield ServerSentEvent(event="alerts", raw_data=json.dumps(current))
        async for change in changes:
            if not shown(change.camera_id):
                continue
            if change.alert is not None:
                yield ServerSentEvent(
                    event="alert", id=change.alert.alert_id, raw_data=change.alert.model_dump_json()
                )
            elif change.resolved is not None:
                yield ServerSentEvent(
                    event="resolved", raw_data=json.dumps({"alert_id": change.resolved})
                )


@router.get("/view", response_class=Response, responses=VIEW_RESPONSES)
async def operator_view(_caller: Operator, service: Service) -> Response:
    """Every registered camera (its owner and sharing level too), coverage per kecamatan and
    every open alert with the agencies it went to."""
    return await _view(service, public=False)


@router.get("/stream", response_class=EventSourceResponse)
async def operator_stream(_caller: Operator, service: Service) -> AsyncIterator[ServerSentEvent]:
    """Open alerts as Server-Sent Events: `alerts` (the open ones, a JSON list) first, then
    `alert` (one opened or changed) and `resolved` (`{"alert_id": ...}`) as they come."""
    async for event in _alerts(service, public=False):
        yield event


@router.get("/public/view", response_class=Response, responses=VIEW_RESPONSES)
async def public_view(_rate: PublicRate, service: Service) -> Response:
    """The cameras shared publicly (no owner, address or stream details), coverage per kecamatan
    of those cameras, and the open alerts on them. No key."""
    return await _view(service, public=True)


@router.get("/public/stream", response_class=EventSourceResponse)
async def public_stream(_rate: PublicRate, service: Service) -> AsyncIterator[ServerSentEvent]:
    """Open alerts on publicly shared cameras, as `GET /map/stream` gives them. No key."""
    async for event in _alerts(service, public=True):
        yield event

"""The citizens' camera catalog: no key, cached by ETag, rate-limited per client address."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response, status

from api.auth import client_address
from api.service import ApiService, service_of

router = APIRouter(prefix="/public", tags=["public"])

GEOJSON = "application/geo+json"
# Citizens' portals may cache the catalog briefly; a revoked camera is gone within this.
CACHE_CONTROL = "public, max-age=10"


async def public_rate(
    request: Request, service: Annotated[ApiService, Depends(service_of)]
) -> None:
    """Each client address may ask ``TILIK_API_PUBLIC_RATE_PER_MINUTE`` times a minute in all
    (the public catalog and the public map); beyond, 429 with ``Retry-After``."""
    wait = service.public_limit.take(client_address(request) or "unknown")
    if wait > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many requests from this address; try again later",
            headers={"Retry-After": str(math.ceil(wait))},
        )


@router.get(
    "/cameras",
    response_class=Response,
    responses={
        200: {"content": {GEOJSON: {}}, "description": "A GeoJSON FeatureCollection."},
        304: {"description": "Unchanged since the ETag given in If-None-Match."},
        429: {"description": "Too many requests from this client; see Retry-After."},
    },
)
async def public_cameras(
    service: Annotated[ApiService, Depends(service_of)],
    _rate: Annotated[None, Depends(public_rate)],
    if_none_match: Annotated[str | None, Header(max_length=1024)] = None,
) -> Response:
    """Every camera its owner shares publicly: name, site type, kecamatan and kelurahan,
    coordinates, status and the stream gateway's viewing URL; nothing about its owner or device."""
    rendered = service.cameras.render()
    headers = {"ETag": rendered.etag, "Cache-Control": CACHE_CONTROL}
    if if_none_match is not None and rendered.etag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(rendered.body, media_type=GEOJSON, headers=headers)

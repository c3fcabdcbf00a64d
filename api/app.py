"""The FastAPI application of ``tilik api``: its routes, guards and the service they serve from.

OpenAPI is at ``/openapi.json`` (``/docs`` and ``/redoc`` render it). ``/health`` says whether
the service holds its state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError

from api.accesslog import AccessLog
from api.guards import BodyLimit, invalid_request, known_query_only
from api.pages import business as business_page
from api.pages import citymap as map_page
from api.pages import inbox as inbox_page
from api.routes import agency, citymap, keys, public, recorders, tenant
from api.service import ApiService
from core import __version__

DESCRIPTION = """\
Tilik over HTTP. Agencies read and acknowledge their dispatches and follow new ones
(Server-Sent Events); businesses (tenants) register their sites (an edge agent's, or a recorder
the city reaches, its password sealed) and choose what each of their cameras shares; the operator
manages API keys and watches the city on the command-center map (cameras, coverage, open alerts
live); citizens get the public camera catalog (GeoJSON, no key) and the public map. Every other
request carries an API key: `Authorization: Bearer tk_...`.
"""


def create_app(service: ApiService) -> FastAPI:
    """The application over ``service``, which it starts and stops with itself."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service:
            yield

    app = FastAPI(
        title="Tilik API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(known_query_only)],
    )
    app.state.service = service
    app.add_middleware(BodyLimit)
    app.add_middleware(AccessLog)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.include_router(public.router)
    app.include_router(agency.router)
    app.include_router(keys.router)
    app.include_router(tenant.router)
    app.include_router(recorders.router)
    app.include_router(inbox_page.router)
    app.include_router(business_page.router)
    app.include_router(citymap.router)
    app.include_router(map_page.router)

    @app.get("/health", tags=["public"])
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app

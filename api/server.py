"""The HTTP server ``tilik api serve`` runs: uvicorn over the application, one process."""

from __future__ import annotations

import uvicorn

from api.app import create_app
from api.service import ApiService


def api_server(service: ApiService, *, host: str, port: int) -> uvicorn.Server:
    """A server for ``service`` on ``host:port`` (0: a free port). Logging stays Tilik's own
    (``core.logconfig``); the server does not name itself in a header."""
    config = uvicorn.Config(
        create_app(service),
        host=host,
        port=port,
        log_config=None,
        server_header=False,
        # api.accesslog logs each request without its query string.
        access_log=False,
        lifespan="on",
    )
    return uvicorn.Server(config)

"""The HTTP server ``tilik api serve`` runs: uvicorn over the application, one process; and the
same server in a thread of its own, for programs that embed it (tests, benchmarks)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def serving_in_thread(service: ApiService, *, timeout_s: float = 60.0) -> Iterator[str]:
    """``service`` on a free loopback port in a thread of its own until the block ends; yields
    its base URL once it answers."""
    server = api_server(service, host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.run, name="tilik-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("tilik api did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)

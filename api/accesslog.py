"""One log line per request: method, path, status, client, duration. Never the query string or a
header: a key pasted into a URL or an ``Authorization`` header stays out of the log."""

from __future__ import annotations

import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("api.access")
# Paths are ids and names; an absurdly long one is cut.
_MAX_PATH = 200


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.monotonic()
        answered: list[int] = []

        async def noted(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered.append(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, noted)
        finally:
            client = scope.get("client")
            log.info(
                "request",
                method=scope["method"],
                path=str(scope["path"])[:_MAX_PATH],
                status=answered[0] if answered else None,
                client=client[0] if client else None,
                ms=round((time.monotonic() - began) * 1000, 1),
            )

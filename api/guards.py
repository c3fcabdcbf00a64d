"""What the API refuses before any handler runs, each with a reason: bodies over the size limit
(413), malformed JSON (400), bodies and parameters of the wrong shape or type, unknown fields
(422) and query parameters no endpoint declares (400). A reason names where the input is wrong
and why, never the input itself (it may be a secret pasted in the wrong place)."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from topics.reader import TopicNotFound

_PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")
#: the largest request body accepted (the API's bodies are a few hundred bytes)
MAX_BODY_BYTES = 16 * 1024


def _too_large() -> tuple[int, bytes]:
    detail = f"request body larger than {MAX_BODY_BYTES} bytes"
    return status.HTTP_413_CONTENT_TOO_LARGE, json.dumps({"detail": detail}).encode()


class BodyLimit:
    """ASGI middleware: a body over ``MAX_BODY_BYTES`` is refused whether it announces its length
    or not (chunked), before the handler sees any of it. The body is read here, at most one byte
    past the limit, and handed on whole."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            await _answer(send, *_too_large())
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its body
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > MAX_BODY_BYTES:
                await _answer(send, *_too_large())
                return
            if not message.get("more_body", False):
                break
        pending: list[Message] = [
            {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        ]

        async def replay() -> Message:
            return pending.pop() if pending else await receive()

        await self.app(scope, replay, send)


async def _answer(send: Send, code: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": code,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _where(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location) or "request"


def _reason(error: Any) -> dict[str, str]:
    location = tuple(error.get("loc", ()))
    if error.get("type") == "extra_forbidden":
        # The last part is the unknown field's name: input, so not repeated.
        return {"where": _where(location[:-1]), "reason": "an unknown field is not accepted here"}
    return {"where": _where(location), "reason": str(error.get("msg", "invalid"))}


async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """A request that does not validate: where and why, without echoing the input."""
    assert isinstance(exc, RequestValidationError)
    errors = [_reason(error) for error in exc.errors()]
    malformed = any(error.get("type") == "json_invalid" for error in exc.errors())
    code = status.HTTP_400_BAD_REQUEST if malformed else status.HTTP_422_UNPROCESSABLE_CONTENT
    summary = "the body is not valid JSON" if malformed else "the request does not validate"
    return JSONResponse({"detail": summary, "errors": errors}, status_code=code)


def _query_names(dependant: Dependant) -> set[str]:
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def known_query_only(request: Request) -> None:
    """Refuses a query parameter the endpoint does not declare (an ``agency=`` filter, a typo):
    silently ignoring it would answer a question that was not asked."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    unknown = sorted(set(request.query_params) - _query_names(route.dependant))
    if unknown:
        named = [name for name in unknown if _PARAMETER_NAME.match(name)]
        others = f" and {len(unknown) - len(named)} other(s)" if len(named) < len(unknown) else ""
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"unknown query parameter(s): {', '.join(named[:10])}{others}",
        )


@contextlib.contextmanager
def topics_required(missing: str) -> Iterator[None]:
    """A subject's view whose topics are not on the broker is a 503 saying ``missing`` (what the
    operator has not done yet), not a 500."""
    try:
        yield
    except TopicNotFound:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, missing) from None

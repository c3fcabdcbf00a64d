"""A small webhook receiver an agency can run or copy: verifies signatures, refuses stale or forged
requests, and drops repeats by idempotency key before handing each dispatch on.

Run it::

    TILIK_WEBHOOK_SECRET=... python -m hub.delivery.receiver --port 8080 --secret-ref env:TILIK_WEBHOOK_SECRET

Receiving is not acknowledging: it answers ``{"ack": false}``, and the hub records the dispatch
as delivered while escalation goes on until a person at the agency acknowledges the alert (an
``AlertAck`` on the agency's topic). Started with ``--ack`` it answers ``{"ack": true}``, which
the hub records as the agency's acknowledgement: for a desk whose system takes every alert on.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import click
from aiohttp import web
from pydantic import ValidationError

from hub.delivery.signing import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureRejected,
    verify,
)
from topics.models import Dispatch

MAX_BODY_BYTES = 1_100_000

DispatchHandler = Callable[[Dispatch], Awaitable[None]]


@dataclass
class ReceiverState:
    """What the receiver has seen; ``accepted`` holds each dispatch once."""

    secret: bytes
    tolerance_s: float = 300.0
    remember: int = 100_000
    acknowledge: bool = False
    accepted: list[Dispatch] = field(default_factory=list)
    repeats: int = 0
    rejected: int = 0
    _seen: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def first_time(self, idempotency_key: str) -> bool:
        if idempotency_key in self._seen:
            self._seen.move_to_end(idempotency_key)
            return False
        self._seen[idempotency_key] = None
        if len(self._seen) > self.remember:
            self._seen.popitem(last=False)
        return True


def make_receiver_app(
    state: ReceiverState,
    *,
    path: str = "/tilik",
    on_dispatch: DispatchHandler | None = None,
    middlewares: Iterable[Callable[..., Awaitable[web.StreamResponse]]] = (),
) -> web.Application:
    async def receive(request: web.Request) -> web.Response:
        # client_max_size bounds the body: larger requests are refused with 413 before this.
        body = await request.read()
        try:
            verify(
                state.secret,
                request.headers.get(TIMESTAMP_HEADER),
                body,
                request.headers.get(SIGNATURE_HEADER),
                now=time.time(),
                tolerance_s=state.tolerance_s,
            )
        except SignatureRejected as exc:
            state.rejected += 1
            return web.json_response({"error": str(exc)}, status=401)
        try:
            dispatch = Dispatch.model_validate_json(body)
        except ValidationError:
            state.rejected += 1
            return web.json_response({"error": "not a Tilik dispatch"}, status=400)
        key = request.headers.get(IDEMPOTENCY_HEADER) or dispatch.idempotency_key
        if state.first_time(key):
            if on_dispatch is not None:
                await on_dispatch(dispatch)
            state.accepted.append(dispatch)
        else:
            state.repeats += 1
        return web.json_response({"ack": state.acknowledge})

    app = web.Application(middlewares=list(middlewares), client_max_size=MAX_BODY_BYTES)
    app.router.add_post(path, receive)
    return app


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8080, show_default=True)
@click.option("--path", default="/tilik", show_default=True)
@click.option(
    "--secret-ref", required=True, help="env:VAR or file:/path holding the shared secret."
)
@click.option(
    "--tolerance",
    type=float,
    default=300.0,
    show_default=True,
    help="Max clock difference, seconds.",
)
@click.option(
    "--ack",
    is_flag=True,
    help="Answer every accepted dispatch with an acknowledgement (escalation stops); by default "
    "a dispatch is only received.",
)
def main(host: str, port: int, path: str, secret_ref: str, tolerance: float, ack: bool) -> None:
    """Receive Tilik dispatches and print each new one as a JSON line."""
    from core.secrets import resolve_secret

    secret = resolve_secret(secret_ref).get_secret_value().encode("utf-8")
    state = ReceiverState(secret=secret, tolerance_s=tolerance, acknowledge=ack)

    async def show(dispatch: Dispatch) -> None:
        click.echo(dispatch.model_dump_json())

    web.run_app(
        make_receiver_app(state, path=path, on_dispatch=show), host=host, port=port, print=None
    )


if __name__ == "__main__":
    main()

"""Pieces every device simulator needs: HTTP digest/basic auth for aiohttp servers, a loopback
site runner, and the ``tilik simulate NAME`` command, so each vendor simulator writes only its
vendor's endpoints.

    app = web.Application(middlewares=[device_auth_middleware({"admin": "pw"}, realm="Cam")])
    async with run_loopback_site(app) as port:
        ...

A connector names its simulator's command on its class (``Connector.simulator``); the command is
usually ``simulator_command(name, MyFleet, help=...)``: the options every simulator takes
(``--devices``, ``--username``, ``--password``, ``--event-rate``, ``--seed``), the fleet's
addresses printed one a line once every device listens, and serving until SIGINT or SIGTERM.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import secrets
import signal
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Literal, Protocol

import click
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from core.collector import tune_gc
from core.settings import get_settings


def _md5(text: str) -> str:
    # RFC 7616 digest: MD5 is the algorithm cameras speak, not a security choice of ours.
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def _parse_digest(header: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in _split_params(header):
        key, sep, value = part.partition("=")
        if sep:
            fields[key.strip().lower()] = value.strip().strip('"')
    return fields


def _split_params(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def device_auth_middleware(
    users: Mapping[str, str],
    *,
    realm: str = "Tilik Simulator",
    scheme: Literal["digest", "basic"] = "digest",
    exempt: Callable[[web.Request], bool] | None = None,
) -> Middleware:
    """aiohttp middleware answering 401 with a challenge unless the request is authenticated.

    ``users`` may be changed at run time (a test can rotate a password)."""
    nonces: set[str] = set()

    def challenge() -> web.Response:
        if scheme == "basic":
            value = f'Basic realm="{realm}"'
        else:
            nonce = secrets.token_hex(16)
            nonces.add(nonce)
            value = f'Digest realm="{realm}", qop="auth", nonce="{nonce}", algorithm=MD5'
        return web.Response(status=401, headers={"WWW-Authenticate": value}, text="unauthorized")

    def authorised(request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        kind, _, rest = header.partition(" ")
        if scheme == "basic" and kind.lower() == "basic":
            try:
                user, _, password = base64.b64decode(rest).decode("utf-8").partition(":")
            except ValueError:
                return False
            known = users.get(user)
            return known is not None and hmac.compare_digest(known, password)
        if scheme != "digest" or kind.lower() != "digest":
            return False
        fields = _parse_digest(rest)
        user, nonce = fields.get("username", ""), fields.get("nonce", "")
        stored = users.get(user)
        if stored is None or nonce not in nonces:
            return False
        ha1 = _md5(f"{user}:{fields.get('realm', '')}:{stored}")
        ha2 = _md5(f"{request.method}:{fields.get('uri', '')}")
        if fields.get("qop"):
            expected = _md5(
                f"{ha1}:{nonce}:{fields.get('nc', '')}:{fields.get('cnonce', '')}:{fields['qop']}:{ha2}"
            )
        else:
            expected = _md5(f"{ha1}:{nonce}:{ha2}")
        return hmac.compare_digest(expected, fields.get("response", ""))

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if (exempt is not None and exempt(request)) or authorised(request):
            return await handler(request)
        return challenge()

    return middleware


@asynccontextmanager
async def run_loopback_site(
    app: web.Application, *, port: int = 0, host: str = "127.0.0.1"
) -> AsyncIterator[int]:
    """Serve ``app`` on a loopback address (``host``, 127.0.0.1 unless a test needs another of
    127.0.0.0/8; port 0: any free port) and yield the port."""
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"simulated devices listen on loopback only, not {host}")
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


class SimulatedFleet(Protocol):
    """Simulated devices served while the context is entered, at ``addresses`` (host:port each)."""

    @property
    def addresses(self) -> Sequence[str]: ...

    async def __aenter__(self) -> Any: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> Any: ...


async def serve_until_stopped(
    fleet: SimulatedFleet, *, announce: Callable[[], None] | None = None
) -> None:
    """Serve ``fleet``: print one address a line once every device listens (then ``announce``),
    and keep serving until SIGINT or SIGTERM, which end it cleanly (exit 0)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with fleet:
        # A fleet answers thousands of requests a second for as long as it runs, and what is set
        # up now lives as long: the hub worker's collector settings (core.collector).
        tune_gc()
        for address in fleet.addresses:
            sys.stdout.write(f"{address}\n")
        sys.stdout.flush()
        if announce is not None:
            announce()
        await stop.wait()


def default_sim_password() -> str:
    """``--password``'s default: the ``sim_password`` setting (``TILIK_SIM_PASSWORD``)."""
    return get_settings().sim_password.get_secret_value()


#: the ``--password`` option of every ``tilik simulate`` command
password_option = click.option(
    "--password",
    default=default_sim_password,
    show_default="TILIK_SIM_PASSWORD, else tilik-sim",
    help="The password every simulated device accepts (for the onboarding config's secret).",
)


def simulator_command(
    name: str,
    make_fleet: Callable[..., SimulatedFleet],
    *,
    help: str,
    options: Sequence[Callable[[Any], Any]] = (),
    default_event_rate: float = 1.0,
) -> click.Command:
    """``tilik simulate NAME``: runs ``make_fleet(devices=, username=, password=, event_rate=,
    seed=, **options)`` until stopped, printing one address a line. ``options`` are click option
    decorators for the simulator's own switches (channels, faults, …)."""

    def run(**values: Any) -> None:
        asyncio.run(serve_until_stopped(make_fleet(**values)))

    command: Callable[..., None] = run
    for option in reversed(options):
        command = option(command)
    for option in (
        click.option("--seed", type=int, default=1, show_default=True, help="Selects serials."),
        click.option(
            "--event-rate",
            type=click.FloatRange(0, 10_000),
            default=default_event_rate,
            show_default=True,
            help="Events per second each device generates by itself (0: none).",
        ),
        password_option,
        click.option("--username", default="admin", show_default=True),
        click.option("--devices", type=click.IntRange(1, 10_000), default=1, show_default=True),
    ):
        command = option(command)
    return click.command(name=name, help=help)(command)

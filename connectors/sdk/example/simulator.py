"""A simulated recorder for the example connector, served on loopback for tests and demos.

A real aiohttp server with digest auth, a long-poll event queue, events it generates by itself
at a rate, and switches for malformed and oversized answers. ``tilik simulate example`` serves a
fleet of them (``simulate`` below, named by ``ExampleConnector.simulator``)::

    tilik simulate example --devices 3 --password s3cret --event-rate 2
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import click
from aiohttp import web

from connectors.sdk.conformance import CorruptionMode, SimulatedDevice
from connectors.sdk.example.connector import EVENT_KINDS, ExampleConfig
from connectors.sdk.secrets import camera_secret_env
from connectors.sdk.simulator import device_auth_middleware, run_loopback_site, simulator_command

OVERSIZED_BYTES = 8 * 1024 * 1024
#: events a recorder keeps for long polls; older ones are gone, as on a device with a ring buffer
EVENT_BUFFER = 10_000
# Where the conformance configs' credentials are: variables of the camera secrets namespace.
PASSWORD_ENV = camera_secret_env("EXAMPLE_PASSWORD")
WRONG_PASSWORD_ENV = camera_secret_env("EXAMPLE_WRONG_PASSWORD")


class SimulatedRecorder:
    """The device's state: channels, an event log, and how it misbehaves."""

    def __init__(
        self,
        *,
        serial: str = "EXV-0001",
        channels: int = 2,
        username: str = "admin",
        password: str | None = None,
        event_rate: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.serial = serial
        self.channels = channels
        # No password given: a random one, which only the caller that reads it can use.
        self.users = {username: password if password is not None else secrets.token_urlsafe(12)}
        self.username = username
        #: events per second the recorder generates by itself while served (0: only ``emit``)
        self.event_rate = event_rate
        self.mode: CorruptionMode = "normal"
        self.offline_channels: set[int] = set()
        self.events: list[dict[str, Any]] = []
        #: events dropped from the front of ``events`` (their numbers are 1..dropped)
        self.dropped = 0
        self._rng = random.Random(f"{serial}:{seed}")
        self._new_event = asyncio.Condition()

    @property
    def password(self) -> str:
        return self.users[self.username]

    async def emit(
        self, event_type: str = "motion", channel: int = 0, active: bool | None = True
    ) -> None:
        """Append one event to the log and wake every long poll."""
        async with self._new_event:
            self.events.append(
                {
                    "seq": self.dropped + len(self.events) + 1,
                    "type": event_type,
                    "channel": channel,
                    "time": datetime.now(UTC).isoformat(),
                    "active": active,
                }
            )
            if len(self.events) > EVENT_BUFFER:
                del self.events[0]
                self.dropped += 1
            self._new_event.notify_all()

    async def generate_events(self) -> None:
        """Emit events of every known type on random channels, ``event_rate`` a second on average."""
        kinds = sorted(EVENT_KINDS)
        while self.event_rate > 0:
            await asyncio.sleep(self._rng.expovariate(self.event_rate))
            await self.emit(self._rng.choice(kinds), self._rng.randrange(self.channels))

    async def set_mode(self, mode: CorruptionMode) -> None:
        self.mode = mode
        async with self._new_event:
            self._new_event.notify_all()

    # --- HTTP ------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(
            middlewares=[device_auth_middleware(self.users, realm="ExampleVision")]
        )
        app.router.add_get("/api/device", self._device)
        app.router.add_get("/api/status", self._status)
        app.router.add_get("/api/events", self._events)
        return app

    async def _answer(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        if self.mode == "malformed":
            return web.Response(body=b'{"serial": <not json', content_type="application/json")
        if self.mode == "oversized":
            # Chunked, no Content-Length: the client's cap must hold while reading.
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            await response.prepare(request)
            chunk = b" " * 65536
            try:
                for _ in range(OVERSIZED_BYTES // len(chunk)):
                    await response.write(chunk)
            except (ConnectionResetError, RuntimeError):
                pass
            return response
        return web.json_response(body)

    async def _device(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(
            request,
            {
                "serial": self.serial,
                "model": "EXV-NVR4",
                "firmware": "1.2.0",
                "mac": None,
                "channels": [
                    {"channel": n, "name": f"Channel {n + 1}"} for n in range(self.channels)
                ],
            },
        )

    async def _status(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(
            request,
            {
                "channels": [
                    {"channel": n, "online": n not in self.offline_channels}
                    for n in range(self.channels)
                ]
            },
        )

    async def _events(self, request: web.Request) -> web.StreamResponse:
        try:
            after = int(request.query.get("after", "0"))
            wait = min(float(request.query.get("wait", "1")), 30.0)
        except ValueError:
            return web.Response(status=400, text="bad query")
        async with self._new_event:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._new_event.wait_for(
                        lambda: self.dropped + len(self.events) > after or self.mode != "normal"
                    )
        start = max(after - self.dropped, 0)
        return await self._answer(request, {"events": self.events[start : start + 100]})


@asynccontextmanager
async def running_recorder(
    recorder: SimulatedRecorder | None = None,
) -> AsyncIterator[tuple[SimulatedRecorder, int]]:
    """Serve a recorder on loopback (generating its events, if it has a rate); yields it and its port."""
    device = recorder or SimulatedRecorder()
    async with run_loopback_site(device.app()) as port:
        generator = asyncio.create_task(device.generate_events())
        try:
            yield device, port
        finally:
            generator.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await generator


class RecorderFleet:
    """``devices`` recorders, each on its own loopback port, all with one user and password."""

    def __init__(
        self,
        *,
        devices: int = 1,
        channels: int = 2,
        username: str = "admin",
        password: str,
        event_rate: float = 1.0,
        seed: int = 1,
    ) -> None:
        self.recorders = [
            SimulatedRecorder(
                serial=f"EXV-{seed:04d}-{index:05d}",
                channels=channels,
                username=username,
                password=password,
                event_rate=event_rate,
                seed=seed,
            )
            for index in range(devices)
        ]
        self.ports: list[int] = []
        self._stack = AsyncExitStack()

    @property
    def addresses(self) -> list[str]:
        return [f"127.0.0.1:{port}" for port in self.ports]

    async def __aenter__(self) -> RecorderFleet:
        async with AsyncExitStack() as stack:
            for recorder in self.recorders:
                _, port = await stack.enter_async_context(running_recorder(recorder))
                self.ports.append(port)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()


simulate = simulator_command(
    "example",
    RecorderFleet,
    help="Serve simulated ExampleVision recorders on loopback, one address a line.",
    options=[
        click.option(
            "--channels",
            type=click.IntRange(1, 256),
            default=2,
            show_default=True,
            help="Cameras behind each recorder.",
        )
    ],
)


@asynccontextmanager
async def conformance_device() -> AsyncIterator[SimulatedDevice]:
    """The simulator the conformance kit runs the example connector against."""
    async with running_recorder() as (recorder, port):
        yield SimulatedDevice(
            config=ExampleConfig(
                address=f"127.0.0.1:{port}",
                credential_ref=f"admin@env:{PASSWORD_ENV}",
                timeout_s=5,
                poll_wait_s=1,
            ),
            bad_credentials_config=ExampleConfig(
                address=f"127.0.0.1:{port}",
                credential_ref=f"admin@env:{WRONG_PASSWORD_ENV}",
                timeout_s=5,
            ),
            secrets={
                PASSWORD_ENV: recorder.password,
                WRONG_PASSWORD_ENV: secrets.token_urlsafe(12),
            },
            expected_cameras=recorder.channels,
            trigger_event=recorder.emit,
            corrupt=recorder.set_mode,
        )

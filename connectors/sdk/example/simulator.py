"""A simulated recorder for the example connector, served on loopback for tests and demos.

A real aiohttp server with digest auth, a long-poll event queue, and switches for malformed and
oversized answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from connectors.sdk.conformance import CorruptionMode, SimulatedDevice
from connectors.sdk.example.connector import ExampleConfig
from connectors.sdk.secrets import camera_secret_env
from connectors.sdk.simulator import device_auth_middleware, run_loopback_site

OVERSIZED_BYTES = 8 * 1024 * 1024
# Where the conformance configs' credentials are: variables of the camera secrets namespace.
PASSWORD_ENV = camera_secret_env("EXAMPLE_PASSWORD")
WRONG_PASSWORD_ENV = camera_secret_env("EXAMPLE_WRONG_PASSWORD")


class SimulatedRecorder:
    """The device's state: channels, an event log, and how it misbehaves."""

    def __init__(
        self, *, serial: str = "EXV-0001", channels: int = 2, username: str = "admin"
    ) -> None:
        self.serial = serial
        self.channels = channels
        self.users = {username: secrets.token_urlsafe(12)}
        self.username = username
        self.mode: CorruptionMode = "normal"
        self.offline_channels: set[int] = set()
        self.events: list[dict[str, Any]] = []
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
                    "seq": len(self.events) + 1,
                    "type": event_type,
                    "channel": channel,
                    "time": datetime.now(UTC).isoformat(),
                    "active": active,
                }
            )
            self._new_event.notify_all()

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
                        lambda: len(self.events) > after or self.mode != "normal"
                    )
        return await self._answer(request, {"events": self.events[after : after + 100]})


@asynccontextmanager
async def running_recorder(
    recorder: SimulatedRecorder | None = None,
) -> AsyncIterator[tuple[SimulatedRecorder, int]]:
    """Serve a recorder on loopback; yields it and its port."""
    device = recorder or SimulatedRecorder()
    async with run_loopback_site(device.app()) as port:
        yield device, port


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

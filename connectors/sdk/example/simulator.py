"""A simulated recorder for the example connector, served on loopback for tests, demos and the kit.

Built on the SDK's simulated devices (``connectors.sdk.simulation``): digest auth, a numbered
multipart event stream (``event_rate`` events a second, or each one ``emit()`` asks for), fault
injection and corruption modes come from there; this module writes only the device's endpoints
and payloads.

``simulate`` is a click command serving a fleet of them (``--devices 2 --channels 4``: one
address a line, until interrupted).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from aiohttp import web

from connectors.sdk.example.connector import EVENT_TABLE, HEARTBEAT, ExampleConfig, ExampleConnector
from connectors.sdk.simulation.cli import simulator_command
from connectors.sdk.simulation.device import DeviceFleet, StreamingDevice
from connectors.sdk.simulation.testing import VendorKit, conformance_simulator

#: attributes each event type carries
ATTRIBUTES: dict[str, dict[str, Any]] = {
    "motion": {"region": "Zone 1"},
    "line": {"direction": "left_to_right", "object": "person"},
}


class ExampleDevice(StreamingDevice):
    """One ExampleVision recorder; its channels are the cameras."""

    realm = "ExampleVision"
    boundary = "exampleboundary"
    stream_path = "/api/events"
    part_content_type = "application/json"

    @classmethod
    def default_codes(cls) -> Sequence[str]:
        return list(EVENT_TABLE)

    @property
    def serial(self) -> str:
        return f"EXV-{self.seed:09d}-{self.index:04d}"

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/device", self.device_info),
            web.get("/api/channels", self.channel_list),
        ]

    async def device_info(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "serial": self.reported_serial,
                "model": "EXV-NVR4",
                "firmware": "1.2.0",
                "mac": None,
                "name": f"Recorder {self.index:03d}",
            }
        )

    async def channel_list(self, request: web.Request) -> web.Response:
        channels = [
            {
                "channel": _number(self.channel_label(n)),
                "name": f"Channel {n}",
                "online": self.channel_online(n),
            }
            for n in range(1, self.channels + 1)
        ]
        return web.json_response({"channels": channels})

    def render_event(self, seq: int, code: str, channel: int, at: datetime) -> bytes:
        return _json(
            {
                "seq": seq,
                "type": code,
                "channel": channel,
                "time": at.isoformat(),
                "active": True,
                "attributes": ATTRIBUTES.get(code, {}),
            }
        )

    def render_malformed(self, seq: int, code: str, at: datetime, bad_number: str) -> bytes:
        body = self.render_event(seq, code, 1, at).decode()
        return body.replace('"channel": 1', f'"channel": "{bad_number}"', 1).encode()

    def render_heartbeat(self, at: datetime) -> bytes:
        return _json({"type": HEARTBEAT, "time": at.isoformat()})


class ExampleSimulator(DeviceFleet[ExampleDevice]):
    """N simulated recorders: ``async with ExampleSimulator(devices=2, channels=4) as sim``."""

    device_class = ExampleDevice


@asynccontextmanager
async def running_recorder(
    *, channels: int = 2, event_rate: float = 0.0, **options: Any
) -> AsyncIterator[ExampleDevice]:
    """One recorder on loopback with a password of its own and a serial no other run shares
    (``seed``); events only when ``emit()`` asks, unless ``event_rate`` says otherwise."""
    options.setdefault("password", secrets.token_urlsafe(12))
    options.setdefault("seed", secrets.randbelow(10**9))
    async with ExampleSimulator(channels=channels, event_rate=event_rate, **options) as simulator:
        yield simulator.devices[0]


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value).encode()


def _number(label: str) -> int | str:
    # A channel number as the device writes it: ``superscript_channel`` makes it a string.
    return int(label) if label.isascii() else label


#: the connector with its simulator, for the SDK's test helpers
EXAMPLE_KIT = VendorKit("example", ExampleConnector, ExampleConfig, ExampleSimulator)

#: the simulator the conformance kit runs the example connector against
conformance_device = conformance_simulator(EXAMPLE_KIT)

simulate = simulator_command(
    "example",
    ExampleSimulator,  # type: ignore[arg-type]
    "Simulated ExampleVision recorders (JSON API, digest auth, multipart event stream) on loopback.",
)

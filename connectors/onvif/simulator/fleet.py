"""A fleet of simulated ONVIF cameras on loopback: per-camera ports or per-camera 127.x.y.z addresses."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from connectors.onvif.simulator.device import CameraIdentity, MediaServices, VirtualCamera
from connectors.onvif.simulator.discovery import DiscoveryResponder
from connectors.onvif.simulator.faults import FaultPlan
from connectors.onvif.simulator.notify import NotificationSender
from connectors.onvif.simulator.server import CameraServer
from connectors.onvif.simulator.variants import VariantReplay, load_variants
from core.lifecycle import Lifecycle

HostMode = Literal["ports", "addresses"]
EVENT_TICK_SECONDS = 0.1
DEFAULT_ADDRESS_BASE = "127.100.0.0"


def loopback_addresses(base: str = DEFAULT_ADDRESS_BASE) -> Iterator[str]:
    """Distinct loopback addresses after ``base``, skipping .0 and .255 host parts."""
    start = ipaddress.IPv4Address(base)
    network = ipaddress.IPv4Network("127.0.0.0/8")
    candidate = start + 1
    while candidate in network:
        if candidate.packed[-1] not in (0, 255):
            yield str(candidate)
        candidate += 1


class OnvifFleet(Lifecycle):
    """N simulated cameras served from one process; use as ``async with OnvifFleet(...) as fleet``."""

    def __init__(
        self,
        cameras: int,
        *,
        username: str = "admin",
        password: str = "",
        event_rate: float = 0.0,
        faults: FaultPlan | None = None,
        host_mode: HostMode = "ports",
        base_port: int = 0,
        address_base: str = DEFAULT_ADDRESS_BASE,
        seed: int = 0,
        discovery_port: int | None = None,
        discovery_multicast: bool = False,
        variants: Path | None = None,
        media: MediaServices = "media",
        video_sources: int = 1,
    ) -> None:
        if cameras < 0:
            raise ValueError("cameras must not be negative")
        if host_mode not in ("ports", "addresses"):
            raise ValueError(f"host_mode must be 'ports' or 'addresses', not {host_mode!r}")
        if event_rate < 0:
            raise ValueError("event_rate must not be negative")
        self.host_mode = host_mode
        self.base_port = base_port
        self.address_base = address_base
        self.seed = seed
        self.discovery_port = discovery_port
        self.discovery_multicast = discovery_multicast
        plan = faults or FaultPlan()
        recorded = load_variants(variants) if variants is not None else None
        self.cameras: list[VirtualCamera] = []
        for index in range(cameras):
            rng = random.Random(f"{seed}/{index}")
            self.cameras.append(
                VirtualCamera(
                    index,
                    CameraIdentity.generate(index, rng, seed),
                    username=username,
                    password=password,
                    event_rate=event_rate,
                    faults=plan,
                    rng=rng,
                    variants=VariantReplay(recorded) if recorded else None,
                    media=media,
                    video_sources=video_sources,
                )
            )
        self.server = CameraServer()
        self.notifications = NotificationSender()
        for camera in self.cameras:
            camera.notifier = self.notifications
        self.discovery: DiscoveryResponder | None = None
        self._ticker: asyncio.Task[None] | None = None

    @property
    def addresses(self) -> list[str]:
        """``host:port`` of every camera, in camera order."""
        return [camera.address for camera in self.cameras]

    def camera_at(self, address: str) -> VirtualCamera:
        for camera in self.cameras:
            if camera.address == address:
                return camera
        raise KeyError(address)

    async def start(self) -> None:
        await self.server.start()
        try:
            await self._bind_all()
            if self.discovery_port is not None:
                responder = DiscoveryResponder(
                    self.cameras, port=self.discovery_port, multicast=self.discovery_multicast
                )
                await responder.start()
                self.discovery = responder
        except BaseException:
            await self.server.stop()
            raise
        self._ticker = asyncio.create_task(self._emit_events(), name="onvif-sim-events")

    async def _bind_all(self) -> None:
        if self.host_mode == "ports":
            for offset, camera in enumerate(self.cameras):
                port = self.base_port + offset if self.base_port else 0
                await self.server.bind(camera, "127.0.0.1", port)
            return
        port = self.base_port
        for camera, host in zip(self.cameras, loopback_addresses(self.address_base), strict=False):
            # Without a fixed port, the first camera's free port becomes everyone's common port.
            _host, port = await self.server.bind(camera, host, port)

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self.discovery is not None:
            self.discovery.close()
            self.discovery = None
        for camera in self.cameras:
            # Wake blocked PullMessages and silenced requests so shutdown does not wait for them.
            camera.subscriptions.drop_all()
            camera.answer_again()
        await self.notifications.close()
        await self.server.stop()

    async def _emit_events(self) -> None:
        """Raise events at each camera's rate while anyone is subscribed to it."""
        loop = asyncio.get_running_loop()
        credit = [camera.rng.random() for camera in self.cameras]
        last = loop.time()
        while True:
            await asyncio.sleep(EVENT_TICK_SECONDS)
            now = loop.time()
            elapsed, last = now - last, now
            for index, camera in enumerate(self.cameras):
                if camera.event_rate <= 0 or not camera.subscriptions.active:
                    continue
                credit[index] += camera.event_rate * elapsed
                while credit[index] >= 1.0:
                    credit[index] -= 1.0
                    camera.emit_random()

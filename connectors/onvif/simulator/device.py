"""A virtual ONVIF camera: identity, clock, media profiles, event source and fault state."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import random
import uuid
from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import quote

from connectors.onvif.simulator.events import (
    TOPICS,
    TOPICS_BY_NAME,
    EventGenerator,
    SimulatedEvent,
    TopicSpec,
)
from connectors.onvif.simulator.faults import Fault, FaultPlan, FaultState
from connectors.onvif.simulator.subscriptions import Notifier, SubscriptionManager
from connectors.onvif.simulator.variants import VariantReplay
from connectors.onvif.simulator.vendors import (
    KECAMATAN,
    SITES,
    VENDORS,
    Vendor,
    stream_profiles,
)
from connectors.onvif.simulator.wsse import NonceCache

#: which media services a camera offers: Media (ver10), Media2 (ver20, Profile T), or both
MediaServices = Literal["media", "media2", "both"]


@dataclass(frozen=True)
class CameraIdentity:
    """What a camera says about itself; stable across address changes and reboots."""

    endpoint_uuid: str
    serial: str
    mac: str
    name: str
    kecamatan: str
    model: str
    hardware_id: str
    vendor: Vendor
    has_ptz: bool

    @property
    def endpoint_reference(self) -> str:
        return f"urn:uuid:{self.endpoint_uuid}"

    @property
    def scopes(self) -> tuple[str, ...]:
        base = "onvif://www.onvif.org"
        return (
            f"{base}/type/video_encoder",
            f"{base}/type/Network_Video_Transmitter",
            f"{base}/Profile/Streaming",
            f"{base}/Profile/T",
            f"{base}/name/{quote(self.name)}",
            f"{base}/location/country/Indonesia",
            f"{base}/location/city/Semarang",
            f"{base}/location/kecamatan/{quote(self.kecamatan)}",
            f"{base}/hardware/{quote(self.model)}",
            f"{base}/manufacturer/{quote(self.vendor.manufacturer)}",
        )

    @classmethod
    def generate(cls, index: int, rng: random.Random, seed: int) -> CameraIdentity:
        vendor = VENDORS[index % len(VENDORS)]
        model = rng.choice(vendor.models)
        # Serial and MAC are unique within a fleet (index-based) and differ between seeds.
        seed_offset = int.from_bytes(
            hashlib.sha256(f"tilik-onvif-sim/{seed}".encode()).digest()[:4]
        )
        low = ((seed_offset + index) % 2**24).to_bytes(3, "big")
        mac = vendor.mac_prefix + "".join(f":{byte:02x}" for byte in low)
        kecamatan = KECAMATAN[index % len(KECAMATAN)]
        site = rng.choice(SITES)
        return cls(
            endpoint_uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"tilik-onvif-sim/{seed}/{index}")),
            serial=f"{vendor.serial_prefix}{(seed_offset + index) % 10**9:09d}",
            mac=mac,
            name=f"{site} {kecamatan} {index + 1:05d}",
            kecamatan=kecamatan,
            model=model,
            hardware_id=f"{rng.randrange(0x10000):04X}",
            vendor=vendor,
            has_ptz=model.startswith(("DS-2DE", "SD", "Q6")),
        )


class SocketBinder(Protocol):
    """What serves a camera: gives it a listening socket and takes it away."""

    async def bind(self, camera: VirtualCamera, host: str, port: int) -> tuple[str, int]: ...

    async def unbind(self, camera: VirtualCamera) -> None: ...


class VirtualCamera:
    """One simulated camera; the fleet binds it to a socket and routes its requests here."""

    def __init__(
        self,
        index: int,
        identity: CameraIdentity,
        *,
        username: str,
        password: str,
        event_rate: float,
        faults: FaultPlan,
        rng: random.Random,
        topics: tuple[TopicSpec, ...] = TOPICS,
        variants: VariantReplay | None = None,
        media: MediaServices = "media",
        video_sources: int = 1,
    ) -> None:
        self.index = index
        self.identity = identity
        self.username = username
        self._password = password
        self.event_rate = event_rate
        self.rng = rng
        self.fault_state = FaultState(faults, rng)
        self.clock_offset = dt.timedelta(seconds=faults.clock_offset)
        #: an encoder or recorder has several video sources, each with its own profiles
        self.profiles = stream_profiles(identity.vendor, video_sources)
        #: a Media2-only camera (many H.265 models) names no Media service and refuses its calls
        self.media: MediaServices = media
        self.events = EventGenerator(identity.vendor.event_style, topics, rng)
        #: recorded notifications raised in turn instead of drawn ones (``variants.py``)
        self.variants = variants
        self.subscriptions = SubscriptionManager(self.now, self)
        #: sends this camera's push notifications (the fleet's); None: push is refused
        self.notifier: Notifier | None = None
        #: whether this camera's Notify messages reach their consumers (False: behind NAT)
        self.reaches_consumers = True
        self.nonces = NonceCache()
        self.host = "127.0.0.1"
        self.port = 0
        self.boot_time = self.now()
        self.reboots = 0
        self.online = True
        self._answering = asyncio.Event()
        self._answering.set()
        self._binder: SocketBinder | None = None

    def __repr__(self) -> str:
        return f"VirtualCamera({self.index}, {self.address}, serial={self.serial!r})"

    @property
    def password(self) -> str:
        return self._password

    @property
    def serial(self) -> str:
        return self.identity.serial

    @property
    def mac(self) -> str:
        return self.identity.mac

    @property
    def endpoint_reference(self) -> str:
        return self.identity.endpoint_reference

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def device_url(self) -> str:
        return f"{self.base_url}/onvif/device_service"

    @property
    def faults(self) -> FaultPlan:
        return self.fault_state.plan

    @faults.setter
    def faults(self, plan: FaultPlan) -> None:
        self.fault_state.plan = plan
        self.clock_offset = dt.timedelta(seconds=plan.clock_offset)

    def now(self) -> dt.datetime:
        """The camera's clock, which may be far from true time."""
        return dt.datetime.now(dt.UTC) + self.clock_offset

    def attach(self, binder: SocketBinder, host: str, port: int) -> None:
        self._binder = binder
        self.host, self.port = host, port

    @property
    def binder(self) -> SocketBinder:
        if self._binder is None:
            raise RuntimeError("camera is not served by a fleet")
        return self._binder

    async def move_to(self, target: int | str) -> str:
        """Listen elsewhere (a port, or an ``address[:port]``) keeping identity; returns the address."""
        if isinstance(target, int):
            host, port = self.host, target
        else:
            host, _, port_text = target.partition(":")
            port = int(port_text) if port_text else self.port
        self.host, self.port = await self.binder.bind(self, host, port)
        return self.address

    async def power_off(self) -> None:
        """Stop answering: the listener closes, open connections drop, subscriptions are lost."""
        if self.online:
            await self.binder.unbind(self)
            self.subscriptions.drop_all()
            self.online = False

    async def power_on(self) -> None:
        """Come back at the same address after a power cycle (counts as a reboot)."""
        if not self.online:
            await self.binder.bind(self, self.host, self.port)
            self.online = True
            self.reboot()

    @property
    def silent(self) -> bool:
        return not self._answering.is_set()

    def go_silent(self) -> None:
        """Keep accepting connections and requests but answer none (a black-hole proxy, a hung
        firmware): every request waits until ``answer_again()``."""
        self._answering.clear()

    def answer_again(self) -> None:
        """End the silence: waiting requests are answered, new ones at once."""
        self._answering.set()

    async def until_answering(self) -> None:
        await self._answering.wait()

    def reboot(self) -> None:
        """Restart: every subscription is lost, the boot time moves on."""
        self.subscriptions.drop_all()
        self.boot_time = self.now()
        self.reboots += 1

    def inject(
        self,
        topic: str,
        source: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
        *,
        operation: str = "Changed",
    ) -> SimulatedEvent:
        """Queue an event for every current subscriber; missing Source/Data take the topic's defaults."""
        spec = TOPICS_BY_NAME.get(topic) or TopicSpec(
            topic, TOPICS[0].source, (), is_property=False
        )
        event = self.events.build(
            spec,
            self.now(),
            source=tuple(source.items()) if source else None,
            data=tuple(data.items()) if data else None,
            operation=operation,
        )
        self.subscriptions.publish(event)
        return event

    def emit_random(self) -> SimulatedEvent:
        """The next event: a drawn one, or the next recorded variant when replaying."""
        if self.variants is not None:
            event: SimulatedEvent = self.variants.next_event(self.now())
        else:
            event = self.events.random_event(self.now())
        self.subscriptions.publish(event)
        return event

    def force_fault(self, fault: Fault | str, times: int = 1) -> None:
        """Make the next ``times`` responses suffer ``fault`` (``xxe`` hits PullMessages only)."""
        self.fault_state.force(fault, times)

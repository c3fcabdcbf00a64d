"""Simulated vendor devices on loopback: digest auth, numbered multipart event streams, faults.

A vendor simulator subclasses ``StreamingDevice`` with its endpoints and payload renderers;
``DeviceFleet`` runs N of them, each on its own port. Events are numbered per device (``seq``),
and their device time is ``epoch + seq`` seconds, so a test can tell exactly which events
arrived; ``damaged`` holds the numbers of parts a fault cut in half (``drop``) or replaced by a
malformed one (``badpart``, also in ``malformed``). Streams open at the
same time see the same events, as on a real device; a reopened stream resumes after the last
event delivered, so a test can count losses exactly.

A device streams ``event_rate`` events a second by itself (codes and channels in turn); with
``event_rate`` 0 it streams heartbeats, and each event ``emit()`` asks for as soon as it is asked.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import random
from collections.abc import Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta, timezone
from typing import ClassVar, Generic, TypeVar

from aiohttp import web

from connectors.sdk.simulation.faults import (
    BAD_NUMBER,
    NO_BLANK_LINE,
    SHORT_LENGTH,
    Faults,
    FaultyPartWriter,
    Handler,
    ReauthDemand,
    frame_part,
    slow_middleware,
)
from connectors.sdk.simulator import device_auth_middleware, run_loopback_site
from core.lifecycle import Lifecycle

DEFAULT_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
#: Semarang's time zone, in which simulated devices write local times
WIB = timezone(timedelta(hours=7))
# Smallest valid JPEG (1x1 grey): enough for a client to fetch and decode a snapshot.
SNAPSHOT_JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c1912"
    "130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffc0000b0800"
    "01000101011100ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc400b5100002"
    "010303020403050504040000017d01020300041105122131410613516107227114328191a1082342b1c11552d1f024"
    "33627282090a161718191a25262728292a3435363738393a434445464748494a535455565758595a63646566676869"
    "6a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4"
    "c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda0008010100003f00fbd3"
    "ffd9"
)
#: what answers look like (``set_corruption``):
#:   normal, malformed (broken bodies and event parts), oversized (bodies and parts past the
#:   caps), silent (connections accepted, nothing answered, not even a challenge), huge_header
#:   (every answer but the event stream carries a ``HUGE_HEADER_BYTES`` header), long_serial
#:   (the serial number is ``LONG_SERIAL_CHARS`` long), superscript_channel (channel ids are
#:   written in superscript digits, which ``str.isdigit`` accepts and ``int`` refuses)
CORRUPTION_MODES = (
    "normal",
    "malformed",
    "oversized",
    "silent",
    "huge_header",
    "long_serial",
    "superscript_channel",
)
#: larger than the connectors' default response and event-part caps
OVERSIZED_BYTES = 3 * 1024 * 1024
HUGE_HEADER_BYTES = 4 * 1024 * 1024
LONG_SERIAL_CHARS = 300
MALFORMED_BODY = b"\x00\xff<EventNotificationAlert><eventType>vmd</event"
_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


class StreamingDevice(abc.ABC):
    """One simulated camera or recorder; subclasses add the vendor's endpoints and payloads."""

    realm: ClassVar[str]
    boundary: ClassVar[str]
    stream_path: ClassVar[str]
    stream_media_type: ClassVar[str] = "multipart/mixed"
    part_content_type: ClassVar[str]

    def __init__(
        self,
        *,
        index: int,
        channels: int,
        username: str,
        password: str,
        event_rate: float,
        faults: Faults,
        max_events: int | None,
        codes: Sequence[str] | None,
        epoch: datetime,
        heartbeat_s: float,
        seed: int,
    ) -> None:
        self.index = index
        self.channels = channels
        self.username = username
        self.users = {username: password}
        self.event_rate = event_rate
        self.faults = faults
        self.max_events = max_events
        self.codes = list(codes) if codes else list(self.default_codes())
        self.epoch = epoch
        self.heartbeat_s = heartbeat_s
        self.rng = random.Random(seed * 7919 + index)
        self.seed = seed
        #: where a new event stream starts: after the last event a closed stream sent
        self.resume_seq = 0
        self.damaged: set[int] = set()
        #: events the ``badpart`` fault replaced by a malformed part
        self.malformed: set[int] = set()
        self.stream_connections = 0
        self.reauth = ReauthDemand()
        self.port = 0
        #: the loopback address it listens on (``DeviceFleet``'s ``host``)
        self.host = "127.0.0.1"
        self._stream_tasks: set[asyncio.Task[object]] = set()
        #: one of ``CORRUPTION_MODES``: what answers and event parts look like
        self.corruption = "normal"
        self._answering = asyncio.Event()
        self._answering.set()
        #: channels whose camera a recorder reports unreachable (every tenth, unless changed)
        self.offline_channels: set[int] = {
            channel for channel in range(1, channels + 1) if channels > 1 and channel % 10 == 0
        }
        #: events ``emit`` asked for, by number (a device with ``event_rate`` 0 streams only these)
        self.emitted: list[tuple[str, int]] = []
        self._event_emitted = asyncio.Condition()

    @property
    def password(self) -> str:
        """The password of the device's first user (change ``users`` to rotate it)."""
        return self.users[self.username]

    @property
    @abc.abstractmethod
    def serial(self) -> str:
        """The device's serial number."""

    @property
    def reported_serial(self) -> str:
        """The serial number as the device reports it (``long_serial`` pads it)."""
        if self.corruption == "long_serial":
            return self.serial.ljust(LONG_SERIAL_CHARS, "X")
        return self.serial

    def channel_label(self, number: int) -> str:
        """A channel id as the device writes it (``superscript_channel``: ``¹²``)."""
        text = str(number)
        return text.translate(_SUPERSCRIPT) if self.corruption == "superscript_channel" else text

    @property
    def is_recorder(self) -> bool:
        """More than one channel: an NVR/DVR rather than a single camera."""
        return self.channels > 1

    # --- vendor hooks --------------------------------------------------------------------

    @abc.abstractmethod
    def routes(self) -> list[web.RouteDef]:
        """The vendor's request/response endpoints (the event stream is added here)."""

    @classmethod
    @abc.abstractmethod
    def default_codes(cls) -> Sequence[str]:
        """The event codes streamed when the caller names none."""

    @abc.abstractmethod
    def render_event(self, seq: int, code: str, channel: int, at: datetime) -> bytes:
        """Body of the part carrying event ``seq``."""

    @abc.abstractmethod
    def render_heartbeat(self, at: datetime) -> bytes:
        """Body of the keepalive part sent while no event is due."""

    @abc.abstractmethod
    def render_malformed(self, seq: int, code: str, at: datetime, bad_number: str) -> bytes:
        """Body of event ``seq`` with ``bad_number`` where its channel number belongs."""

    # --- shared machinery ----------------------------------------------------------------

    async def snapshot(self, request: web.Request) -> web.Response:
        """A snapshot endpoint's answer: a valid one-pixel JPEG."""
        return web.Response(body=SNAPSHOT_JPEG, content_type="image/jpeg")

    def channel_online(self, channel: int) -> bool:
        """Whether the device reports the camera of ``channel`` reachable (``offline_channels``)."""
        return channel not in self.offline_channels

    async def emit(self, code: str, channel: int = 1) -> None:
        """Stream event ``code`` on ``channel`` next, to every open and later event stream (a
        device whose ``event_rate`` is 0; its streams otherwise carry only heartbeats)."""
        if self.event_rate > 0:
            raise RuntimeError("emit() is for a device with event_rate 0; this one streams alone")
        async with self._event_emitted:
            self.emitted.append((code, channel))
            self._event_emitted.notify_all()

    def _due(self, seq: int) -> tuple[str, int] | None:
        """Code and channel of event ``seq`` when it is due now, else None (a heartbeat instead)."""
        if self.event_rate <= 0:
            return self.emitted[seq] if seq < len(self.emitted) else None
        if self.max_events is not None and seq >= self.max_events:
            return None
        return self.codes[seq % len(self.codes)], seq % self.channels + 1

    async def _until_emitted(self, seq: int, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for event ``seq`` to be emitted."""
        async with self._event_emitted:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._event_emitted.wait_for(lambda: seq < len(self.emitted)), timeout_s
                )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def event_time(self, seq: int) -> datetime:
        return self.epoch + timedelta(seconds=seq)

    def seq_of(self, device_time: datetime) -> int:
        """Inverse of ``event_time``: which event a received device time belongs to."""
        return round((device_time - self.epoch).total_seconds())

    def application(self) -> web.Application:
        app = web.Application(
            middlewares=[
                self._silence_middleware,
                slow_middleware(self.faults),
                self.reauth.middleware(self.realm),
                device_auth_middleware(self.users, realm=self.realm),
                self._corrupting_middleware,
            ]
        )
        app.add_routes([*self.routes(), web.get(self.stream_path, self.event_stream)])
        return app

    def stop_streams(self) -> None:
        """End every open event stream (they never end on their own)."""
        for task in list(self._stream_tasks):
            task.cancel()

    def set_corruption(self, mode: str) -> None:
        if mode not in CORRUPTION_MODES:
            raise ValueError(f"corruption mode must be one of {CORRUPTION_MODES}")
        self.corruption = mode
        if mode == "silent":
            self._answering.clear()
        else:
            self._answering.set()

    @web.middleware
    async def _silence_middleware(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        await request.read()
        await self._answering.wait()
        return await handler(request)

    @web.middleware
    async def _corrupting_middleware(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        if request.path == self.stream_path:
            return await handler(request)
        if self.corruption == "oversized":
            return web.Response(body=b"<" + b"A" * OVERSIZED_BYTES, content_type="application/xml")
        if self.corruption == "malformed":
            return web.Response(body=MALFORMED_BODY, content_type="application/xml")
        response = await handler(request)
        if self.corruption == "huge_header":
            response.headers["X-Padding"] = "x" * HUGE_HEADER_BYTES
        return response

    async def event_stream(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is not None:
            self._stream_tasks.add(task)
            task.add_done_callback(self._stream_tasks.discard)
        return await self._serve_events(request)

    def _lax_framing(self, seq: int) -> str | None:
        """How the ``lax`` fault frames event ``seq`` (None: as a strict device would)."""
        if not self.faults.lax:
            return None
        return {3: NO_BLANK_LINE, 4: SHORT_LENGTH}.get(seq % self.faults.every_parts)

    async def _serve_events(self, request: web.Request) -> web.StreamResponse:
        self.stream_connections += 1
        response = web.StreamResponse(
            headers={"Content-Type": f"{self.stream_media_type}; boundary={self.boundary}"}
        )
        await response.prepare(request)
        delimiter = b"--" + self.boundary.encode("latin-1")
        writer = FaultyPartWriter(response, self.faults, delimiter, self.rng)
        interval = 1.0 / self.event_rate if self.event_rate > 0 else None
        seq = self.resume_seq
        try:
            while True:
                due = self._due(seq)
                if due is None:
                    body = self.render_heartbeat(datetime.now(UTC))
                    await writer.write(frame_part(delimiter, self.part_content_type, body))
                    if interval is None:
                        await self._until_emitted(seq, self.heartbeat_s)
                    else:
                        await asyncio.sleep(self.heartbeat_s)
                    continue
                code, channel = due
                body = self.render_event(seq, code, channel, self.event_time(seq))
                if self.corruption == "malformed":
                    body = MALFORMED_BODY
                elif self.corruption == "oversized":
                    body = b"A" * OVERSIZED_BYTES
                every = self.faults.every_parts
                frame = frame_part(
                    delimiter, self.part_content_type, body, lax=self._lax_framing(seq)
                )
                if self.faults.badpart and seq % every == 1:
                    self.damaged.add(seq)
                    self.malformed.add(seq)
                    bad = self.render_malformed(seq, code, self.event_time(seq), BAD_NUMBER)
                    frame = frame_part(
                        delimiter, self.part_content_type, bad, content_length=BAD_NUMBER
                    )
                if self.faults.drop and (seq + 1) % every == 0:
                    self.damaged.add(seq)
                    seq += 1
                    await writer.write_truncated(frame, request)
                    return response
                await writer.write(frame)
                seq += 1
                # Half-way between drops, so both faults happen when both are on.
                if self.faults.reauth and seq % every == every // 2 + 1:
                    self.reauth.armed = True
                    return response
                if interval is not None:
                    await asyncio.sleep(interval)
        except ConnectionError:
            return response
        finally:
            self.resume_seq = max(self.resume_seq, seq)


D = TypeVar("D", bound=StreamingDevice)


class DeviceFleet(Lifecycle, Generic[D]):
    """N simulated devices of one vendor, each on its own loopback port.

    ``async with HikvisionSimulator(devices=2, channels=32) as sim: sim.addresses``
    """

    device_class: ClassVar[type[StreamingDevice]]

    def __init__(
        self,
        *,
        devices: int = 1,
        channels: int = 1,
        username: str = "admin",
        password: str = "tilik-sim",  # noqa: S107 - the simulator's own default, not a secret
        event_rate: float = 2.0,
        faults: Faults | str | None = None,
        max_events: int | None = None,
        codes: Sequence[str] | None = None,
        epoch: datetime = DEFAULT_EPOCH,
        heartbeat_s: float = 1.0,
        seed: int = 1,
        first_index: int = 0,
        host: str = "127.0.0.1",
    ) -> None:
        parsed = faults if isinstance(faults, Faults) else Faults.parse(faults)
        self.devices: list[D] = [
            self.device_class(  # type: ignore[misc]
                index=first_index + i,
                channels=channels,
                username=username,
                password=password,
                event_rate=event_rate,
                faults=parsed,
                max_events=max_events,
                codes=codes,
                epoch=epoch,
                heartbeat_s=heartbeat_s,
                seed=seed,
            )
            for i in range(devices)
        ]
        for device in self.devices:
            device.host = host
        self._stack: AsyncExitStack | None = None

    @property
    def addresses(self) -> list[str]:
        return [device.address for device in self.devices]

    async def start(self) -> None:
        """Serve every device, each on a free loopback port."""
        stack = AsyncExitStack()
        try:
            for device in self.devices:
                device.port = await stack.enter_async_context(
                    run_loopback_site(device.application(), host=device.host)
                )
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack

    async def stop(self) -> None:
        stack, self._stack = self._stack, None
        for device in self.devices:
            device.stop_streams()
            device.set_corruption("normal")  # silenced requests end, not hold up the shutdown
        if stack is not None:
            await stack.aclose()

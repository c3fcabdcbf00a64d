"""What every vendor-HTTP connector shares: identity, registry records, health and the event stream.

A vendor subclass supplies only its wire format: how to read the device's identity and channels,
its stream paths, the path of its multipart event stream, a parser from one part to
``VendorEvent``\\ s, and its mapping table. Everything else (HTTP via ``connectors.sdk.http``,
reconnection, multipart framing, dead-letter records, ids) lives here once.

A part that cannot be read (refused by the framing, by the vendor parser or by the catalog model)
becomes one ``UnparsedEvent`` of kind ``device_input`` and the stream goes on with the next part
on the same connection: the parsers raise nothing but ``DeviceDataError`` (their fuzz tests prove
it), so a bad part never costs a reconnect or the parts after it.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, ClassVar, TypeVar

import structlog
from pydantic import Field

from connectors.sdk.base import CheckResult, Connector, ConnectorConfig, UnparsedEvent
from connectors.sdk.channels import ChannelCamera, ChannelMap, refs_config
from connectors.sdk.devicedata import device_model
from connectors.sdk.errors import AuthenticationError, DeviceDataError, RetriableError
from connectors.sdk.http import DeviceHttp
from connectors.sdk.lifecycle import Closed, until_closed
from connectors.sdk.mapping import DeviceContext, EventMapper, EventRule, VendorEvent
from connectors.sdk.multipart import (
    DEFAULT_MAX_PART_BYTES,
    DiscardedPart,
    MultipartStreamParser,
    Part,
    boundary_from_content_type,
)
from connectors.sdk.reconnect import reconnecting
from connectors.sdk.records import registry_record
from connectors.sdk.wire import Response
from core.backoff import Backoff
from topics.identity import camera_id as make_camera_id
from topics.identity import device_id as make_device_id
from topics.identity import normalise_mac
from topics.models import (
    CameraRecord,
    CameraState,
    CameraStatus,
    Capabilities,
    DeadLetterKind,
    DeviceEvent,
    StreamProfile,
    utcnow,
)

log = structlog.get_logger(__name__)

#: how much of an unusable part is kept in its dead-letter record
UNPARSED_PAYLOAD_CHARS = 64 * 1024


class VendorConfig(ConnectorConfig):
    """Config of one Hikvision/Dahua camera or recorder."""

    rtsp_port: int = Field(default=554, ge=1, le=65535)
    stream_idle_timeout_s: float = Field(
        default=30.0, gt=0, le=600, description="A silent event stream is reopened after this."
    )
    reconnect_initial_s: float = Field(default=1.0, gt=0, le=60)
    reconnect_max_s: float = Field(default=60.0, gt=0, le=3600)
    max_event_part_bytes: int = Field(default=DEFAULT_MAX_PART_BYTES, gt=0, le=16 * 1024 * 1024)


@dataclass(frozen=True)
class DeviceIdentity:
    """What the device says about itself; the serial number is its identity."""

    serial: str
    model: str | None = None
    name: str | None = None
    firmware: str | None = None
    mac: str | None = None
    device_type: str | None = None


@dataclass(frozen=True)
class StreamPath:
    """One stream every channel has; ``{channel}`` in a field is the channel's number."""

    name: str
    token: str
    rtsp_path: str
    snapshot_path: str | None = None


@dataclass(frozen=True)
class ChannelInfo:
    """One video channel: 1-based number, title, and online state where the device reports it;
    ``refs`` are how the device's events name it (``connectors.sdk.channels``)."""

    number: int
    name: str | None = None
    online: bool | None = None
    refs: tuple[str, ...] = ()


ConfigT = TypeVar("ConfigT", bound=VendorConfig)


class VendorConnector(Connector[ConfigT]):
    """Base of the vendor-HTTP connectors; subclasses fill in the wire-format hooks."""

    vendor: ClassVar[str]
    event_table: ClassVar[Mapping[str, EventRule]]
    event_codes_case_sensitive: ClassVar[bool] = True
    default_boundary: ClassVar[str]
    #: the streams of each channel (main, sub, ...), as RTSP and snapshot paths
    streams: ClassVar[tuple[StreamPath, ...]]

    def __init__(self, config: ConfigT, *, state: dict[str, Any] | None = None) -> None:
        super().__init__(config, state=state)
        self._http: DeviceHttp | None = None
        self._closed = asyncio.Event()
        self.mapper = EventMapper(self.event_table, case_sensitive=self.event_codes_case_sensitive)

    # --- vendor hooks ------------------------------------------------------------------

    @abc.abstractmethod
    async def read_identity(self, http: DeviceHttp) -> DeviceIdentity:
        """Model, serial, firmware... from the device (raises the SDK errors)."""

    @abc.abstractmethod
    async def read_channels(self, http: DeviceHttp, identity: DeviceIdentity) -> list[ChannelInfo]:
        """The device's video channels (one for a camera, many for a recorder)."""

    def stream_profiles(self, channel: int) -> list[StreamProfile]:
        """The channel's streams (``streams``, one row each), without credentials."""
        host, port = self.rtsp_host(), self.config.rtsp_port
        return [
            StreamProfile(
                token=stream.token.format(channel=channel),
                name=stream.name,
                rtsp_uri=f"rtsp://{host}:{port}{stream.rtsp_path.format(channel=channel)}",
                snapshot_uri=(
                    f"{self.config.base_url}{stream.snapshot_path.format(channel=channel)}"
                    if stream.snapshot_path
                    else None
                ),
            )
            for stream in self.streams
        ]

    @abc.abstractmethod
    def event_stream_request(self) -> tuple[str, dict[str, str]]:
        """Path and query of the multipart event stream."""

    @abc.abstractmethod
    def parse_part(self, part: Part) -> list[VendorEvent]:
        """Vendor events in one stream part ([] for keepalives); DeviceDataError if unreadable."""

    # --- contract ------------------------------------------------------------------------

    async def http(self) -> DeviceHttp:
        if self._closed.is_set():
            raise Closed
        if self._http is None:
            self._http = DeviceHttp.for_config(self.config, device=self.config.address)
            await self._http.open()
        return self._http

    async def close(self) -> None:
        self._closed.set()
        http, self._http = self._http, None
        if http is not None:
            await http.close()

    async def check(self) -> CheckResult:
        started = time.perf_counter()
        identity = await self._identify()
        latency = (time.perf_counter() - started) * 1000
        return CheckResult(
            ok=True,
            latency_ms=latency,
            detail=f"{self.vendor} {identity.model or '?'} ({identity.device_type or 'device'})",
        )

    async def discover(self) -> list[CameraRecord]:
        identity = await self._identify()
        channels = await self.read_channels(await self.http(), identity)
        self.state["channels"] = [channel.number for channel in channels]
        now = utcnow()
        records = [self.camera_record(identity, channel, now) for channel in channels]
        self.channels = ChannelMap.from_records(records)
        return records

    async def health(self) -> list[CameraStatus]:
        """One status per channel. An unusable answer (DeviceDataError) is raised: the runtime
        dead-letters it and reports the cameras degraded, since the device answers, not usably."""
        started = time.perf_counter()
        try:
            identity = await self._identify()
            latency = (time.perf_counter() - started) * 1000
            channels = await self.read_channels(await self.http(), identity)
        except AuthenticationError as exc:
            return self._known_statuses(CameraState.UNAUTHORIZED, str(exc))
        except RetriableError as exc:
            return self._known_statuses(CameraState.OFFLINE, str(exc))
        self.state["channels"] = [channel.number for channel in channels]
        now = utcnow()
        return [
            CameraStatus(
                camera_id=self._camera_id(identity.serial, channel.number),
                state=CameraState.OFFLINE if channel.online is False else CameraState.ONLINE,
                checked_at=now,
                latency_ms=latency,
                reason="channel offline on the recorder" if channel.online is False else None,
                connector=self.name,
            )
            for channel in channels
        ]

    async def events(self) -> AsyncIterator[DeviceEvent | UnparsedEvent]:
        try:
            device = await until_closed(self.device_context(), self._closed)
            backoff = Backoff(self.config.reconnect_initial_s, self.config.reconnect_max_s)
            async for item in reconnecting(
                lambda: self._stream_once(device, backoff),
                backoff=backoff,
                device=device.device_id,
                closed=self._closed,
            ):
                yield item
        except Closed:
            return

    # --- shared mechanics ----------------------------------------------------------------

    async def device_context(self) -> DeviceContext:
        """Identity for mapping events: from state when known, else asked of the device."""
        known = self.state.get("identity")
        identity = DeviceIdentity(**known) if isinstance(known, dict) else await self._identify()
        if "channels" not in self.state or not self.channels:
            channels = await self.read_channels(await self.http(), identity)
            self.state["channels"] = [channel.number for channel in channels]
            if not self.channels:
                # Not given the registry's map (records from before channel references, or no
                # runtime): the device's own answer, numbered as discovery numbers it.
                self.channels = self._channel_map(identity, channels)
        numbers = self.state.get("channels") or [1]
        return DeviceContext(
            connector=self.name,
            vendor=self.vendor,
            serial=identity.serial,
            device_id=self._device_id(identity),
            default_channel=min(numbers),
        )

    def events_from_part(
        self, part: Part | DiscardedPart, device: DeviceContext
    ) -> list[DeviceEvent | UnparsedEvent]:
        """Everything one multipart record yields: events, and a dead-letter record for each
        unreadable part or event."""
        if isinstance(part, DiscardedPart):
            return [self._unreadable(device, "multipart", part.reason, part.sample)]
        try:
            parsed = self.parse_part(part)
        except DeviceDataError as exc:
            return [self._unreadable(device, part.content_type or "multipart", str(exc), part.body)]
        received = utcnow()
        out: list[DeviceEvent | UnparsedEvent] = []
        for vendor_event in parsed:
            try:
                mapped = self.mapper.map(
                    vendor_event, device, received_at=received, channels=self.channels
                )
            except DeviceDataError as exc:
                payload = vendor_event.payload.encode("utf-8", "replace")
                out.append(self._unreadable(device, vendor_event.code, str(exc), payload))
                continue
            if mapped is not None:
                out.append(mapped)
        return out

    async def _stream_once(
        self, device: DeviceContext, backoff: Backoff
    ) -> AsyncIterator[DeviceEvent | UnparsedEvent]:
        http = await self.http()
        path, params = self.event_stream_request()
        try:
            async with http.stream(
                path, params=params, idle_timeout_s=self.config.stream_idle_timeout_s
            ) as stream:
                parser = MultipartStreamParser(
                    boundary_from_content_type(stream.content_type, self.default_boundary),
                    max_part_bytes=self.config.max_event_part_bytes,
                )
                # One watcher per connection (not per read): close() ends the pending read.
                watcher = asyncio.create_task(self._close_when_closed(stream.response))
                try:
                    async for chunk in stream:
                        parts = parser.feed(chunk)
                        if parts:
                            # A stream carrying only keepalives is healthy too.
                            backoff.reset()
                        for part in parts:
                            for item in self.events_from_part(part, device):
                                yield item
                finally:
                    watcher.cancel()
        except RetriableError:
            if not self._closed.is_set():
                raise
        if self._closed.is_set():
            raise Closed

    async def _close_when_closed(self, response: Response) -> None:
        await self._closed.wait()
        response.close()

    async def _identify(self) -> DeviceIdentity:
        identity = await self.read_identity(await self.http())
        self.state["identity"] = asdict(identity)
        return identity

    def camera_record(
        self, identity: DeviceIdentity, channel: ChannelInfo, now: datetime
    ) -> CameraRecord:
        """The registry record of one channel; DeviceDataError if the device's values do not fit."""
        with device_model(f"{self.vendor} channel {channel.number}", device=self.config.address):
            return self._record(identity, channel, now)

    def _record(
        self, identity: DeviceIdentity, channel: ChannelInfo, now: datetime
    ) -> CameraRecord:
        # What does not fit the registry follows connectors.sdk.records (cut or refused).
        base_name = identity.name or identity.model or self.vendor
        name = channel.name or (
            base_name
            if channel.number == 1 and len(self.state.get("channels", [])) <= 1
            else f"{base_name} ch{channel.number}"
        )
        return registry_record(
            {
                "camera_id": self._camera_id(identity.serial, channel.number),
                "name": name,
                "connector": self.name,
                "device_id": self._device_id(identity),
                "channel": channel.number,
                "address": self.config.address,
                "credential_ref": self.config.credential_ref,
                "owner": self.config.owner,
                "vendor": self.vendor,
                "model": identity.model,
                "firmware": identity.firmware,
                "serial": identity.serial,
                "mac": _mac_or_none(identity.mac),
                "location": self.config.location,
                "site_type": self.config.site_type,
                "streams": self.stream_profiles(channel.number),
                "connector_config": refs_config(channel.refs),
                "capabilities": Capabilities(events=True),
                "sharing": self.config.sharing,
                "discovered_at": now,
                "updated_at": now,
            },
            device=self.config.address,
        )

    def _known_statuses(self, state: CameraState, reason: str) -> list[CameraStatus]:
        """``state`` for every camera known: the registry's (the channel map the runtime gives
        a watch) and those this connector read from the device itself."""
        cameras = set(self.channels.camera_ids)
        known = self.state.get("identity")
        if isinstance(known, dict):
            cameras.update(
                self._camera_id(known["serial"], number)
                for number in self.state.get("channels") or [1]
            )
        now = utcnow()
        return [
            CameraStatus(
                camera_id=camera,
                state=state,
                checked_at=now,
                reason=reason[:4096],
                connector=self.name,
            )
            for camera in sorted(cameras)
        ]

    def _channel_map(self, identity: DeviceIdentity, channels: list[ChannelInfo]) -> ChannelMap:
        found = ChannelMap()
        for channel in channels:
            camera = ChannelCamera(self._camera_id(identity.serial, channel.number), channel.number)
            found.add(camera, channel.refs)
        return found

    def _camera_id(self, serial: str, channel: int) -> str:
        return make_camera_id(vendor=self.vendor, serial=serial, channel=channel)

    def _device_id(self, identity: DeviceIdentity) -> str:
        return make_device_id(vendor=self.vendor, serial=identity.serial)

    def _unreadable(
        self, device: DeviceContext, topic: str, reason: str, payload: bytes
    ) -> UnparsedEvent:
        return UnparsedEvent(
            device_id=device.device_id,
            vendor_topic=topic[:256],
            payload=payload[:UNPARSED_PAYLOAD_CHARS].decode("utf-8", "replace"),
            reason=reason,
            kind=DeadLetterKind.DEVICE_INPUT,
        )

    def rtsp_host(self) -> str:
        """Host part of the configured address, for stream URIs."""
        address = self.config.address
        if address.startswith("["):
            return address.split("]", 1)[0] + "]"
        return address.rsplit(":", 1)[0] if address.count(":") == 1 else address


def _mac_or_none(mac: str | None) -> str | None:
    if not mac:
        return None
    try:
        return normalise_mac(mac)
    except ValueError:
        return None

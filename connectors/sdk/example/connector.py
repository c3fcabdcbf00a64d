"""A connector for a JSON-over-HTTP camera recorder (the reference ``tilik connectors new`` copies).

The device API:

    GET /api/device                  {"serial", "model", "firmware", "mac", "channels": [{"channel", "name"}]}
    GET /api/status                  {"channels": [{"channel", "online"}]}
    GET /api/events?after=N&wait=S   {"events": [{"seq", "type", "channel", "time", "active"}]}  (long poll)
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field, ValidationError

from connectors.sdk.base import CheckResult, Connector, ConnectorConfig, UnparsedEvent
from connectors.sdk.errors import AuthenticationError, DeviceDataError, RetriableError
from connectors.sdk.http import PAYLOAD_SAMPLE_BYTES, DeviceHttp
from connectors.sdk.lifecycle import Closed, until_closed
from topics.identity import camera_id, device_id, event_id
from topics.models import (
    CameraRecord,
    CameraState,
    CameraStatus,
    Capabilities,
    DeviceEvent,
    EventKind,
    EventSource,
    utcnow,
)

VENDOR = "ExampleVision"

# The device's event types, mapped once to the taxonomy; anything else is an UnparsedEvent.
EVENT_KINDS: dict[str, EventKind] = {
    "motion": EventKind.MOTION,
    "tamper": EventKind.TAMPER,
    "line": EventKind.LINE_CROSSING,
    "videoloss": EventKind.VIDEO_LOSS,
}


class ExampleConfig(ConnectorConfig):
    """Config of one recorder; everything else comes from ``ConnectorConfig``."""

    poll_wait_s: float = Field(default=2.0, gt=0, le=30, description="Long-poll wait per request.")


class _Channel(BaseModel):
    channel: int = Field(ge=0, le=255)
    name: str = Field(max_length=128)


class _DeviceInfo(BaseModel):
    serial: str = Field(min_length=1, max_length=64)
    model: str = Field(max_length=64)
    firmware: str = Field(max_length=64)
    mac: str | None = None
    channels: list[_Channel] = Field(max_length=256)


class _ChannelStatus(BaseModel):
    channel: int
    online: bool


class _Status(BaseModel):
    channels: list[_ChannelStatus] = Field(max_length=256)


class _RawEvent(BaseModel):
    seq: int = Field(ge=0)
    type: str = Field(max_length=64)
    channel: int = Field(ge=0, le=255)
    time: AwareDatetime
    active: bool | None = None


class _EventPage(BaseModel):
    events: list[dict[str, Any]] = Field(max_length=1000)


class ExampleConnector(Connector[ExampleConfig]):
    """One recorder: its channels are the cameras."""

    name = "example"
    config_model = ExampleConfig
    version = "0.1.0"
    simulator = "connectors.sdk.example.simulator:simulate"

    def __init__(self, config: ExampleConfig, *, state: dict[str, Any] | None = None) -> None:
        super().__init__(config, state=state)
        self._http = DeviceHttp.for_config(config)
        self._closed = asyncio.Event()
        self._info: _DeviceInfo | None = None

    # --- device I/O ------------------------------------------------------------------------

    async def _fetch(self, path: str, model: type[Any], **params: str) -> Any:
        await self._http.open()
        result = await self._http.get(path, params=params or None)
        try:
            return model.model_validate(json.loads(result.body))
        except (ValueError, ValidationError) as exc:
            raise DeviceDataError(
                f"GET {path}: answer is not the expected JSON ({type(exc).__name__})",
                device=self.config.address,
                payload=result.body[:PAYLOAD_SAMPLE_BYTES],
            ) from exc

    async def _device_info(self) -> _DeviceInfo:
        if self._info is None:
            self._info = await self._fetch("/api/device", _DeviceInfo)
        return self._info

    def _ids(self, info: _DeviceInfo, channel: int) -> tuple[str, str]:
        return (
            camera_id(vendor=VENDOR, serial=info.serial, channel=channel),
            device_id(vendor=VENDOR, serial=info.serial),
        )

    # --- the contract ----------------------------------------------------------------------

    async def check(self) -> CheckResult:
        started = time.monotonic()
        self._info = None
        info = await self._device_info()
        return CheckResult(
            ok=True,
            latency_ms=(time.monotonic() - started) * 1000,
            detail=f"{info.model} with {len(info.channels)} channels",
        )

    async def discover(self) -> list[CameraRecord]:
        info = await self._device_info()
        now = utcnow()
        records = []
        for channel in info.channels:
            cam, dev = self._ids(info, channel.channel)
            records.append(
                CameraRecord(
                    camera_id=cam,
                    name=channel.name,
                    connector=self.name,
                    device_id=dev,
                    channel=channel.channel,
                    address=self.config.address,
                    credential_ref=self.config.credential_ref,
                    owner=self.config.owner,
                    vendor=VENDOR,
                    model=info.model,
                    firmware=info.firmware,
                    serial=info.serial,
                    location=self.config.location,
                    site_type=self.config.site_type,
                    sharing=self.config.sharing,
                    capabilities=Capabilities(events=True),
                    discovered_at=now,
                    updated_at=now,
                )
            )
        return records

    async def health(self) -> list[CameraStatus]:
        started = time.monotonic()
        info = await self._device_info()
        cameras = {c.channel: self._ids(info, c.channel)[0] for c in info.channels}
        try:
            status = await self._fetch("/api/status", _Status)
        except (RetriableError, AuthenticationError) as exc:
            state = (
                CameraState.UNAUTHORIZED
                if isinstance(exc, AuthenticationError)
                else CameraState.OFFLINE
            )
            return [self._status(cam, state, None, str(exc)) for cam in cameras.values()]
        latency = (time.monotonic() - started) * 1000
        online = {c.channel: c.online for c in status.channels}
        return [
            self._status(
                cam,
                CameraState.ONLINE if online.get(ch) else CameraState.OFFLINE,
                latency,
                None if online.get(ch) else "channel reports no video",
            )
            for ch, cam in cameras.items()
        ]

    def _status(
        self, cam: str, state: CameraState, latency_ms: float | None, reason: str | None
    ) -> CameraStatus:
        return CameraStatus(
            camera_id=cam,
            state=state,
            checked_at=utcnow(),
            latency_ms=latency_ms,
            reason=reason,
            connector=self.name,
        )

    async def events(self) -> AsyncIterator[DeviceEvent | UnparsedEvent]:
        info = await self._device_info()
        while not self._closed.is_set():
            after = int(self.state.get("after", 0))
            try:
                page = await until_closed(
                    self._fetch(
                        "/api/events",
                        _EventPage,
                        after=str(after),
                        wait=f"{self.config.poll_wait_s:g}",
                    ),
                    self._closed,
                )
            except Closed:
                return
            for raw in page.events:
                item = self._normalise(info, raw)
                seq = raw.get("seq")
                if isinstance(seq, int) and seq > after:
                    self.state["after"] = after = seq
                yield item

    def _normalise(self, info: _DeviceInfo, raw: dict[str, Any]) -> DeviceEvent | UnparsedEvent:
        dev = self._ids(info, 0)[1]
        text = json.dumps(raw, default=str)[:PAYLOAD_SAMPLE_BYTES]
        try:
            event = _RawEvent.model_validate(raw)
        except ValidationError as exc:
            return UnparsedEvent(
                dev,
                str(raw.get("type", "?"))[:64],
                text,
                f"invalid event: {exc.error_count()} errors",
            )
        kind = EVENT_KINDS.get(event.type)
        cam = self._ids(info, event.channel)[0]
        if kind is None:
            return UnparsedEvent(dev, event.type, text, "unknown event type", camera_id=cam)
        return DeviceEvent(
            event_id=event_id(
                camera_id=cam,
                vendor_topic=event.type,
                device_time=event.time,
                discriminator=event.seq,
            ),
            camera_id=cam,
            kind=kind,
            active=event.active,
            device_time=event.time,
            received_at=utcnow(),
            source=EventSource(
                connector=self.name, device_id=dev, channel=event.channel, vendor_topic=event.type
            ),
        )

    async def close(self) -> None:
        self._closed.set()
        await self._http.close()

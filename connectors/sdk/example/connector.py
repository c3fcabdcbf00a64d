"""A connector for a JSON-over-HTTP camera recorder (the reference ``tilik connectors new`` copies).

The device API:

    GET /api/device                {"serial", "model", "firmware", "mac", "name"}
    GET /api/channels              {"channels": [{"channel", "name", "online"}]}     (1-based)
    GET /api/events?heartbeat=S    an endless multipart stream, one JSON event per part:
                                   {"seq", "type", "channel", "time", "active", "attributes"};
                                   {"type": "heartbeat", "time"} parts keep it alive

Everything but the device's wire format comes from the SDK: ``VendorConnector`` does identity,
registry records, health, the reconnecting event stream, multipart framing and dead letters;
``EventMapper`` applies ``EVENT_TABLE`` (ids, attributes, unknown types kept and logged once).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import AwareDatetime, BaseModel, Field

from connectors.sdk import (
    ChannelInfo,
    ConnectorConfig,
    DeviceHttp,
    DeviceIdentity,
    EventRule,
    Part,
    StreamPath,
    VendorConfig,
    VendorConnector,
    VendorEvent,
    device_json,
    flatten_json,
)
from topics.models import EventKind

VENDOR = "ExampleVision"
HEARTBEAT = "heartbeat"

# The device's event types, one table row each; anything else becomes an UnparsedEvent.
EVENT_TABLE: dict[str, EventRule] = {
    "motion": EventRule(EventKind.MOTION, fields={"region": ("region",)}),
    "tamper": EventRule(EventKind.TAMPER),
    "line": EventRule(
        EventKind.LINE_CROSSING,
        fields={"direction": ("direction",), "object_class": ("object",)},
    ),
    "videoloss": EventRule(EventKind.VIDEO_LOSS),
}


class ExampleConfig(VendorConfig):
    """Config of one recorder; address, credentials and stream limits come from ``VendorConfig``."""

    heartbeat_s: int = Field(
        default=5, ge=1, le=300, description="Keepalive interval asked of the event stream."
    )


class _DeviceInfo(BaseModel):
    serial: str = Field(min_length=1, max_length=64)
    model: str = Field(max_length=64)
    firmware: str = Field(max_length=64)
    mac: str | None = Field(default=None, max_length=32)
    name: str | None = Field(default=None, max_length=128)


class _Channel(BaseModel):
    channel: int = Field(ge=1, le=256)
    name: str = Field(max_length=128)
    online: bool


class _Channels(BaseModel):
    channels: list[_Channel] = Field(max_length=256)


class _Event(BaseModel):
    seq: int | None = Field(default=None, ge=0)
    type: str = Field(min_length=1, max_length=64)
    channel: int | None = Field(default=None, ge=1, le=256)
    time: AwareDatetime
    active: bool | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class ExampleConnector(VendorConnector[ExampleConfig]):
    """One recorder: its channels are the cameras."""

    name = "example"
    vendor = VENDOR
    version = "0.1.0"
    simulator = "connectors.sdk.example.simulator:simulate"
    config_model: ClassVar[type[ConnectorConfig]] = ExampleConfig
    event_table: ClassVar[dict[str, EventRule]] = EVENT_TABLE
    default_boundary = "exampleboundary"
    # name, profile token, RTSP path
    streams = (
        StreamPath("main", "{channel}-main", "/live/{channel}/main"),
        StreamPath("sub", "{channel}-sub", "/live/{channel}/sub"),
    )

    async def read_identity(self, http: DeviceHttp) -> DeviceIdentity:
        body = await http.get_bytes("/api/device")
        info = device_json(_DeviceInfo, body, what="GET /api/device", device=http.device)
        return DeviceIdentity(
            serial=info.serial,
            model=info.model,
            name=info.name,
            firmware=info.firmware,
            mac=info.mac,
            device_type="NVR",
        )

    async def read_channels(self, http: DeviceHttp, identity: DeviceIdentity) -> list[ChannelInfo]:
        body = await http.get_bytes("/api/channels")
        listed = device_json(_Channels, body, what="GET /api/channels", device=http.device)
        return [ChannelInfo(c.channel, c.name, c.online) for c in listed.channels]

    def event_stream_request(self) -> tuple[str, dict[str, str]]:
        return "/api/events", {"heartbeat": str(self.config.heartbeat_s)}

    def parse_part(self, part: Part) -> list[VendorEvent]:
        event = device_json(_Event, part.body, what="event part", device=self.config.address)
        if event.type == HEARTBEAT:
            return []
        return [
            VendorEvent(
                code=event.type,
                channel=event.channel,
                active=event.active,
                device_time=event.time,
                fields=flatten_json(event.attributes),
                discriminator=None if event.seq is None else str(event.seq),
                payload=part.body.decode("utf-8", "replace"),
            )
        ]

"""Dahua HTTP API connector: cameras and recorder channels, health, eventManager events."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from connectors.private_vendors.dahua.events import EVENT_TABLE, INDEX, MAX_INDEX, parse_event_part
from connectors.sdk.base import ConnectorConfig
from connectors.sdk.channels import channel_ref
from connectors.sdk.devicedata import decimal
from connectors.sdk.errors import DeviceDataError
from connectors.sdk.http import DeviceHttp
from connectors.sdk.keyvalue import indexed_values, parse_key_values
from connectors.sdk.mapping import EventRule, VendorEvent
from connectors.sdk.multipart import Part
from connectors.sdk.vendor import (
    ChannelInfo,
    DeviceIdentity,
    StreamPath,
    VendorConfig,
    VendorConnector,
)

MAGIC_BOX = "/cgi-bin/magicBox.cgi"
CONFIG_MANAGER = "/cgi-bin/configManager.cgi"
EVENT_MANAGER = "/cgi-bin/eventManager.cgi"
LOGIC_DEVICE_MANAGER = "/cgi-bin/LogicDeviceManager.cgi"
_NOT_SUPPORTED = frozenset({400, 404, 405, 501})


class DahuaConfig(VendorConfig):
    """A Dahua camera, NVR or XVR reachable over its HTTP API (digest auth)."""

    heartbeat_s: int = Field(
        default=5, ge=1, le=300, description="Keepalive interval asked of the event stream."
    )


class DahuaConnector(VendorConnector[DahuaConfig]):
    name = "dahua"
    simulator = "connectors.private_vendors.dahua.simulator:simulate_dahua"
    vendor = "dahua"
    version = "0.1.0"
    config_model: ClassVar[type[ConnectorConfig]] = DahuaConfig
    event_table: ClassVar[dict[str, EventRule]] = EVENT_TABLE
    default_boundary = "myboundary"
    streams = tuple(
        StreamPath(
            name,
            token=f"{{channel}}-{subtype}",
            rtsp_path=f"/cam/realmonitor?channel={{channel}}&subtype={subtype}",
            snapshot_path="/cgi-bin/snapshot.cgi?channel={channel}",
        )
        for subtype, name in ((0, "main"), (1, "sub"))
    )

    async def read_identity(self, http: DeviceHttp) -> DeviceIdentity:
        answers: dict[str, str] = {}
        for action in ("getSerialNo", "getDeviceType", "getSoftwareVersion", "getMachineName"):
            answers.update(
                parse_key_values(await http.get_text(MAGIC_BOX, params={"action": action}))
            )
        return parse_identity(answers, device=http.device)

    async def read_channels(self, http: DeviceHttp, identity: DeviceIdentity) -> list[ChannelInfo]:
        result = await http.get(
            CONFIG_MANAGER,
            params={"action": "getConfig", "name": "ChannelTitle"},
            allow_status=_NOT_SUPPORTED,
        )
        titles: dict[int, str] = {}
        if result.status not in _NOT_SUPPORTED:
            titles = parse_channel_titles(result.text())
        if not titles:
            return [ChannelInfo(number=1, name=identity.name, refs=(channel_ref(INDEX, 0),))]
        online = await self._camera_states(http) if identity.device_type != "IPC" else {}
        return [
            ChannelInfo(
                number=index + 1,
                name=titles[index] or None,
                online=online.get(index),
                refs=(channel_ref(INDEX, index),),
            )
            for index in sorted(titles)
        ]

    async def _camera_states(self, http: DeviceHttp) -> dict[int, bool]:
        """Whether a recorder reaches each channel's camera, by 0-based channel index."""
        result = await http.get(
            LOGIC_DEVICE_MANAGER,
            params={"action": "getCameraState", "uniqueChannels[0]": "-1"},
            allow_status=_NOT_SUPPORTED,
        )
        if result.status in _NOT_SUPPORTED:
            return {}
        return parse_camera_states(result.text())

    def event_stream_request(self) -> tuple[str, dict[str, str]]:
        return EVENT_MANAGER, {
            "action": "attach",
            "codes": "[All]",
            "heartbeat": str(self.config.heartbeat_s),
        }

    def parse_part(self, part: Part) -> list[VendorEvent]:
        return parse_event_part(part, device=self.config.address)


def parse_identity(answers: dict[str, str], *, device: str | None) -> DeviceIdentity:
    """The device's identity from its magicBox answers (``sn=``, ``type=``, ``version=``, ``name=``)."""
    serial = answers.get("sn")
    if not serial:
        raise DeviceDataError("magicBox getSerialNo answered without sn=", device=device)
    device_type = answers.get("type")
    return DeviceIdentity(
        serial=serial,
        model=device_type,
        name=answers.get("name"),
        firmware=answers.get("version"),
        device_type=_device_class(device_type),
    )


def parse_channel_titles(text: str) -> dict[int, str]:
    """``table.ChannelTitle[i].Name=…`` lines: title by 0-based channel index."""
    titles = indexed_values(parse_key_values(text), "table.ChannelTitle", "Name")
    return {index: title for index, title in titles.items() if index <= MAX_INDEX}


def parse_camera_states(text: str) -> dict[int, bool]:
    """``states[i].channel`` / ``states[i].connectionState`` lines: whether a recorder reaches each
    channel's camera, by 0-based channel index."""
    values = parse_key_values(text)
    channels = indexed_values(values, "states", "channel")
    states = indexed_values(values, "states", "connectionState")
    online: dict[int, bool] = {}
    for i, channel in channels.items():
        index = decimal(channel, high=MAX_INDEX)
        if index is not None and i in states:
            online[index] = states[i] == "Connected"
    return online


def _device_class(device_type: str | None) -> str | None:
    if not device_type:
        return None
    upper = device_type.upper()
    for kind in ("NVR", "XVR", "DVR", "HCVR"):
        if kind in upper:
            return kind
    return "IPC"

"""Hikvision ISAPI connector: cameras and NVR/DVR proxied channels, health, alertStream events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from connectors.private_vendors.hikvision.events import (
    CHANNEL_ID,
    DYN_CHANNEL_ID,
    EVENT_TABLE,
    MAX_CHANNEL,
    parse_alert_part,
)
from connectors.sdk.base import ConnectorConfig
from connectors.sdk.channels import channel_ref
from connectors.sdk.devicedata import decimal
from connectors.sdk.errors import DeviceDataError
from connectors.sdk.http import PAYLOAD_SAMPLE_BYTES, DeviceHttp
from connectors.sdk.mapping import EventRule, VendorEvent
from connectors.sdk.multipart import Part
from connectors.sdk.vendor import (
    ChannelInfo,
    DeviceIdentity,
    StreamPath,
    VendorConfig,
    VendorConnector,
)
from connectors.sdk.xmlsafe import child_text, iter_named, parse_device_xml

DEVICE_INFO = "/ISAPI/System/deviceInfo"
VIDEO_INPUTS = "/ISAPI/System/Video/inputs/channels"
PROXY_CHANNELS = "/ISAPI/ContentMgmt/InputProxy/channels"
PROXY_STATUS = "/ISAPI/ContentMgmt/InputProxy/channels/status"
ALERT_STREAM = "/ISAPI/Event/notification/alertStream"
# Recorders built for this many analog inputs number their first IP channel after it (33).
_ANALOG_CAPACITY = 32
# A camera answers the recorder-only endpoints with one of these instead of a list.
_NOT_SUPPORTED = frozenset({403, 404, 405})


class HikvisionConfig(VendorConfig):
    """A Hikvision camera, NVR or DVR reachable over ISAPI (HTTP digest auth)."""


class HikvisionConnector(VendorConnector[HikvisionConfig]):
    name = "hikvision"
    vendor = "hikvision"
    version = "0.1.0"
    simulator = "connectors.private_vendors.hikvision.simulator:simulate_hikvision"
    config_model: ClassVar[type[ConnectorConfig]] = HikvisionConfig
    event_table: ClassVar[dict[str, EventRule]] = EVENT_TABLE
    event_codes_case_sensitive = False
    default_boundary = "boundary"
    streams = tuple(
        StreamPath(
            name,
            token=f"{{channel}}{suffix}",
            rtsp_path=f"/Streaming/Channels/{{channel}}{suffix}",
            snapshot_path=f"/ISAPI/Streaming/channels/{{channel}}{suffix}/picture",
        )
        for suffix, name in (("01", "main"), ("02", "sub"))
    )

    async def read_identity(self, http: DeviceHttp) -> DeviceIdentity:
        return parse_device_info(await http.get_bytes(DEVICE_INFO), device=http.device)

    async def read_channels(self, http: DeviceHttp, identity: DeviceIdentity) -> list[ChannelInfo]:
        analog = await self._channel_list(http, VIDEO_INPUTS, "VideoInputChannel")
        proxied: list[tuple[int, str | None]] = []
        online: dict[int, bool] = {}
        if (identity.device_type or "").upper() in ("NVR", "DVR", "HVR"):
            online = await self._proxy_online(http)
            proxied = await self._channel_list(http, PROXY_CHANNELS, "InputProxyChannel")
        channels = reconcile_channels(analog, proxied, online)
        return channels or [
            ChannelInfo(number=1, name=identity.name, refs=(channel_ref(CHANNEL_ID, 1),))
        ]

    def event_stream_request(self) -> tuple[str, dict[str, str]]:
        return ALERT_STREAM, {}

    def parse_part(self, part: Part) -> list[VendorEvent]:
        return parse_alert_part(part, device=self.config.address)

    async def _channel_list(
        self, http: DeviceHttp, path: str, element: str
    ) -> list[tuple[int, str | None]]:
        result = await http.get(path, allow_status=_NOT_SUPPORTED)
        if result.status in _NOT_SUPPORTED:
            return []
        return parse_channel_list(result.body, element, device=http.device)

    async def _proxy_online(self, http: DeviceHttp) -> dict[int, bool]:
        result = await http.get(PROXY_STATUS, allow_status=_NOT_SUPPORTED)
        if result.status in _NOT_SUPPORTED:
            return {}
        return parse_proxy_status(result.body, device=http.device)


def reconcile_channels(
    analog: list[tuple[int, str | None]],
    proxied: list[tuple[int, str | None]],
    online: Mapping[int, bool],
) -> list[ChannelInfo]:
    """A recorder's channels, numbered as its alerts number them: analog inputs by their id, IP
    (InputProxy) channels after the analog ones.

    An alert names an IP channel by ``channelID`` (counted after the analog inputs; firmware of
    recorders built for 32 analog inputs counts from 33 whatever is fitted) and by
    ``dynChannelID`` (the InputProxy id). Some firmware already numbers its InputProxy ids after
    the analog inputs: ids that all lie past them are taken as they are.
    """
    channels = {
        number: ChannelInfo(number=number, name=name, refs=(channel_ref(CHANNEL_ID, number),))
        for number, name in analog
    }
    last_analog = max(channels, default=0)
    offset = 0 if all(pid > last_analog for pid, _name in proxied) else last_analog
    for pid, name in proxied:
        number = pid + offset
        proxy = number - last_analog
        if number in channels or number > MAX_CHANNEL:
            continue  # never let an IP channel take an analog channel's events
        refs = [channel_ref(CHANNEL_ID, number), channel_ref(DYN_CHANNEL_ID, proxy)]
        if pid != proxy:
            refs.append(channel_ref(DYN_CHANNEL_ID, pid))
        if last_analog <= _ANALOG_CAPACITY and proxy + _ANALOG_CAPACITY != number:
            refs.append(channel_ref(CHANNEL_ID, proxy + _ANALOG_CAPACITY))
        channels[number] = ChannelInfo(
            number=number, name=name, online=online.get(pid), refs=tuple(refs)
        )
    return [channels[number] for number in sorted(channels)]


def parse_device_info(body: bytes, *, device: str | None) -> DeviceIdentity:
    """``/ISAPI/System/deviceInfo``: the serial number is required, the rest is optional."""
    root = parse_device_xml(body, device=device, what="deviceInfo")
    serial = child_text(root, "serialNumber")
    if not serial:
        raise DeviceDataError("deviceInfo without serialNumber", device=device, payload=body)
    return DeviceIdentity(
        serial=serial,
        model=child_text(root, "model"),
        name=child_text(root, "deviceName"),
        firmware=child_text(root, "firmwareVersion"),
        mac=child_text(root, "macAddress"),
        device_type=child_text(root, "deviceType"),
    )


def parse_channel_list(
    body: bytes, element: str, *, device: str | None
) -> list[tuple[int, str | None]]:
    """Number and name of each ``element`` (``VideoInputChannel``, ``InputProxyChannel``) in a list.

    An entry without an id is skipped; an id that is not a channel number (``²``, ``0``, past
    ``MAX_CHANNEL``) refuses the list: guessing would put another channel's events on a camera.
    """
    root = parse_device_xml(body, device=device, what=f"{element}List")
    out: list[tuple[int, str | None]] = []
    for node in iter_named(root, element):
        written = child_text(node, "id")
        if written is None:
            continue
        number = decimal(written, low=1, high=MAX_CHANNEL)
        if number is None:
            raise DeviceDataError(
                f"{element} id is not a channel number in 1..{MAX_CHANNEL}",
                device=device,
                payload=body[:PAYLOAD_SAMPLE_BYTES],
            )
        out.append((number, child_text(node, "name")))
    return out


def parse_proxy_status(body: bytes, *, device: str | None) -> dict[int, bool]:
    """Whether an NVR reaches each proxied channel's camera, by channel number."""
    root = parse_device_xml(body, device=device, what="InputProxyChannelStatusList")
    online: dict[int, bool] = {}
    for node in iter_named(root, "InputProxyChannelStatus"):
        number = decimal(child_text(node, "id"), low=1, high=MAX_CHANNEL)
        if number is not None:
            online[number] = (child_text(node, "online") or "").lower() == "true"
    return online

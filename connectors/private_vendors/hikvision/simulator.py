"""Simulated Hikvision cameras and NVRs speaking ISAPI on loopback (``tilik simulate hikvision``).

A device with one channel is an ``IPCamera``; with more it is an ``NVR`` whose channels are
proxied IP cameras (every tenth one offline). With ``analog_channels`` it is a hybrid recorder
(``HVR``): its first channels are analog video inputs, the rest proxied IP cameras, whose alerts
say ``channelID`` counted after the analog inputs and ``dynChannelID`` the InputProxy id, as
real recorders do. The alertStream carries numbered ``EventNotificationAlert`` documents shaped
like real firmware output.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from aiohttp import web

from connectors.private_vendors.variants import replay, retimed
from connectors.sdk.simulation.cli import simulator_command
from connectors.sdk.simulation.device import WIB, DeviceFleet, StreamingDevice

NAMESPACE = "http://www.hikvision.com/ver20/XMLSchema"

_REGION = (
    "<DetectionRegionList><DetectionRegionEntry><regionID>{region}</regionID>"
    "<sensitivityLevel>50</sensitivityLevel><RegionCoordinatesList><RegionCoordinates>"
    "<positionX>120</positionX><positionY>340</positionY></RegionCoordinates>"
    "</RegionCoordinatesList>{target}</DetectionRegionEntry></DetectionRegionList>"
)
_HUMAN = "<detectionTarget>human</detectionTarget>"

#: per code: (eventDescription, extra elements); ``{region}``, ``{plate}``, ``{count}`` filled in
EVENT_TEMPLATES: dict[str, tuple[str, str]] = {
    "VMD": ("Motion alarm", _REGION.replace("{target}", "")),
    "linedetection": ("linedetection alarm", _REGION.replace("{target}", _HUMAN)),
    "fielddetection": ("fielddetection alarm", _REGION.replace("{target}", _HUMAN)),
    "regionEntrance": ("regionEntrance alarm", _REGION.replace("{target}", _HUMAN)),
    "regionExiting": ("regionExiting alarm", _REGION.replace("{target}", _HUMAN)),
    "tamperdetection": ("Tamper alarm", ""),
    "shelteralarm": ("Shelter alarm", ""),
    "videoloss": ("videoloss alarm", ""),
    "illegalParking": (
        "illegalParking alarm",
        _REGION.replace("{target}", "")
        + "<ANPR><licensePlate>{plate}</licensePlate></ANPR><duration>300</duration>",
    ),
    "peopleGathering": (
        "peopleGathering alarm",
        _REGION.replace("{target}", "")
        + "<PeopleGathering><peopleNum>{count}</peopleNum></PeopleGathering>",
    ),
    "ANPR": (
        "ANPR",
        "<ANPR><country>ID</country><licensePlate>{plate}</licensePlate>"
        "<confidenceLevel>92</confidenceLevel><direction>forward</direction>"
        "<vehicleType>car</vehicleType></ANPR>",
    ),
    "diskfull": ("diskfull", "<hdNo>1</hdNo>"),
    "diskerror": ("diskerror", "<hdNo>1</hdNo>"),
    "nicbroken": ("nicbroken", ""),
    "ipconflict": ("ipconflict", ""),
}


_DATE_TIME = re.compile(rb"<dateTime>([^<]*)</dateTime>")


class HikvisionDevice(StreamingDevice):
    realm = "DS-HIKVISION"
    boundary = "boundary"
    stream_path = "/ISAPI/Event/notification/alertStream"
    part_content_type = 'application/xml; charset="UTF-8"'
    #: recorded alerts streamed in turn instead of the templates (``HikvisionSimulator(variants=)``)
    variants: tuple[bytes, ...] = ()
    #: a recorder's channels that are analog video inputs (the first ones); the rest are IP
    analog_channels: int = 0

    @property
    def ip_channels(self) -> range:
        """The InputProxy ids of a recorder's IP channels (channel ``analog_channels + id``)."""
        return range(1, self.channels - self.analog_channels + 1)

    @classmethod
    def default_codes(cls) -> Sequence[str]:
        return list(EVENT_TEMPLATES)

    @property
    def model(self) -> str:
        return "DS-7732NI-K4" if self.is_recorder else "DS-2CD2143G2-I"

    @property
    def serial(self) -> str:
        return f"{self.model}{20230101 + self.seed:08d}CCRR{self.index:09d}WCVU"

    @property
    def mac(self) -> str:
        value = 0x4419B6000000 + self.seed * 65536 + self.index
        return ":".join(f"{(value >> shift) & 0xFF:02x}" for shift in range(40, -1, -8))

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/ISAPI/System/deviceInfo", self.device_info),
            web.get("/ISAPI/System/Video/inputs/channels", self.video_inputs),
            web.get("/ISAPI/ContentMgmt/InputProxy/channels", self.proxy_channels),
            web.get("/ISAPI/ContentMgmt/InputProxy/channels/status", self.proxy_status),
            web.get("/ISAPI/Streaming/channels/{stream}/picture", self.snapshot),
        ]

    @property
    def kind(self) -> str:
        if not self.is_recorder:
            return "IPCamera"
        return "HVR" if self.analog_channels else "NVR"

    async def device_info(self, request: web.Request) -> web.Response:
        kind = self.kind
        return _xml(
            f'<DeviceInfo version="2.0" xmlns="{NAMESPACE}">'
            f"<deviceName>{kind} {self.index:03d}</deviceName>"
            f"<deviceID>8a6f2c4e-{self.seed:04d}-11ee-8000-{self.index:012d}</deviceID>"
            f"<model>{self.model}</model>"
            f"<serialNumber>{self.reported_serial}</serialNumber>"
            f"<macAddress>{self.mac}</macAddress>"
            "<firmwareVersion>V4.62.210</firmwareVersion>"
            "<firmwareReleasedDate>build 230815</firmwareReleasedDate>"
            f"<deviceType>{kind}</deviceType></DeviceInfo>"
        )

    async def video_inputs(self, request: web.Request) -> web.Response:
        analog = range(1, self.analog_channels + 1) if self.is_recorder else range(1, 2)
        entries = "".join(
            f"<VideoInputChannel><id>{self.channel_label(ch)}</id><inputPort>{ch}</inputPort>"
            f"<name>Camera {ch:02d}</name><videoFormat>PAL</videoFormat></VideoInputChannel>"
            for ch in analog
        )
        return _xml(
            f'<VideoInputChannelList version="2.0" xmlns="{NAMESPACE}">{entries}</VideoInputChannelList>'
        )

    async def proxy_channels(self, request: web.Request) -> web.Response:
        if not self.is_recorder:
            return _not_supported()
        entries = "".join(
            f"<InputProxyChannel><id>{self.channel_label(ch)}</id><name>IPCamera {ch:02d}</name>"
            "<sourceInputPortDescriptor><proxyProtocol>HIKVISION</proxyProtocol>"
            f"<addressingFormatType>ipaddress</addressingFormatType><ipAddress>10.20.{self.index % 250}.{ch}</ipAddress>"
            "<managePortNo>8000</managePortNo><srcInputPort>1</srcInputPort>"
            "<userName>admin</userName><streamType>auto</streamType></sourceInputPortDescriptor>"
            "</InputProxyChannel>"
            for ch in self.ip_channels
        )
        return _xml(
            f'<InputProxyChannelList version="2.0" xmlns="{NAMESPACE}">{entries}</InputProxyChannelList>'
        )

    async def proxy_status(self, request: web.Request) -> web.Response:
        if not self.is_recorder:
            return _not_supported()
        entries = "".join(
            f"<InputProxyChannelStatus><id>{self.channel_label(ch)}</id><online>{str(self.channel_online(self.analog_channels + ch)).lower()}</online>"
            f"<chanDetectResult>{'connect' if self.channel_online(self.analog_channels + ch) else 'netUnreachable'}</chanDetectResult>"
            "</InputProxyChannelStatus>"
            for ch in self.ip_channels
        )
        return _xml(
            f'<InputProxyChannelStatusList version="2.0" xmlns="{NAMESPACE}">{entries}</InputProxyChannelStatusList>'
        )

    def render_event(self, seq: int, code: str, channel: int, at: datetime) -> bytes:
        if self.variants:
            recorded = self.variants[seq % len(self.variants)]
            return retimed(recorded, _DATE_TIME, _wib_time, at)
        description, extra = EVENT_TEMPLATES.get(code, (f"{code} alarm", ""))
        extra = extra.format(
            region=seq % 4 + 1, plate=f"H {1000 + seq % 9000} AB", count=10 + seq % 40
        )
        ip = self.is_recorder and channel > self.analog_channels
        dyn = f"<dynChannelID>{channel - self.analog_channels}</dynChannelID>" if ip else ""
        return self._alert(
            code=code,
            channel=channel,
            at=at,
            count=seq + 1,
            state="active",
            description=description,
            extra=dyn + extra,
        ).encode()

    def render_malformed(self, seq: int, code: str, at: datetime, bad_number: str) -> bytes:
        body = self.render_event(seq, code, 1, at).decode()
        for tag in ("channelID", "dynChannelID"):
            body = body.replace(f"<{tag}>1</{tag}>", f"<{tag}>{bad_number}</{tag}>")
        return body.encode()

    def render_heartbeat(self, at: datetime) -> bytes:
        return self._alert(
            code="videoloss",
            channel=1,
            at=at,
            count=0,
            state="inactive",
            description="videoloss alarm",
            extra="",
        ).encode()

    def _alert(
        self,
        *,
        code: str,
        channel: int,
        at: datetime,
        count: int,
        state: str,
        description: str,
        extra: str,
    ) -> str:
        return (
            f'<EventNotificationAlert version="2.0" xmlns="{NAMESPACE}">\r\n'
            f"<ipAddress>10.20.{self.index % 250}.1</ipAddress>\r\n<portNo>80</portNo>\r\n"
            f"<protocol>HTTP</protocol>\r\n<macAddress>{self.mac}</macAddress>\r\n"
            f"<channelID>{channel}</channelID>\r\n"
            f"<dateTime>{at.astimezone(WIB).isoformat()}</dateTime>\r\n"
            f"<activePostCount>{count}</activePostCount>\r\n<eventType>{code}</eventType>\r\n"
            f"<eventState>{state}</eventState>\r\n<eventDescription>{description}</eventDescription>\r\n"
            f"<channelName>Camera {channel:02d}</channelName>\r\n{extra}\r\n"
            "</EventNotificationAlert>\r\n"
        )


class HikvisionSimulator(DeviceFleet[HikvisionDevice]):
    """N simulated Hikvision devices: ``async with HikvisionSimulator(devices=2) as sim``.

    ``variants=DIR`` replays the ``EventNotificationAlert`` files (``*.xml``) of ``DIR``;
    ``analog_channels=N`` makes each recorder a hybrid whose first N channels are analog.
    """

    device_class = HikvisionDevice

    def __init__(
        self, *, variants: Path | None = None, analog_channels: int = 0, **options: Any
    ) -> None:
        super().__init__(**options)
        replay(self.devices, variants, "*.xml")
        for device in self.devices:
            device.analog_channels = analog_channels


def _wib_time(at: datetime) -> bytes:
    return at.astimezone(WIB).isoformat().encode()


def _xml(text: str) -> web.Response:
    return web.Response(
        text='<?xml version="1.0" encoding="UTF-8"?>\n' + text, content_type="application/xml"
    )


def _not_supported() -> web.Response:
    return web.Response(
        status=403,
        content_type="application/xml",
        text=(
            f'<?xml version="1.0" encoding="UTF-8"?>\n<ResponseStatus version="1.0" xmlns="{NAMESPACE}">'
            "<requestURL>/ISAPI/ContentMgmt/InputProxy/channels</requestURL><statusCode>4</statusCode>"
            "<statusString>Invalid Operation</statusString><subStatusCode>notSupport</subStatusCode>"
            "</ResponseStatus>"
        ),
    )


simulate_hikvision = simulator_command(
    "hikvision",
    HikvisionSimulator,  # type: ignore[arg-type]
    "Simulated Hikvision cameras/NVRs (ISAPI, digest auth, alertStream) on loopback.",
    options=[
        click.option(
            "--analog-channels",
            type=click.IntRange(0, 256),
            default=0,
            show_default=True,
            help="A recorder's first channels that are analog inputs (a hybrid recorder); the "
            "rest are IP channels.",
        )
    ],
)

"""Simulated Dahua cameras and NVRs speaking the HTTP API on loopback (``tilik simulate dahua``).

``magicBox``/``configManager``/``LogicDeviceManager`` answer in ``key=value`` lines (a recorder
reports every tenth channel's camera disconnected); ``eventManager.cgi?action=attach``
streams numbered ``Code=…;action=…;index=…;data={…}`` parts and ``Heartbeat`` keepalives.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from connectors.private_vendors.variants import replay, retimed
from connectors.sdk.simulation.cli import simulator_command
from connectors.sdk.simulation.device import WIB, DeviceFleet, StreamingDevice

#: per code: (action, data fields); ``seq`` and times are added per event
EVENT_TEMPLATES: dict[str, tuple[str, dict[str, Any]]] = {
    "VideoMotion": ("Start", {"SmartMotionEnable": False, "RegionName": ["Region1"]}),
    "CrossLineDetection": (
        "Start",
        {
            "Class": "Normal",
            "Direction": "LeftToRight",
            "Name": "Rule1",
            "Object": {"ObjectType": "Human", "BoundingBox": [2992, 1136, 4136, 5312]},
        },
    ),
    "CrossRegionDetection": (
        "Start",
        {
            "Class": "Normal",
            "Action": "Appear",
            "Direction": "Enter",
            "Name": "Area1",
            "Object": {"ObjectType": "Vehicle", "BoundingBox": [100, 200, 900, 1200]},
        },
    ),
    "ParkingDetection": (
        "Start",
        {
            "Class": "Normal",
            "Name": "NoParking",
            "ParkingDuration": 300,
            "Object": {"ObjectType": "Vehicle", "Text": "H 1234 AB"},
        },
    ),
    "CrowdDetection": (
        "Start",
        {
            "Name": "CrowdRule",
            "CrowdList": [{"Center": [4096, 4096], "Radius": 512}],
            "RegionList": [{"Name": "Plaza", "PeopleNum": 25}],
        },
    ),
    "NumberStat": (
        "Pulse",
        {
            "Name": "NumberStat",
            "Number": 42,
            "EnteredNumber": 40,
            "ExitedNumber": 2,
            "Type": "EnterOver",
        },
    ),
    "VideoBlind": ("Start", {}),
    "VideoLoss": ("Start", {}),
    "StorageFailure": ("Start", {"Detail": "/dev/sda", "Reason": "IOError"}),
    "StorageNotExist": ("Start", {}),
    "StorageLowSpace": ("Start", {"Percent": 95}),
}


_UTC = re.compile(rb'"UTC"\s*:\s*([0-9]+)')


class DahuaDevice(StreamingDevice):
    realm = "Login to 7G0CF3APAZ"
    boundary = "myboundary"
    stream_path = "/cgi-bin/eventManager.cgi"
    stream_media_type = "multipart/x-mixed-replace"
    part_content_type = "text/plain"
    #: recorded event records streamed in turn instead of the templates (``DahuaSimulator(variants=)``)
    variants: tuple[bytes, ...] = ()

    @classmethod
    def default_codes(cls) -> Sequence[str]:
        return list(EVENT_TEMPLATES)

    @property
    def serial(self) -> str:
        return f"7G0{self.seed:03d}PAZ{self.index:08d}"

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/cgi-bin/magicBox.cgi", self.magic_box),
            web.get("/cgi-bin/configManager.cgi", self.config_manager),
            web.get("/cgi-bin/snapshot.cgi", self.snapshot),
            web.get("/cgi-bin/LogicDeviceManager.cgi", self.camera_state),
        ]

    async def magic_box(self, request: web.Request) -> web.Response:
        answers = {
            "getDeviceType": f"type={'DHI-NVR5432-4KS2' if self.is_recorder else 'IPC-HFW2431S-S-S2'}",
            "getSerialNo": f"sn={self.reported_serial}",
            "getSoftwareVersion": "version=4.001.0000000.3,build:2023-05-17",
            "getMachineName": f"name={'NVR' if self.is_recorder else 'IPC'}{self.index:03d}",
        }
        answer = answers.get(request.query.get("action", ""))
        if answer is None:
            return _bad_request()
        return web.Response(text=answer + "\r\n")

    async def config_manager(self, request: web.Request) -> web.Response:
        if (
            request.query.get("action") != "getConfig"
            or request.query.get("name") != "ChannelTitle"
        ):
            return _bad_request()
        lines = [f"table.ChannelTitle[{i}].Name=CAM {i + 1:02d}" for i in range(self.channels)]
        return web.Response(text="\r\n".join(lines) + "\r\n")

    async def camera_state(self, request: web.Request) -> web.Response:
        if not self.is_recorder or request.query.get("action") != "getCameraState":
            return _bad_request()
        lines = []
        for i in range(self.channels):
            state = "Connected" if self.channel_online(i + 1) else "Disconnected"
            lines += [
                f"states[{i}].channel={self.channel_label(i)}",
                f"states[{i}].connectionState={state}",
            ]
        return web.Response(text="\r\n".join(lines) + "\r\n")

    async def event_stream(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("action") != "attach":
            return _bad_request()
        return await super().event_stream(request)

    def render_event(self, seq: int, code: str, channel: int, at: datetime) -> bytes:
        if self.variants:
            recorded = self.variants[seq % len(self.variants)]
            return retimed(recorded, _UTC, _epoch_seconds, at)
        action, fields = EVENT_TEMPLATES.get(code, ("Pulse", {}))
        data = {
            **fields,
            "UTC": int(at.timestamp()),
            "LocaleTime": at.astimezone(WIB).strftime("%Y-%m-%d %H:%M:%S"),
            "EventSeq": seq,
        }
        return (
            f"Code={code};action={action};index={channel - 1};data={json.dumps(data, indent=3)}"
        ).encode()

    def render_malformed(self, seq: int, code: str, at: datetime, bad_number: str) -> bytes:
        body = self.render_event(seq, code, 1, at).decode()
        return body.replace(";index=0;", f";index={bad_number};", 1).encode()

    def render_heartbeat(self, at: datetime) -> bytes:
        return b"Heartbeat"


class DahuaSimulator(DeviceFleet[DahuaDevice]):
    """N simulated Dahua devices: ``async with DahuaSimulator(devices=2) as sim``.

    ``variants=DIR`` replays the ``Code=…`` record files (``*.txt``) of ``DIR``.
    """

    device_class = DahuaDevice

    def __init__(self, *, variants: Path | None = None, **options: Any) -> None:
        super().__init__(**options)
        replay(self.devices, variants, "*.txt")


def _epoch_seconds(at: datetime) -> bytes:
    return str(int(at.timestamp())).encode()


def _bad_request() -> web.Response:
    return web.Response(status=400, text="Error\r\nBad Request!\r\n")


simulate_dahua = simulator_command(
    "dahua",
    DahuaSimulator,  # type: ignore[arg-type]
    "Simulated Dahua cameras/NVRs (HTTP API, digest auth, eventManager stream) on loopback.",
)

"""Hikvision ISAPI alertStream: ``EventNotificationAlert`` XML to ``VendorEvent``, and the code table.

Codes are matched case-insensitively (firmware sends both ``VMD`` and ``vmd``). A ``videoloss``
that is ``inactive`` is the stream's keepalive, not an event.
"""

from __future__ import annotations

from datetime import datetime

from connectors.sdk.devicedata import aware_time, decimal
from connectors.sdk.errors import DeviceDataError
from connectors.sdk.mapping import EventRule, VendorEvent, flatten_xml
from connectors.sdk.multipart import Part
from connectors.sdk.xmlsafe import local_name, parse_device_xml
from topics.models import EventKind

_REGION = ("regionID", "DetectionRegionEntry.regionID")
_TARGET = ("targetType", "detectionTarget")
_PEOPLE = ("peopleNum", "humanCount", "personQuantity", "peopleCount")

EVENT_TABLE: dict[str, EventRule] = {
    "vmd": EventRule(EventKind.MOTION, fields={"region": _REGION, "object_class": _TARGET}),
    "linedetection": EventRule(
        EventKind.LINE_CROSSING,
        fields={"region": _REGION, "object_class": _TARGET, "direction": ("direction",)},
    ),
    "fielddetection": EventRule(
        EventKind.INTRUSION, fields={"region": _REGION, "object_class": _TARGET}
    ),
    "regionentrance": EventRule(
        EventKind.REGION_ENTRANCE, fields={"region": _REGION, "object_class": _TARGET}
    ),
    "regionexiting": EventRule(
        EventKind.REGION_EXIT, fields={"region": _REGION, "object_class": _TARGET}
    ),
    "tamperdetection": EventRule(EventKind.TAMPER, fields={"region": _REGION}),
    "shelteralarm": EventRule(EventKind.TAMPER, fields={"region": _REGION}),
    "videoloss": EventRule(EventKind.VIDEO_LOSS, heartbeat_when_inactive=True),
    "parking": EventRule(
        EventKind.PARKING_VIOLATION,
        fields={"region": _REGION, "dwell_s": ("duration", "parkingDuration")},
    ),
    "illegalparking": EventRule(
        EventKind.PARKING_VIOLATION,
        fields={
            "region": _REGION,
            "dwell_s": ("duration", "parkingDuration"),
            "plate": ("licensePlate",),
        },
    ),
    "crowd": EventRule(EventKind.CROWD_DENSITY, fields={"count": _PEOPLE, "region": _REGION}),
    "peoplegathering": EventRule(
        EventKind.CROWD_DENSITY, fields={"count": _PEOPLE, "region": _REGION}
    ),
    "anpr": EventRule(
        EventKind.PLATE_RECOGNIZED,
        fields={
            "plate": ("licensePlate", "ANPR.licensePlate"),
            "confidence": ("confidenceLevel",),
            "direction": ("direction",),
            "object_class": ("vehicleType",),
        },
        constants={"object_class": "vehicle"},
        pulse=True,
    ),
    "diskfull": EventRule(
        EventKind.STORAGE_FAILURE, constants={"detail": "disk_full"}, device_level=True
    ),
    "diskerror": EventRule(
        EventKind.STORAGE_FAILURE, constants={"detail": "disk_error"}, device_level=True
    ),
    "nicbroken": EventRule(
        EventKind.NETWORK_FAILURE, constants={"detail": "network_down"}, device_level=True
    ),
    "ipconflict": EventRule(
        EventKind.NETWORK_FAILURE, constants={"detail": "ip_conflict"}, device_level=True
    ),
}

_ALERT = "EventNotificationAlert"
#: the highest channel number a Hikvision device reports (cameras, NVR proxied channels)
MAX_CHANNEL = 9_999
_XML_TYPES = frozenset({"application/xml", "text/xml", ""})


def parse_alert_part(part: Part, *, device: str | None = None) -> list[VendorEvent]:
    """Events in one alertStream part; pictures attached to ANPR alerts are not events."""
    content_type = part.content_type
    if content_type.startswith("image/"):
        return []
    if content_type not in _XML_TYPES:
        raise DeviceDataError(
            f"alertStream part of unsupported type {content_type!r}", device=device
        )
    return [parse_alert(part.body, device=device)]


def parse_alert(body: bytes, *, device: str | None = None) -> VendorEvent:
    """One ``EventNotificationAlert`` document (ver10 or ver20 namespace)."""
    root = parse_device_xml(body, device=device, what="EventNotificationAlert")
    if local_name(root) != _ALERT:
        raise DeviceDataError(
            f"alertStream part is <{local_name(root)[:64]}>, not <{_ALERT}>", device=device
        )
    # One walk over the document; top-level elements are their own paths.
    fields = flatten_xml(root)
    code = fields.get("eventType")
    if not code:
        raise DeviceDataError("EventNotificationAlert without eventType", device=device)
    state = fields.get("eventState", "active").lower()
    return VendorEvent(
        code=code,
        channel=_channel(fields.get("dynChannelID") or fields.get("channelID"), device),
        active=state != "inactive",
        device_time=_device_time(fields.get("dateTime"), device),
        fields=fields,
        discriminator=fields.get("activePostCount"),
        payload=body.decode("utf-8", "replace"),
    )


def _channel(text: str | None, device: str | None) -> int | None:
    if text is None:
        return None
    channel = decimal(text, low=1, high=MAX_CHANNEL)
    if channel is None:
        raise DeviceDataError(
            f"EventNotificationAlert channel {text[:32]!r} is not a channel", device=device
        )
    return channel


def _device_time(text: str | None, device: str | None) -> datetime:
    if not text:
        raise DeviceDataError("EventNotificationAlert without dateTime", device=device)
    # Cameras without a configured zone send local time without an offset; UTC is the least wrong.
    moment = aware_time(text)
    if moment is None:
        raise DeviceDataError(
            f"EventNotificationAlert dateTime {text[:40]!r} unreadable", device=device
        )
    return moment

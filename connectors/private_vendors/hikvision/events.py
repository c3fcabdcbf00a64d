"""Hikvision ISAPI alertStream: ``EventNotificationAlert`` XML to ``VendorEvent``, and the code table.

The table follows the ISAPI event types: motion and the smart (VCA) events, face and plate
capture, people counting, thermal fire and temperature alarms, I/O alarm inputs and PIR, video
and device exceptions. Codes are matched case-insensitively (firmware sends both ``VMD`` and
``vmd``). A ``videoloss`` that is ``inactive`` is the stream's keepalive, not an event. A
``duration`` alert says how long another event lasts: it is read as that event
(``relationEvent``) with the duration alert's own state. Object classes (``targetType``,
``detectionTarget``) are kept whole: ``human,vehicle`` is two classes.
"""

from __future__ import annotations

from datetime import datetime

from connectors.sdk.channels import channel_ref
from connectors.sdk.devicedata import aware_time, decimal
from connectors.sdk.errors import DeviceDataError
from connectors.sdk.mapping import EventRule, VendorEvent, flatten_xml
from connectors.sdk.multipart import Part
from connectors.sdk.vocabulary import class_list
from connectors.sdk.xmlsafe import local_name, parse_device_xml
from topics.models import EventKind

#: the field ``parse_alert`` adds: every object class the alert names, as the taxonomy spells them
CLASSES = "@classes"
_CLASS_FIELDS = ("targetType", "detectionTarget", "TargetType")
_REGION = ("regionID", "DetectionRegionEntry.regionID")
_PEOPLE = ("peopleNum", "humanCount", "personQuantity", "peopleCount", "peopleNumber")
_TEMPERATURE = (
    "currTemperature",
    "highestTemperature",
    "maxTemperature",
    "temperature",
    "currentTemperature",
)
_RULE = ("ruleName", "name")
_SMART = {"region": _REGION, "object_classes": (CLASSES,)}
_PLATE = ("licensePlate", "ANPR.licensePlate", "plateNumber")


def _smart(kind: EventKind, **extra: tuple[str, ...]) -> EventRule:
    """A smart (VCA) event: region and object classes, and whatever ``extra`` names."""
    return EventRule(kind, fields={**_SMART, **extra})


def _device(kind: EventKind, detail: str) -> EventRule:
    return EventRule(kind, constants={"detail": detail}, device_level=True)


EVENT_TABLE: dict[str, EventRule] = {
    # --- motion and smart events -----------------------------------------------------------
    "vmd": _smart(EventKind.MOTION),
    "pir": EventRule(EventKind.MOTION, constants={"detail": "pir"}),
    "rapidmove": EventRule(EventKind.MOTION, fields=_SMART, constants={"detail": "fast_moving"}),
    "linedetection": _smart(EventKind.LINE_CROSSING, direction=("direction",)),
    "fielddetection": _smart(EventKind.INTRUSION),
    "regionentrance": _smart(EventKind.REGION_ENTRANCE),
    "regionexiting": _smart(EventKind.REGION_EXIT),
    "loitering": _smart(EventKind.LOITERING, dwell_s=("duration", "loiteringDuration")),
    "group": _smart(EventKind.CROWD_DENSITY, count=_PEOPLE),
    "crowd": EventRule(EventKind.CROWD_DENSITY, fields={"count": _PEOPLE, "region": _REGION}),
    "peoplegathering": EventRule(
        EventKind.CROWD_DENSITY, fields={"count": _PEOPLE, "region": _REGION}
    ),
    "unattendedbaggage": _smart(EventKind.OBJECT_ABANDONED),
    "attendedbaggage": _smart(EventKind.OBJECT_REMOVED),
    "violentmotion": _smart(EventKind.FIGHT),
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
    # --- faces, plates, counting -----------------------------------------------------------
    "facedetection": EventRule(
        EventKind.FACE_DETECTED, fields={"region": _REGION}, constants={"object_class": "face"}
    ),
    "facesnap": EventRule(EventKind.FACE_DETECTED, constants={"object_class": "face"}, pulse=True),
    "anpr": EventRule(
        EventKind.PLATE_RECOGNIZED,
        fields={
            "plate": _PLATE,
            "confidence": ("confidenceLevel",),
            "direction": ("direction",),
            "object_class": ("vehicleType",),
        },
        constants={"object_class": "vehicle"},
        pulse=True,
    ),
    "vehicledetection": EventRule(
        EventKind.PLATE_RECOGNIZED,
        fields={"plate": _PLATE, "object_class": ("vehicleType",)},
        constants={"object_class": "vehicle"},
        pulse=True,
    ),
    "peoplecounting": EventRule(
        EventKind.PEOPLE_COUNT,
        fields={"count": ("enter", "peopleCounting.enter", *_PEOPLE), "region": _REGION},
        constants={"object_class": "human"},
        pulse=True,
    ),
    "framespeoplecounting": EventRule(
        EventKind.PEOPLE_COUNT,
        fields={"count": _PEOPLE, "region": _REGION},
        constants={"object_class": "human"},
        pulse=True,
    ),
    # --- fire and heat (thermal cameras) ---------------------------------------------------
    "firedetection": EventRule(
        EventKind.FIRE, fields={"temperature_c": _TEMPERATURE, "region": _REGION}
    ),
    "smokedetection": EventRule(
        EventKind.FIRE, fields={"region": _REGION}, constants={"detail": "smoke"}
    ),
    "tma": EventRule(
        EventKind.TEMPERATURE_ALARM, fields={"temperature_c": _TEMPERATURE, "rule": _RULE}
    ),
    "tmpa": EventRule(
        EventKind.TEMPERATURE_ALARM,
        fields={"temperature_c": _TEMPERATURE, "rule": _RULE},
        constants={"detail": "pre_alarm"},
    ),
    # --- alarm inputs, image and audio -----------------------------------------------------
    "io": EventRule(
        EventKind.ALARM_INPUT,
        fields={"alarm_input": ("dynInputIOPortID", "inputIOPortID", "IOPortID")},
        device_level=True,
    ),
    "tamperdetection": EventRule(EventKind.TAMPER, fields={"region": _REGION}),
    "shelteralarm": EventRule(EventKind.TAMPER, fields={"region": _REGION}),
    "defocus": EventRule(EventKind.IMAGE_QUALITY, constants={"detail": "blurry"}),
    "scenechangedetection": EventRule(EventKind.SCENE_CHANGE),
    "audioexception": EventRule(EventKind.AUDIO_ALARM, fields={"detail": ("audioExceptionType",)}),
    "videoloss": EventRule(EventKind.VIDEO_LOSS, heartbeat_when_inactive=True),
    "badvideo": EventRule(EventKind.VIDEO_LOSS, constants={"detail": "bad_video"}),
    "videomismatch": EventRule(EventKind.VIDEO_LOSS, constants={"detail": "video_mismatch"}),
    # --- the device ------------------------------------------------------------------------
    "diskfull": _device(EventKind.STORAGE_FAILURE, "disk_full"),
    "diskerror": _device(EventKind.STORAGE_FAILURE, "disk_error"),
    "nicbroken": _device(EventKind.NETWORK_FAILURE, "network_down"),
    "ipconflict": _device(EventKind.NETWORK_FAILURE, "ip_conflict"),
}

#: how an alert names its channel: the recorder's channel number, and an IP channel's InputProxy
#: id (``connectors.private_vendors.hikvision.connector.reconcile_channels``), in that order
CHANNEL_ID = "channelID"
DYN_CHANNEL_ID = "dynChannelID"
#: a ``duration`` alert: the event whose duration it reports is in ``relationEvent``
DURATION = "duration"
_RELATION = ("DurationList.Duration.relationEvent", "relationEvent")
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
    discriminator = fields.get("activePostCount")
    if code.lower() == DURATION:
        related = next((fields[name] for name in _RELATION if fields.get(name)), None)
        if related is not None:
            code, discriminator = related, f"{DURATION}:{discriminator}"
    classes = next((fields[name] for name in _CLASS_FIELDS if fields.get(name)), None)
    if classes is not None:
        fields[CLASSES] = class_list(classes)
    named = {name: fields[name] for name in (CHANNEL_ID, DYN_CHANNEL_ID) if fields.get(name)}
    return VendorEvent(
        code=code,
        channel=_channel(named.get(DYN_CHANNEL_ID) or named.get(CHANNEL_ID), device),
        channel_refs=tuple(channel_ref(name, value) for name, value in named.items()),
        active=state != "inactive",
        device_time=_device_time(fields.get("dateTime"), device),
        fields=fields,
        discriminator=discriminator,
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

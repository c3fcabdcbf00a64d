"""Payload models of the catalog topics. Strict: unknown fields are rejected, times are timezone-aware.

These are what dispatch agencies and integrators build against; a breaking change here is a new
topic version (a new model and a new ``….v2`` topic), never an edit in place.

Every number is finite (no infinity or NaN anywhere) and every measurement lies in a physical
range, every time in ``[EARLIEST, LATEST]``: a reading outside them is not a reading, and the hub
computes with what is admitted here (``float()``, date arithmetic, time zones) without further
checks. The bounds and why they need no new topic version: docs/catalog.md.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

CAMERA_ID_PATTERN = r"^cam-[0-9a-f]{20}$"
CameraId = Annotated[str, Field(pattern=CAMERA_ID_PATTERN, description="Stable camera id.")]
AGENCY_ID_PATTERN = r"^[a-z][a-z0-9-]{1,30}$"
AgencyId = Annotated[str, Field(pattern=AGENCY_ID_PATTERN, description="Agency id, e.g. `dishub`.")]
ShortText = Annotated[str, Field(max_length=256)]
LongText = Annotated[str, Field(max_length=4096)]

# --- physical ranges (docs/catalog.md, "Bounds") ---------------------------------------------
# Times: a device clock reset to 1970 (or 2000) is still a time the rules can judge (they fall
# back to the receive time); 1900 and 2200 keep every date computation of the hub (durations of
# up to a year, any time zone) far from the ends of Python's datetime range (years 1 and 9999).
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
# What one camera counts (people, vehicles, objects; a cumulative entry counter included).
MAX_COUNT = 10_000_000
# People per square metre: about 10 is as dense as people can physically stand.
MAX_CROWD_DENSITY = 20.0
# Water level above or below the gauge's reference, in cm: 100 m either way.
MAX_FLOOD_LEVEL_CM = 10_000.0
# Seconds an object has stayed (parking, loitering, garbage): a year.
MAX_DWELL_S = 366 * 24 * 3600.0
# Temperature a thermal camera reports, in °C: absolute zero to beyond any thermographic range.
MIN_TEMPERATURE_C = -273.15
MAX_TEMPERATURE_C = 5_000.0
# Object classes one event names (a detector's class list).
MAX_OBJECT_CLASSES = 16
# A health check's round trip, in ms: an hour (checks time out long before).
MAX_LATENCY_MS = 3_600_000.0
# Channel number on an NVR, DVR or platform.
MAX_CHANNEL = 65_535


def utcnow() -> datetime:
    return datetime.now(UTC)


def _within_time_range(value: datetime) -> datetime:
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"time must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC)")
    return value


Timestamp = Annotated[
    AwareDatetime,
    AfterValidator(_within_time_range),
    Field(
        json_schema_extra={
            "formatMinimum": EARLIEST.isoformat().replace("+00:00", "Z"),
            "formatMaximum": LATEST.isoformat().replace("+00:00", "Z"),
        }
    ),
]
Channel = Annotated[int, Field(ge=0, le=MAX_CHANNEL)]


class StrictModel(BaseModel):
    """Base of every payload: unknown fields are an error, not silently dropped; numbers are finite."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=False, validate_default=True, allow_inf_nan=False
    )


# --- shared vocabulary -------------------------------------------------------------------


class SharingLevel(StrEnum):
    """What a camera's owner shares with the city."""

    REGISTRY_ONLY = "registry_only"  # the city knows the camera exists, nothing more
    ALARM_LIVE = "alarm_live"  # live view only while an alert on it is open
    LIVE = "live"  # live view for the command center and agencies
    PUBLIC = "public"  # live view for citizens too


class OwnerKind(StrEnum):
    MUNICIPAL = "municipal"
    PRIVATE = "private"


class SiteType(StrEnum):
    RT_POST = "rt_post"
    KELURAHAN_OFFICE = "kelurahan_office"
    KECAMATAN_OFFICE = "kecamatan_office"
    MARKET = "market"
    TOURIST_SITE = "tourist_site"
    MAIN_ROAD = "main_road"
    INTERSECTION = "intersection"
    RIVER = "river"
    INFRASTRUCTURE = "infrastructure"
    SCHOOL = "school"
    HOSPITAL = "hospital"
    SHOP = "shop"
    MALL = "mall"
    BANK = "bank"
    HOUSING_ESTATE = "housing_estate"
    OFFICE = "office"
    OTHER = "other"


class Agency(StrEnum):
    """The dispatch agencies of the default catalog; a city may add more (one dispatch topic each)."""

    SATPOL_PP = "satpol-pp"  # public order
    DISHUB = "dishub"  # transport and traffic
    POLISI = "polisi"  # police
    BPBD = "bpbd"  # disaster management (flood)
    DLH = "dlh"  # environment (garbage)
    DINKES = "dinkes"  # health
    DISKOMINFO = "diskominfo"  # communications and IT (camera health)


class Owner(StrictModel):
    kind: OwnerKind
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")] = Field(
        description="Owner organisation id (a tenant); private owners see only their own cameras."
    )
    name: ShortText | None = None


class AdminArea(StrictModel):
    """Administrative path, the unit routing and coverage work on."""

    kota: ShortText = "Semarang"
    kecamatan: ShortText | None = None
    kelurahan: ShortText | None = None
    rw: Annotated[str, Field(pattern=r"^\d{1,3}$")] | None = None
    rt: Annotated[str, Field(pattern=r"^\d{1,3}$")] | None = None


class GeoPoint(StrictModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Location(StrictModel):
    area: AdminArea = Field(default_factory=AdminArea)
    point: GeoPoint | None = None
    address: LongText | None = Field(default=None, description="Street address or landmark.")


_USERINFO = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://[^/@]*@")


def _no_credentials_in_uri(value: str | None) -> str | None:
    if value is not None and _USERINFO.match(value):
        raise ValueError("URI must not carry credentials (user:password@)")
    return value


class StreamProfile(StrictModel):
    """One media profile. URIs never carry credentials: clients authenticate separately."""

    token: ShortText
    name: ShortText | None = None
    rtsp_uri: LongText | None = None
    snapshot_uri: LongText | None = None
    codec: ShortText | None = None
    width: int | None = Field(default=None, ge=1, le=16384)
    height: int | None = Field(default=None, ge=1, le=16384)
    fps: float | None = Field(default=None, ge=0, le=1000)

    _check_rtsp = field_validator("rtsp_uri", "snapshot_uri")(_no_credentials_in_uri)


class Capabilities(StrictModel):
    ptz: bool = False
    events: bool = False
    audio: bool = False
    analytics: list[ShortText] = Field(
        default_factory=list, description="Analytics the device runs, e.g. `line_crossing`."
    )


#: one value of a connector's config as the registry carries it: JSON scalars, or a list of them
ConfigScalar = bool | int | float | LongText | None
ConfigValue = ConfigScalar | Annotated[list[ConfigScalar], Field(max_length=64)]
ConnectorConfigValues = Annotated[dict[ShortText, ConfigValue], Field(max_length=64)]


class CameraRecord(StrictModel):
    """A camera in the registry (compacted topic, keyed by camera id). A tombstone removes it.

    v2 added ``connector_config``: a v1 consumer, refusing unknown fields, would refuse records
    carrying it (docs/catalog.md, "Versions").
    """

    camera_id: CameraId
    name: ShortText
    connector: ShortText = Field(
        description="Connector that manages it, e.g. `onvif`, `hikvision`."
    )
    device_id: ShortText = Field(
        description="Stable id of the physical device; an NVR's channels share one device id."
    )
    channel: Channel | None = Field(default=None, description="Channel on an NVR/DVR.")
    address: ShortText = Field(description="Current network endpoint, host:port (may change).")
    credential_ref: ShortText | None = Field(
        default=None,
        description=(
            "Where the connector finds the credentials (`admin@env:TILIK_CAMERA_SECRET_NAME`, "
            "`admin@file:NAME` in the camera secrets directory): never the secret."
        ),
    )
    owner: Owner
    vendor: ShortText | None = None
    model: ShortText | None = None
    firmware: ShortText | None = None
    serial: ShortText | None = None
    hardware_id: ShortText | None = None
    mac: Annotated[str, Field(pattern=r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")] | None = None
    location: Location = Field(default_factory=Location)
    site_type: SiteType = SiteType.OTHER
    streams: list[StreamProfile] = Field(default_factory=list, max_length=64)
    capabilities: Capabilities = Field(default_factory=Capabilities)
    sharing: SharingLevel = SharingLevel.REGISTRY_ONLY
    connector_config: ConnectorConfigValues = Field(
        default_factory=dict,
        description=(
            "The connector's config fields for this device beyond those the record holds itself "
            "(scheme, timeouts, ports, ...), as onboarding proved them and the watching runtime "
            "uses them; defaults are left out. Never a secret: credentials are only "
            "`credential_ref`."
        ),
    )
    discovered_at: Timestamp
    updated_at: Timestamp


class CameraRemoval(StrictModel):
    """A camera its owner or an operator removed (compacted, keyed by camera id): a later scan
    or onboarding does not register it again unless told to (a tombstone here readmits it)."""

    camera_id: CameraId
    device_id: ShortText | None = Field(default=None, description="Its device, when it was known.")
    connector: ShortText | None = None
    address: ShortText | None = Field(default=None, description="Where it was when removed.")
    removed_at: Timestamp
    actor: ShortText = Field(description="Who removed it.")
    reason: LongText | None = None

    @classmethod
    def of(
        cls,
        camera_id: str,
        record: CameraRecord | None,
        *,
        at: datetime,
        actor: str,
        reason: str | None = None,
        connector: str | None = None,
    ) -> CameraRemoval:
        """The removal of ``camera_id``, with its device and place from its last ``record``."""
        return cls(
            camera_id=camera_id,
            device_id=record.device_id if record else None,
            connector=record.connector if record else connector,
            address=record.address if record else None,
            removed_at=at,
            actor=actor,
            reason=reason,
        )


class WatchState(StrEnum):
    """Whether the runtime that owns a camera's registry partition watches it."""

    WATCHING = "watching"  # the credential reference resolved; health and events flow
    CREDENTIALS_UNRESOLVED = "credentials_unresolved"  # the reference names no secret there
    REFUSED = "refused"  # reference or address outside what that runtime may use
    INVALID_CONFIG = "invalid_config"  # the record makes no config of its connector


class WatchReport(StrictModel):
    """What the watching runtime made of one registry record (compacted, keyed by camera id).

    Onboarding reads it to say whether a camera it published is watched where it will run.
    """

    camera_id: CameraId
    connector: ShortText
    device_id: ShortText
    state: WatchState
    reason: LongText | None = Field(
        default=None, description="Why it is not watched; never a secret."
    )
    record_updated_at: Timestamp = Field(
        description="`updated_at` of the registry record this report is about."
    )
    watcher: ShortText = Field(description="The runtime's consumer group.")
    reported_at: Timestamp


class CameraState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    UNAUTHORIZED = "unauthorized"
    DEGRADED = "degraded"


class CameraStatus(StrictModel):
    """Result of one health check of a camera."""

    camera_id: CameraId
    state: CameraState
    checked_at: Timestamp
    latency_ms: float | None = Field(default=None, ge=0, le=MAX_LATENCY_MS)
    reason: LongText | None = None
    connector: ShortText | None = None


class EventKind(StrEnum):
    """The normalised device-event taxonomy.

    v2 of ``tilik.events.device`` added ``alarm_input`` … ``fight`` (docs/catalog.md, "Versions").
    """

    MOTION = "motion"
    TAMPER = "tamper"
    VIDEO_LOSS = "video_loss"
    SCENE_CHANGE = "scene_change"
    IMAGE_QUALITY = "image_quality"
    LINE_CROSSING = "line_crossing"
    INTRUSION = "intrusion"
    REGION_ENTRANCE = "region_entrance"
    REGION_EXIT = "region_exit"
    OBJECT_DETECTED = "object_detected"
    OBJECT_COUNT = "object_count"
    PEOPLE_COUNT = "people_count"
    VEHICLE_COUNT = "vehicle_count"
    CROWD_DENSITY = "crowd_density"
    LOITERING = "loitering"
    PARKING_VIOLATION = "parking_violation"
    FLOOD_LEVEL = "flood_level"
    GARBAGE = "garbage"
    MASK_COMPLIANCE = "mask_compliance"
    PLATE_RECOGNIZED = "plate_recognized"
    STORAGE_FAILURE = "storage_failure"
    NETWORK_FAILURE = "network_failure"
    ALARM_INPUT = "alarm_input"  # a sensor or button wired to the device's alarm input
    FACE_DETECTED = "face_detected"
    OBJECT_ABANDONED = "object_abandoned"  # an object left behind (unattended baggage)
    OBJECT_REMOVED = "object_removed"  # an object taken away
    FIRE = "fire"  # flame or smoke (``detail``: `smoke`)
    TEMPERATURE_ALARM = "temperature_alarm"  # a measured temperature past its threshold
    AUDIO_ALARM = "audio_alarm"  # a sudden sound, a scream, a sound past its level
    FIGHT = "fight"  # violent motion between people
    UNKNOWN = "unknown"


class ObjectClass(StrEnum):
    HUMAN = "human"
    FACE = "face"
    VEHICLE = "vehicle"
    CAR = "car"
    MOTORCYCLE = "motorcycle"
    BUS = "bus"
    TRUCK = "truck"
    BICYCLE = "bicycle"
    ANIMAL = "animal"
    LICENSE_PLATE = "license_plate"
    GARBAGE = "garbage"
    OTHER = "other"


def _class_list(value: object) -> object:
    """A device's own list form, ``"human vehicle"`` (an ``xs:list``), read as the list."""
    if isinstance(value, str):
        return [word for word in re.split(r"[\s,]+", value) if word]
    return value


ObjectClasses = Annotated[
    list[ObjectClass],
    BeforeValidator(_class_list),
    Field(max_length=MAX_OBJECT_CLASSES),
]


class EventAttributes(StrictModel):
    """Typed attributes of a device event; which ones are set depends on the kind.

    ``object_class`` is the main class and ``object_classes`` every class the device named, the
    main one first: either may be given, the other follows from it.
    """

    count: int | None = Field(
        default=None, ge=0, le=MAX_COUNT, description="Objects/people/vehicles counted."
    )
    object_class: ObjectClass | None = None
    object_classes: ObjectClasses | None = Field(
        default=None, description="Every class the device named (`Human Animal`), main first."
    )
    crowd_density: float | None = Field(
        default=None, ge=0, le=MAX_CROWD_DENSITY, description="People per square metre."
    )
    flood_level_cm: float | None = Field(
        default=None,
        ge=-MAX_FLOOD_LEVEL_CM,
        le=MAX_FLOOD_LEVEL_CM,
        description="Water level above the reference (below it: negative).",
    )
    mask_compliance_pct: float | None = Field(default=None, ge=0, le=100)
    dwell_s: float | None = Field(
        default=None, ge=0, le=MAX_DWELL_S, description="Seconds the object has stayed."
    )
    temperature_c: float | None = Field(
        default=None,
        ge=MIN_TEMPERATURE_C,
        le=MAX_TEMPERATURE_C,
        description="Temperature measured (a thermal camera's alarm), in °C.",
    )
    plate: Annotated[str, Field(max_length=32)] | None = None
    rule: ShortText | None = Field(default=None, description="Analytics rule or zone name.")
    region: ShortText | None = None
    alarm_input: ShortText | None = Field(
        default=None, description="The device's alarm input or I/O port that fired, e.g. `1`."
    )
    direction: ShortText | None = None
    confidence: float | None = Field(default=None, ge=0, le=1)
    detail: ShortText | None = Field(
        default=None, description="e.g. `blurry`, `dark`, `disk_full`."
    )

    @model_validator(mode="after")
    def _main_class_first(self) -> EventAttributes:
        classes = list(dict.fromkeys(self.object_classes or ()))
        if self.object_class is None:
            self.object_class = classes[0] if classes else None
        elif self.object_class in classes:
            classes.remove(self.object_class)
            classes.insert(0, self.object_class)
        else:
            classes.insert(0, self.object_class)
        self.object_classes = classes[:MAX_OBJECT_CLASSES] or None
        return self


class EventSource(StrictModel):
    connector: ShortText
    device_id: ShortText
    channel: Channel | None = None
    vendor_topic: LongText = Field(description="The device's own event name/topic, as received.")


class DeviceEvent(StrictModel):
    """A device or analytics event, normalised. ``event_id`` is stable, so a replay is recognised."""

    event_id: Annotated[str, Field(pattern=r"^evt-[0-9a-f]{24}$")]
    camera_id: CameraId
    kind: EventKind
    active: bool | None = Field(
        default=None, description="true: condition started/ongoing; false: ended; null: a pulse."
    )
    device_time: Timestamp
    received_at: Timestamp
    source: EventSource
    attributes: EventAttributes = Field(default_factory=EventAttributes)
    raw: dict[ShortText, LongText] | None = Field(
        default=None, description="The vendor's fields, kept when the kind is `unknown`."
    )


class AlertCategory(StrEnum):
    """What an alert is about, the unit routing works on.

    v2 of ``tilik.alerts`` and ``tilik.dispatch.<agency>`` added ``fire`` … ``violence``.
    """

    CROWD = "crowd"
    TRAFFIC = "traffic"
    ILLEGAL_PARKING = "illegal_parking"
    FLOOD = "flood"
    GARBAGE = "garbage"
    MASK_COMPLIANCE = "mask_compliance"
    TAMPER = "tamper"
    INTRUSION = "intrusion"
    LINE_CROSSING = "line_crossing"
    STORAGE_FAILURE = "storage_failure"
    CAMERA_OFFLINE = "camera_offline"
    FIRE = "fire"  # fire, smoke, a heat alarm
    ALARM = "alarm"  # an alarm input: a panic button, a door contact, a wired sensor
    SUSPICIOUS_OBJECT = "suspicious_object"  # an object left behind or taken away
    VIOLENCE = "violence"  # a fight


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertStatus(StrEnum):
    OPENED = "opened"
    UPDATED = "updated"
    RESOLVED = "resolved"


class Alert(StrictModel):
    """One state of an alert's lifecycle; keyed by camera id so its states stay in order."""

    alert_id: Annotated[str, Field(pattern=r"^alr-[0-9a-f]{24}$")]
    rule_id: ShortText
    category: AlertCategory
    severity: Severity
    status: AlertStatus
    sequence: int = Field(ge=0, description="0 when opened, +1 on every later state.")
    camera_id: CameraId
    camera_name: ShortText | None = None
    owner_id: ShortText | None = None
    location: Location = Field(default_factory=Location)
    site_type: SiteType = SiteType.OTHER
    title: ShortText
    summary: LongText | None = None
    measurement: float | None = None
    threshold: float | None = None
    event_ids: list[str] = Field(default_factory=list, max_length=100)
    opened_at: Timestamp
    updated_at: Timestamp
    resolved_at: Timestamp | None = None


class Dispatch(StrictModel):
    """An alert sent to one agency. Consumers drop a repeat by ``idempotency_key``."""

    dispatch_id: Annotated[str, Field(pattern=r"^dsp-[0-9a-f]{24}$")]
    idempotency_key: Annotated[str, Field(min_length=8, max_length=128)]
    agency: AgencyId
    route_id: ShortText
    escalation_level: int = Field(default=0, ge=0)
    alert: Alert
    routed_at: Timestamp
    ack_deadline: Timestamp | None = None


class AlertAck(StrictModel):
    """An agency's acknowledgement of an alert; stops its escalation."""

    alert_id: Annotated[str, Field(pattern=r"^alr-[0-9a-f]{24}$")]
    agency: AgencyId
    acked_at: Timestamp
    acked_by: ShortText | None = None
    note: LongText | None = None


class DeadLetterKind(StrEnum):
    INVALID_MESSAGE = "invalid_message"  # failed validation at a topic edge
    DEVICE_INPUT = "device_input"  # malformed/oversized/hostile device data
    UNKNOWN_EVENT = "unknown_event"  # a vendor event no parser knows
    DELIVERY_FAILED = "delivery_failed"  # a dispatch that exhausted its retries
    PROCESSING_FAILED = "processing_failed"  # a valid record whose processing raised (a bug)


class DeadLetter(StrictModel):
    """Bad input or failed work, kept with its source and the reason, so it can be replayed."""

    kind: DeadLetterKind
    reason: LongText
    error_type: ShortText | None = None
    component: ShortText = Field(
        description="What rejected it, e.g. `hub.rules`, `connector.onvif`."
    )
    source_topic: ShortText | None = None
    source_partition: int | None = None
    source_offset: int | None = None
    source_device: ShortText | None = Field(default=None, description="Device id or address.")
    key: LongText | None = None
    payload: str = Field(max_length=1_048_576, description="The input, UTF-8 or base64.")
    payload_encoding: Literal["utf-8", "base64"] = "utf-8"
    payload_truncated: bool = False
    headers: dict[ShortText, LongText] = Field(default_factory=dict)
    attempts: int = Field(default=0, ge=0)
    failed_at: Timestamp


TenantId = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9-]{1,40}$",
        description="Tenant id (a private owner with its own principal), e.g. `mall-paragon`.",
    ),
]


SiteIdText = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]


class SiteDevice(StrictModel):
    """One recorder or camera an edge agent runs a connector for, at the tenant's site."""

    connector: ShortText = Field(description="Connector that manages it, e.g. `hikvision`.")
    address: ShortText = Field(description="host:port as the site reaches it.")
    credential_ref: ShortText | None = Field(
        default=None,
        description="Where the edge agent finds the credentials at the site (`env:VAR`, `file:/path`): never the secret.",
    )
    sharing: SharingLevel = SharingLevel.REGISTRY_ONLY


class SiteConfig(StrictModel):
    """A private site's configuration for its edge agent (compacted, keyed by site id)."""

    site_id: SiteIdText
    tenant_id: TenantId
    name: ShortText | None = None
    devices: list[SiteDevice] = Field(default_factory=list, max_length=1000)
    revoked: list[CameraId] = Field(
        default_factory=list,
        max_length=10_000,
        description=(
            "Cameras of the site its tenant revoked (the city's ids): the edge agent stops "
            "watching them until they are confirmed again."
        ),
    )
    updated_at: AwareDatetime


#: a sealed credential's id, the ``<id>`` of a ``vault:<id>`` credential reference
CREDENTIAL_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
_BASE64 = r"^[A-Za-z0-9+/]*={0,2}$"


class SealedCredential(StrictModel):
    """A device's credentials encrypted at rest (compacted, keyed by ``credential_id``).

    Sealed to the vault's public key (X25519 with a key of its own per record, HKDF-SHA256,
    AES-256-GCM; ``connectors.sdk.vault``): only a holder of the key file opens it. The
    associated data binds the ciphertext to ``tenant_id`` and ``credential_id``, so a sealed
    secret copied under another id or tenant does not open.
    """

    credential_id: Annotated[str, Field(pattern=CREDENTIAL_ID_PATTERN)]
    tenant_id: TenantId
    key_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")] = Field(
        description="The vault key it is sealed to (a key file lists several during a rotation)."
    )
    ephemeral_key: Annotated[str, Field(pattern=_BASE64, max_length=64)] = Field(
        description="The X25519 public key of this record's own key agreement (base64)."
    )
    nonce: Annotated[str, Field(pattern=_BASE64, max_length=32)] = Field(
        description="The AES-GCM nonce (base64, 12 bytes)."
    )
    ciphertext: Annotated[str, Field(pattern=_BASE64, max_length=8192)] = Field(
        description="`user:password` encrypted, with its authentication tag (base64)."
    )
    sealed_at: Timestamp
    actor: ShortText = Field(description="Who sealed it: the API key's principal, or the operator.")


def _cidrs(networks: list[str]) -> list[str]:
    normalised = []
    for cidr in networks:
        try:
            normalised.append(str(ipaddress.ip_network(cidr.strip(), strict=False)))
        except ValueError:
            raise ValueError("not a network (expected a CIDR such as 10.8.0.0/16)") from None
    return normalised


#: networks as CIDRs, normalised (``10.8.0.1/16`` is ``10.8.0.0/16``)
Networks = Annotated[
    list[Annotated[str, Field(max_length=64)]],
    Field(max_length=64, description="CIDRs, e.g. `10.8.0.0/16`."),
    AfterValidator(_cidrs),
]


class NetworkGrant(StrictModel):
    """Networks the operator lets the city probe for one tenant (compacted, keyed by tenant id),
    besides the public internet every tenant's recorders may be on (``netpolicy.tenant_policy``):
    a VPN range, a private link."""

    tenant_id: TenantId
    networks: Networks = Field(default_factory=list)
    updated_at: Timestamp
    actor: ShortText


class CameraChoice(StrictModel):
    """A tenant's choices about one of its cameras (compacted, keyed by the city's camera id):
    written by ``tilik api`` for the tenant, applied by the hub's ingest domain to every record the
    tenant's edge sends, and at once to the last one it sent (docs/api.md, "Tenants")."""

    camera_id: CameraId = Field(description="The city's id of the camera (tenant-scoped).")
    tenant_id: TenantId
    site_id: SiteIdText | None = Field(default=None, description="The site it was found at.")
    confirmed: bool = Field(
        default=False, description="Until its tenant confirms it, a camera is `registry_only`."
    )
    revoked: bool = Field(
        default=False,
        description="Revoked: out of the registry until its tenant confirms it again.",
    )
    name: ShortText | None = None
    location: Location | None = None
    sharing: SharingLevel | None = Field(
        default=None, description="The level once confirmed; none: the level the site sends."
    )
    updated_at: Timestamp
    actor: ShortText = Field(description="Who made the last change.")

    @model_validator(mode="after")
    def _revoked_is_not_confirmed(self) -> CameraChoice:
        if self.revoked and self.confirmed:
            raise ValueError("a revoked camera is not confirmed")
        return self


class AuditRecord(StrictModel):
    """Who did what to which subject: onboarding, sharing changes, revocations, replays, rule changes."""

    audit_id: Annotated[str, Field(min_length=8, max_length=64)]
    at: Timestamp
    actor: ShortText
    action: ShortText
    subject: ShortText
    details: dict[ShortText, LongText] = Field(default_factory=dict)


class ApiKeyKind(StrEnum):
    """Whom an API key of ``tilik api`` speaks for."""

    OPERATOR = "operator"  # the city operator: manages keys
    AGENCY = "agency"  # one dispatch agency: its own inbox
    TENANT = "tenant"  # one private business: its own sites and cameras


API_KEY_ID_PATTERN = r"^key-[0-9a-f]{16}$"


class ApiKey(StrictModel):
    """One API key of ``tilik api`` (compacted, keyed by key id): whom it speaks for and a salted,
    slow hash of its secret, never the secret. A revoked key keeps its record without a hash."""

    key_id: Annotated[str, Field(pattern=API_KEY_ID_PATTERN)]
    kind: ApiKeyKind
    subject: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,40}$")] | None = Field(
        default=None, description="The agency or tenant id; none for the operator."
    )
    label: ShortText | None = None
    secret_hash: Annotated[str, Field(max_length=512)] | None = Field(
        default=None,
        description="`scrypt$<n>$<r>$<p>$<salt>$<hash>` (base64); none once revoked.",
    )
    created_at: Timestamp
    updated_at: Timestamp
    revoked_at: Timestamp | None = None
    actor: ShortText = Field(description="Who made the last change.")

    @model_validator(mode="after")
    def _subject_matches_kind(self) -> ApiKey:
        if (self.kind is ApiKeyKind.OPERATOR) != (self.subject is None):
            raise ValueError("an operator key has no subject; agency and tenant keys name one")
        if self.kind is ApiKeyKind.AGENCY and not re.match(AGENCY_ID_PATTERN, self.subject or ""):
            raise ValueError("an agency key's subject is an agency id")
        if (self.revoked_at is None) == (self.secret_hash is None):
            raise ValueError("a live key has a secret hash; a revoked key has none")
        return self

"""Example payloads, one valid instance per catalog model: for tests, the AsyncAPI examples and demos.

``example(Model, seed=...)`` is deterministic: the same seed gives the same payload, a different
seed gives different ids (so tests sharing a broker can tell their own messages apart).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from pydantic import BaseModel

from topics import identity
from topics.models import (
    AdminArea,
    Agency,
    Alert,
    AlertAck,
    AlertCategory,
    AlertStatus,
    ApiKey,
    ApiKeyKind,
    AuditRecord,
    CameraChoice,
    CameraRecord,
    CameraRemoval,
    CameraState,
    CameraStatus,
    Capabilities,
    DeadLetter,
    DeadLetterKind,
    DeviceEvent,
    Dispatch,
    EventAttributes,
    EventKind,
    EventSource,
    GeoPoint,
    Location,
    NetworkGrant,
    ObjectClass,
    Owner,
    OwnerKind,
    SealedCredential,
    Severity,
    SharingLevel,
    SiteConfig,
    SiteDevice,
    SiteType,
    StreamProfile,
    WatchReport,
    WatchState,
)

M = TypeVar("M", bound=BaseModel)

BASE_TIME = datetime(2026, 1, 15, 8, 30, tzinfo=UTC)


def _time(seed: int | str, minutes: int = 0) -> datetime:
    offset = seed if isinstance(seed, int) else sum(seed.encode()) * 7
    return BASE_TIME + timedelta(seconds=offset, minutes=minutes)


def _camera_id(seed: int | str) -> str:
    return identity.camera_id(vendor="hikvision", serial=f"DS-2CD2143G2-{seed}")


def _location() -> Location:
    return Location(
        area=AdminArea(
            kota="Semarang", kecamatan="Semarang Tengah", kelurahan="Kauman", rw="03", rt="07"
        ),
        point=GeoPoint(lat=-6.9695, lon=110.4254),
        address="Pasar Johar, Jl. K.H. Agus Salim",
    )


def camera_record(seed: int | str = 0) -> CameraRecord:
    serial = f"DS-2CD2143G2-{seed}"
    return CameraRecord(
        camera_id=_camera_id(seed),
        name=f"Pasar Johar gate {seed}",
        connector="onvif",
        device_id=identity.device_id(vendor="hikvision", serial=serial),
        address="10.20.30.40:80",
        credential_ref="admin@env:TILIK_CAMERA_SECRET_PASAR_JOHAR",
        owner=Owner(kind=OwnerKind.MUNICIPAL, id="diskominfo", name="Diskominfo Semarang"),
        vendor="Hikvision",
        model="DS-2CD2143G2-I",
        firmware="V5.7.3",
        serial=serial,
        location=_location(),
        site_type=SiteType.MARKET,
        streams=[
            StreamProfile(
                token="Profile_1",  # noqa: S106 - an ONVIF media profile token, not a secret
                name="main",
                rtsp_uri="rtsp://10.20.30.40:554/Streaming/Channels/101",
                codec="H264",
                width=2560,
                height=1440,
                fps=20,
            )
        ],
        capabilities=Capabilities(events=True, analytics=["line_crossing", "crowd_density"]),
        sharing=SharingLevel.LIVE,
        connector_config={"timeout_s": 5.0, "max_response_bytes": 1_048_576},
        discovered_at=_time(seed),
        updated_at=_time(seed, 5),
    )


def camera_removal(seed: int | str = 0) -> CameraRemoval:
    return CameraRemoval(
        camera_id=_camera_id(seed),
        device_id=identity.device_id(vendor="hikvision", serial=f"DS-2CD2143G2-{seed}"),
        connector="onvif",
        address="10.20.30.40:80",
        removed_at=_time(seed, 9),
        actor="owner:toko-sinar",
        reason="camera taken down for renovation",
    )


def watch_report(seed: int | str = 0) -> WatchReport:
    return WatchReport(
        camera_id=_camera_id(seed),
        connector="onvif",
        device_id=identity.device_id(vendor="hikvision", serial=f"DS-2CD2143G2-{seed}"),
        state=WatchState.CREDENTIALS_UNRESOLVED,
        reason="secret reference env:TILIK_CAMERA_SECRET_PASAR_JOHAR: environment variable is not set",
        record_updated_at=_time(seed, 5),
        watcher="tilik-connector-onvif",
        reported_at=_time(seed, 6),
    )


def camera_status(seed: int | str = 0) -> CameraStatus:
    return CameraStatus(
        camera_id=_camera_id(seed),
        state=CameraState.ONLINE,
        checked_at=_time(seed, 1),
        latency_ms=42.5,
        connector="onvif",
    )


def device_event(seed: int | str = 0) -> DeviceEvent:
    camera = _camera_id(seed)
    device_time = _time(seed, 2)
    vendor_topic = "tns1:RuleEngine/CountAggregation/Counter"
    return DeviceEvent(
        event_id=identity.event_id(
            camera_id=camera, vendor_topic=vendor_topic, device_time=device_time
        ),
        camera_id=camera,
        kind=EventKind.PEOPLE_COUNT,
        active=None,
        device_time=device_time,
        received_at=device_time + timedelta(milliseconds=180),
        source=EventSource(
            connector="onvif",
            device_id=identity.device_id(vendor="hikvision", serial=f"DS-2CD2143G2-{seed}"),
            vendor_topic=vendor_topic,
        ),
        attributes=EventAttributes(count=57, object_class=ObjectClass.HUMAN, rule="gate-zone"),
    )


def alert(seed: int | str = 0) -> Alert:
    camera = _camera_id(seed)
    opened = _time(seed, 3)
    return Alert(
        alert_id=identity.alert_id(camera_id=camera, rule_id="crowd-market", opened_at=opened),
        rule_id="crowd-market",
        category=AlertCategory.CROWD,
        severity=Severity.WARNING,
        status=AlertStatus.OPENED,
        sequence=0,
        camera_id=camera,
        camera_name=f"Pasar Johar gate {seed}",
        owner_id="diskominfo",
        location=_location(),
        site_type=SiteType.MARKET,
        title="Crowd above 50 people at Pasar Johar",
        measurement=57,
        threshold=50,
        event_ids=[device_event(seed).event_id],
        opened_at=opened,
        updated_at=opened,
    )


def dispatch(seed: int | str = 0) -> Dispatch:
    opened = alert(seed)
    agency = Agency.SATPOL_PP.value
    return Dispatch(
        dispatch_id=identity.dispatch_id(
            alert_id=opened.alert_id, agency=agency, sequence=0, escalation_level=0
        ),
        idempotency_key=identity.idempotency_key(
            alert_id=opened.alert_id, agency=agency, sequence=0
        ),
        agency=agency,
        route_id="crowd-to-satpol-pp",
        alert=opened,
        routed_at=opened.opened_at + timedelta(seconds=1),
        ack_deadline=opened.opened_at + timedelta(minutes=15),
    )


def alert_ack(seed: int | str = 0) -> AlertAck:
    opened = alert(seed)
    return AlertAck(
        alert_id=opened.alert_id,
        agency=Agency.SATPOL_PP.value,
        acked_at=opened.opened_at + timedelta(minutes=4),
        acked_by="operator-7",
        note="Team on the way.",
    )


def dead_letter(seed: int | str = 0) -> DeadLetter:
    return DeadLetter(
        kind=DeadLetterKind.INVALID_MESSAGE,
        reason="invalid DeviceEvent for tilik.events.device.v2: kind: Input should be 'motion', …",
        error_type="InvalidMessage",
        component="hub.rules",
        source_topic="tilik.events.device.v2",
        source_partition=3,
        source_offset=1042,
        key=_camera_id(seed),
        payload='{"kind": "smoke"}',
        headers={"tilik-schema": "DeviceEvent/v2"},
        failed_at=_time(seed, 4),
    )


def audit_record(seed: int | str = 0) -> AuditRecord:
    return AuditRecord(
        audit_id=f"aud-{identity.camera_id(vendor='audit', serial=str(seed))[4:]}",
        at=_time(seed, 6),
        actor="owner:toko-sinar",
        action="sharing.changed",
        subject=_camera_id(seed),
        details={"from": "registry_only", "to": "live"},
    )


def site_config(seed: int | str = 0) -> SiteConfig:
    return SiteConfig(
        site_id=f"paragon-{seed}",
        tenant_id="mall-paragon",
        devices=[
            SiteDevice(
                connector="hikvision",
                address="192.168.1.64:80",
                credential_ref="env:NVR_PASSWORD",
                sharing=SharingLevel.ALARM_LIVE,
            )
        ],
        updated_at=_time(seed, 8),
    )


def camera_choice(seed: int | str = 0) -> CameraChoice:
    return CameraChoice(
        camera_id=_camera_id(seed),
        tenant_id="mall-paragon",
        site_id=f"paragon-{seed}",
        confirmed=True,
        name="Lobi utara",
        location=Location(
            area=AdminArea(kecamatan="Semarang Tengah", kelurahan="Sekayu", rw="003", rt="007")
        ),
        sharing=SharingLevel.PUBLIC,
        updated_at=_time(seed, 8),
        actor="tenant:mall-paragon (key-0123456789abcdef)",
    )


def api_key(seed: int | str = 0) -> ApiKey:
    return ApiKey(
        key_id=f"key-{identity.camera_id(vendor='key', serial=str(seed))[4:20]}",
        kind=ApiKeyKind.AGENCY,
        subject="dishub",
        label="Dishub control room",
        secret_hash="scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g=",  # noqa: S106 (a made-up hash)
        created_at=_time(seed, 9),
        updated_at=_time(seed, 9),
        actor="tilik-admin (operator)",
    )


def sealed_credential(seed: int | str = 0) -> SealedCredential:
    # Made-up bytes of the right sizes: no key opens them.
    return SealedCredential(
        credential_id=f"rec-{identity.camera_id(vendor='vault', serial=str(seed))[4:24]}",
        tenant_id="mall-paragon",
        key_id="k20261130t021500-1a2b3c",
        ephemeral_key="RXBoZW1lcmFsS2V5RXBoZW1lcmFsS2V5RXBoZW1lcmE=",
        nonce="Tm9uY2VOb25jZU5v",
        ciphertext="Q2lwaGVydGV4dENpcGhlcnRleHRDaXBoZXJ0ZXh0Q2lwaGVy",
        sealed_at=_time(seed, 10),
        actor="tenant:mall-paragon (key-0123456789abcdef)",
    )


def network_grant(seed: int | str = 0) -> NetworkGrant:
    return NetworkGrant(
        tenant_id="mall-paragon",
        networks=["10.8.0.0/16"],
        updated_at=_time(seed, 11),
        actor="operator (key-0123456789abcdef)",
    )


EXAMPLES: dict[type[BaseModel], Callable[[Any], BaseModel]] = {
    CameraRecord: camera_record,
    CameraRemoval: camera_removal,
    WatchReport: watch_report,
    CameraStatus: camera_status,
    DeviceEvent: device_event,
    Alert: alert,
    Dispatch: dispatch,
    AlertAck: alert_ack,
    DeadLetter: dead_letter,
    AuditRecord: audit_record,
    SiteConfig: site_config,
    CameraChoice: camera_choice,
    ApiKey: api_key,
    SealedCredential: sealed_credential,
    NetworkGrant: network_grant,
}


def example(model: type[M], seed: int | str = 0) -> M:
    """A valid instance of a catalog payload model."""
    try:
        build = EXAMPLES[model]
    except KeyError:
        raise KeyError(f"no example for {model.__name__}") from None
    return cast(M, build(seed))

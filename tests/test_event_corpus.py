"""The event corpus as a table: one captured-style payload per topic or code and vendor, and the
normalised event it must give (kind, state, channel, every attribute).

Each row rebuilds the message from its file (``tests/event_corpus.py`` says how each vendor's
payload is read) and compares the whole of ``attributes``, so a class dropped from a list, a
rule name lost or a state guessed fails the row. The last tests check the tables themselves:
every row of every vendor table has a payload here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from event_corpus import (
    DAHUA,
    DAHUA_DEVICE,
    HIKVISION,
    HIKVISION_DEVICE,
    ONVIF,
    RECEIVED,
    dahua_events,
    hikvision_events,
    onvif_events,
    stream_parts,
)

from connectors.onvif.event_topics import RULES, match_topic, notification_fields
from connectors.private_vendors.dahua.events import EVENT_TABLE as DAHUA_TABLE
from connectors.private_vendors.dahua.events import parse_event_part
from connectors.private_vendors.hikvision.events import EVENT_TABLE as HIKVISION_TABLE
from connectors.private_vendors.hikvision.events import parse_alert
from connectors.sdk.base import UnparsedEvent
from connectors.sdk.multipart import Part
from connectors.sdk.xmlsafe import parse_device_xml
from topics.identity import camera_id
from topics.models import DeviceEvent, EventKind, ObjectClass

K = EventKind
HUMAN, VEHICLE, ANIMAL, FACE = (
    ObjectClass.HUMAN,
    ObjectClass.VEHICLE,
    ObjectClass.ANIMAL,
    ObjectClass.FACE,
)


def classes(*named: ObjectClass) -> dict[str, Any]:
    """The attributes a class list gives: the main class and every class."""
    return {"object_class": named[0], "object_classes": list(named)}


def the_event(events: list[Any]) -> DeviceEvent:
    (event,) = events
    assert isinstance(event, DeviceEvent), event
    return event


# --- ONVIF --------------------------------------------------------------------------------------

#: file in fixtures/onvif/events → kind, active, attributes
ONVIF_CASES: list[tuple[str, EventKind, bool | None, dict[str, Any]]] = [
    # ONVIF Core: video source, triggers, device
    ("core_MotionAlarm.xml", K.MOTION, True, {}),
    ("core_GlobalSceneChange.xml", K.SCENE_CHANGE, True, {}),
    ("core_ImageTooBlurry.xml", K.IMAGE_QUALITY, True, {"detail": "blurry"}),
    ("core_ImageTooDark.xml", K.IMAGE_QUALITY, False, {"detail": "dark"}),
    ("core_ImageTooBright.xml", K.IMAGE_QUALITY, True, {"detail": "bright"}),
    ("core_SignalLoss.xml", K.VIDEO_LOSS, True, {}),
    ("core_DigitalInput.xml", K.ALARM_INPUT, True, {"alarm_input": "AlarmIn_1"}),
    ("core_StorageFailure.xml", K.STORAGE_FAILURE, True, {}),
    ("vendor_AlarmIn.xml", K.ALARM_INPUT, True, {"alarm_input": "AlarmIn_2"}),
    ("vendor_AlarmIn_vigi.xml", K.ALARM_INPUT, False, {"alarm_input": "1"}),
    # Analytics Service rule engine (Profiles S, T, M)
    ("rule_CellMotionDetector.xml", K.MOTION, True, {"rule": "MyMotionDetectorRule"}),
    ("rule_MotionRegionDetector.xml", K.MOTION, False, {"rule": "MotionRegion1"}),
    ("rule_DeclarativeMotionDetector.xml", K.MOTION, None, {"rule": "Path1"}),
    ("rule_FieldDetector.xml", K.INTRUSION, True, {"rule": "MyFieldDetector1"}),
    (
        "rule_LineDetector.xml",
        K.LINE_CROSSING,
        None,
        {"rule": "MyLineDetector1", "direction": "LeftToRight"},
    ),
    ("rule_TamperDetector.xml", K.TAMPER, True, {"rule": "Tamper1"}),
    ("rule_LoiteringDetector.xml", K.LOITERING, True, {"rule": "Loiter1"}),
    ("rule_CountAggregation.xml", K.OBJECT_COUNT, None, {"count": 42, "rule": "GateCount"}),
    (
        "rule_LineCrossingCounter.xml",
        K.OBJECT_COUNT,
        None,
        {"count": 17, "rule": "BridgeCount", "direction": "Left"},
    ),
    (
        "rule_OccupancyCounter.xml",
        K.PEOPLE_COUNT,
        None,
        {"count": 40, "rule": "HallOccupancy", **classes(HUMAN)},
    ),
    # object classification: every class kept, an emptied list ends it, no state is a pulse
    (
        "objdet_multiclass.xml",
        K.OBJECT_DETECTED,
        None,
        {"rule": "MyObjectDetectionRule", **classes(HUMAN, ANIMAL)},
    ),
    ("objdet_cleared.xml", K.OBJECT_DETECTED, False, {"rule": "MyObjectDetectionRule"}),
    (
        "objdet_vehicle_pulse.xml",
        K.OBJECT_DETECTED,
        None,
        {"rule": "ObjectDetection1", "confidence": 0.87, **classes(VEHICLE)},
    ),
    (
        "objdet_elementitem.xml",
        K.OBJECT_DETECTED,
        None,
        {"rule": "MyObjectDetectionRule", "confidence": 0.91, **classes(VEHICLE)},
    ),
    (
        "recognition_Face.xml",
        K.FACE_DETECTED,
        None,
        {"rule": "FaceRule", "confidence": 0.93, **classes(FACE)},
    ),
    (
        "recognition_LicensePlate.xml",
        K.PLATE_RECOGNIZED,
        None,
        {"rule": "LPR1", "plate": "H 1234 AB", "confidence": 0.96, **classes(VEHICLE)},
    ),
    ("analytics_VideoAnalytics_Motion.xml", K.MOTION, True, {"rule": "VideoAnalytics1"}),
    ("audio_DetectedSound.xml", K.AUDIO_ALARM, None, {"rule": "Scream", "confidence": 0.8}),
    # consumer and prosumer detector families (Tapo, VIGI, Reolink, Hikvision IVA)
    (
        "tapo_CellMotion_People.xml",
        K.OBJECT_DETECTED,
        True,
        {"rule": "MyMotionDetectorRule", **classes(HUMAN)},
    ),
    (
        "tapo_CellMotion_Vehicle.xml",
        K.OBJECT_DETECTED,
        False,
        {"rule": "MyMotionDetectorRule", **classes(VEHICLE)},
    ),
    (
        "tapo_CellMotion_Pet.xml",
        K.OBJECT_DETECTED,
        True,
        {"rule": "MyMotionDetectorRule", **classes(ANIMAL)},
    ),
    ("tapo_CellMotion_LineCross.xml", K.LINE_CROSSING, True, {"rule": "MyLineCrossRule"}),
    ("tapo_CellMotion_Tamper.xml", K.TAMPER, True, {"rule": "MyTamperRule"}),
    ("tapo_CellMotion_Intrusion.xml", K.INTRUSION, True, {"rule": "MyIntrusionRule"}),
    (
        "tapo_TPSmartEvent_Vehicle.xml",
        K.OBJECT_DETECTED,
        True,
        {"rule": "MyTPSmartEventDetectorRule", **classes(VEHICLE)},
    ),
    (
        "tapo_TPSmartEvent_People.xml",
        K.OBJECT_DETECTED,
        False,
        {"rule": "MyTPSmartEventDetectorRule", **classes(HUMAN)},
    ),
    (
        "tapo_PeopleDetector.xml",
        K.OBJECT_DETECTED,
        True,
        {"rule": "MyPeopleDetectorRule", **classes(HUMAN)},
    ),
    ("vigi_SmartEvent_Face.xml", K.FACE_DETECTED, True, {"rule": "SmartRule", **classes(FACE)}),
    (
        "reolink_PeopleDetect.xml",
        K.OBJECT_DETECTED,
        True,
        {"rule": "MyPeopleDetectRule", **classes(HUMAN)},
    ),
    (
        "reolink_VehicleDetect.xml",
        K.OBJECT_DETECTED,
        False,
        {"rule": "MyVehicleDetectRule", **classes(VEHICLE)},
    ),
    (
        "reolink_DogCatDetect.xml",
        K.OBJECT_DETECTED,
        True,
        {"rule": "MyDogCatDetectRule", **classes(ANIMAL)},
    ),
    (
        "reolink_FaceDetect.xml",
        K.FACE_DETECTED,
        True,
        {"rule": "MyFaceDetectRule", **classes(FACE)},
    ),
    ("reolink_Motion.xml", K.MOTION, True, {"rule": "MyMotionRule"}),
    ("hikvision_HumanShapeDetect.xml", K.OBJECT_DETECTED, True, classes(HUMAN)),
    # Axis: ACAP applications (the profile or scenario is the rule), device, storage, audio
    ("axis_VMD.xml", K.MOTION, True, {"rule": "Camera1Profile1"}),
    ("axis_FenceGuard.xml", K.LINE_CROSSING, True, {"rule": "Camera1Profile2"}),
    ("axis_MotionGuard.xml", K.INTRUSION, False, {"rule": "Camera1ProfileANY"}),
    ("axis_LoiteringGuard.xml", K.LOITERING, True, {"rule": "Camera1Profile1"}),
    ("axis_PerimeterDefender.xml", K.INTRUSION, True, {"rule": "Camera1Intrusion"}),
    (
        "axis_ObjectAnalytics.xml",
        K.OBJECT_DETECTED,
        True,
        {"rule": "Device1Scenario1", **classes(HUMAN, ObjectClass.CAR)},
    ),
    ("axis_MotionDetection.xml", K.MOTION, True, {"region": "1"}),
    ("axis_PIR.xml", K.MOTION, True, {"detail": "pir"}),
    ("axis_IOPort.xml", K.ALARM_INPUT, True, {"alarm_input": "1"}),
    ("axis_VirtualInput.xml", K.ALARM_INPUT, True, {"alarm_input": "3", "detail": "virtual"}),
    ("axis_StorageFailure.xml", K.STORAGE_FAILURE, True, {}),
    ("axis_StorageDisruption.xml", K.STORAGE_FAILURE, False, {}),
    (
        "axis_StorageAlert.xml",
        K.STORAGE_FAILURE,
        True,
        {"detail": "storage_alert", "temperature_c": 41.0},
    ),
    ("axis_Tampering.xml", K.TAMPER, True, {}),
    ("axis_AudioTriggerLevel.xml", K.AUDIO_ALARM, True, {}),
    ("axis_NetworkLost.xml", K.NETWORK_FAILURE, True, {"detail": "network_down"}),
]


@pytest.mark.parametrize(
    ("fixture", "kind", "active", "attributes"), ONVIF_CASES, ids=[c[0] for c in ONVIF_CASES]
)
def test_onvif_topic_normalises_to_its_event(
    fixture: str, kind: EventKind, active: bool | None, attributes: dict[str, Any]
) -> None:
    payload = (ONVIF / fixture).read_bytes()
    event = the_event(onvif_events(payload))
    assert event.kind is kind
    assert event.active is active
    assert event.device_time == datetime(2026, 11, 28, 1, 2, 3, tzinfo=UTC)
    assert event.attributes.model_dump(exclude_none=True) == attributes


def test_onvif_topics_no_row_knows_are_kept_raw() -> None:
    for path in sorted(ONVIF.glob("unknown_*.xml")):
        (event,) = onvif_events(path.read_bytes())
        assert isinstance(event, UnparsedEvent), path.name
        assert event.reason == "no parser for this event topic"


def test_every_onvif_row_has_a_payload_in_the_corpus() -> None:
    matched = set()
    for path in ONVIF.glob("*.xml"):
        for message in parse_device_xml(path.read_bytes()).iter("{*}NotificationMessage"):
            match = match_topic(notification_fields(message).topic)
            if match is not None:
                matched.add(match.rule.topic)
    assert {rule.topic for rule in RULES} <= matched


# --- Hikvision ----------------------------------------------------------------------------------

#: file in fixtures/hikvision → kind, active, channel (None: the device), attributes
HIKVISION_CASES: list[tuple[str, EventKind, bool | None, int | None, dict[str, Any]]] = [
    # motion and smart (VCA) events
    ("vmd.xml", K.MOTION, True, 1, {"region": "1"}),
    ("PIR.xml", K.MOTION, True, 1, {"detail": "pir"}),
    (
        "rapidMove.xml",
        K.MOTION,
        True,
        1,
        {"region": "2", "detail": "fast_moving", **classes(HUMAN)},
    ),
    ("linedetection.xml", K.LINE_CROSSING, True, 3, {"region": "2", **classes(HUMAN)}),
    ("fielddetection.xml", K.INTRUSION, True, 1, {"region": "1", **classes(VEHICLE)}),
    (
        "fielddetection_two_classes.xml",
        K.INTRUSION,
        True,
        9,
        {"region": "1", **classes(HUMAN, VEHICLE)},
    ),
    ("regionEntrance.xml", K.REGION_ENTRANCE, True, 1, {"region": "4", **classes(HUMAN)}),
    ("regionExiting.xml", K.REGION_EXIT, True, 1, {"region": "4"}),
    ("loitering.xml", K.LOITERING, True, 1, {"region": "3", **classes(HUMAN)}),
    ("group.xml", K.CROWD_DENSITY, True, 1, {"region": "1", "count": 23}),
    ("peopleGathering.xml", K.CROWD_DENSITY, True, 1, {"count": 37, "region": "1"}),
    ("crowd.xml", K.CROWD_DENSITY, True, 1, {"count": 18}),
    ("unattendedBaggage.xml", K.OBJECT_ABANDONED, True, 1, {"region": "4"}),
    ("attendedBaggage.xml", K.OBJECT_REMOVED, True, 1, {"region": "1"}),
    ("violentMotion.xml", K.FIGHT, True, 1, {"region": "1"}),
    (
        "illegalParking.xml",
        K.PARKING_VIOLATION,
        True,
        1,
        {"plate": "H 8812 QZ", "dwell_s": 420, "region": "1"},
    ),
    ("parking.xml", K.PARKING_VIOLATION, True, 1, {"dwell_s": 95, "region": "2"}),
    # a duration alert is the event it reports on, with its own state
    ("duration_linedetection.xml", K.LINE_CROSSING, True, 1, {}),
    ("duration_fielddetection_inactive.xml", K.INTRUSION, False, 2, {}),
    # faces, plates, counting
    ("facedetection.xml", K.FACE_DETECTED, True, 1, {"region": "1", **classes(FACE)}),
    ("faceSnap.xml", K.FACE_DETECTED, None, 1, classes(FACE)),
    (
        "ANPR.xml",
        K.PLATE_RECOGNIZED,
        None,
        1,
        {
            "plate": "B 1234 XYZ",
            "confidence": 0.97,
            "direction": "reverse",
            **classes(ObjectClass.MOTORCYCLE),
        },
    ),
    (
        "vehicleDetection.xml",
        K.PLATE_RECOGNIZED,
        None,
        1,
        {"plate": "H 8812 QZ", **classes(ObjectClass.TRUCK)},
    ),
    ("PeopleCounting.xml", K.PEOPLE_COUNT, None, 1, {"count": 128, **classes(HUMAN)}),
    (
        "framesPeopleCounting.xml",
        K.PEOPLE_COUNT,
        None,
        1,
        {"count": 14, "region": "1", **classes(HUMAN)},
    ),
    # fire and heat
    ("fireDetection.xml", K.FIRE, True, 2, {"temperature_c": 312.5}),
    ("smokeDetection.xml", K.FIRE, True, 2, {"region": "1", "detail": "smoke"}),
    ("TMA.xml", K.TEMPERATURE_ALARM, True, 2, {"temperature_c": 92.3, "rule": "Trafo Gardu"}),
    (
        "TMPA.xml",
        K.TEMPERATURE_ALARM,
        True,
        2,
        {"temperature_c": 76.0, "rule": "Trafo Gardu", "detail": "pre_alarm"},
    ),
    # alarm inputs (device-level: the input is the device's, whatever channel the alert names)
    ("IO.xml", K.ALARM_INPUT, True, None, {"alarm_input": "2"}),
    ("IO_recorder.xml", K.ALARM_INPUT, False, None, {"alarm_input": "4"}),
    # image, audio, video
    ("tamperdetection.xml", K.TAMPER, True, 1, {}),
    ("shelteralarm.xml", K.TAMPER, False, 1, {}),
    ("defocus.xml", K.IMAGE_QUALITY, True, 1, {"detail": "blurry"}),
    ("scenechangedetection.xml", K.SCENE_CHANGE, True, 1, {}),
    ("audioexception.xml", K.AUDIO_ALARM, True, 1, {"detail": "audioSteepRise"}),
    ("videoloss_active.xml", K.VIDEO_LOSS, True, 12, {}),
    ("badvideo.xml", K.VIDEO_LOSS, True, 6, {"detail": "bad_video"}),
    ("videomismatch.xml", K.VIDEO_LOSS, True, 6, {"detail": "video_mismatch"}),
    # the device
    ("diskfull.xml", K.STORAGE_FAILURE, True, None, {"detail": "disk_full"}),
    ("diskerror.xml", K.STORAGE_FAILURE, True, None, {"detail": "disk_error"}),
    ("nicbroken.xml", K.NETWORK_FAILURE, True, None, {"detail": "network_down"}),
    ("ipconflict.xml", K.NETWORK_FAILURE, True, None, {"detail": "ip_conflict"}),
]


@pytest.mark.parametrize(
    ("fixture", "kind", "active", "channel", "attributes"),
    HIKVISION_CASES,
    ids=[c[0] for c in HIKVISION_CASES],
)
def test_hikvision_event_type_normalises_to_its_event(
    fixture: str,
    kind: EventKind,
    active: bool | None,
    channel: int | None,
    attributes: dict[str, Any],
) -> None:
    event = the_event(hikvision_events((HIKVISION / fixture).read_bytes()))
    assert event.kind is kind
    assert event.active is active
    assert event.source.channel == channel
    assert event.camera_id == camera_id(
        vendor="hikvision", serial=HIKVISION_DEVICE.serial, channel=channel or 1
    )
    assert event.device_time == datetime(
        2026, 11, 27, 19, 42, 7, tzinfo=timezone(timedelta(hours=7))
    )
    assert event.attributes.model_dump(exclude_none=True) == attributes


def test_a_hikvision_alert_stream_gives_the_alert_not_its_picture_nor_the_keepalive() -> None:
    stream = (HIKVISION / "streams" / "alertStream_anpr.multipart").read_bytes()
    parts = stream_parts(stream, "boundary")
    assert [part.content_type for part in parts] == [
        "application/xml",
        "image/jpeg",
        "application/xml",
    ]
    events = [event for part in parts for event in hikvision_events(part.body, part.content_type)]
    assert [(e.kind, e.attributes.plate) for e in events if isinstance(e, DeviceEvent)] == [
        (K.PLATE_RECOGNIZED, "B 1234 XYZ")
    ]
    assert len(events) == 1


def test_a_duration_alert_keeps_an_id_of_its_own() -> None:
    duration = the_event(hikvision_events((HIKVISION / "duration_linedetection.xml").read_bytes()))
    crossing = (
        (HIKVISION / "linedetection.xml").read_bytes().replace(b"<channelID>3<", b"<channelID>1<")
    )
    assert duration.source.vendor_topic == "linedetection"
    assert duration.event_id != the_event(hikvision_events(crossing)).event_id


def test_every_hikvision_code_has_a_payload_in_the_corpus() -> None:
    covered = {parse_alert(path.read_bytes()).code.lower() for path in HIKVISION.glob("*.xml")}
    assert set(HIKVISION_TABLE) <= covered


# --- Dahua --------------------------------------------------------------------------------------

DAHUA_TIME = datetime.fromtimestamp(1795812127, UTC)

#: file in fixtures/dahua → kind, active, channel (None: the device), attributes
DAHUA_CASES: list[tuple[str, EventKind, bool | None, int | None, dict[str, Any]]] = [
    # motion
    ("VideoMotion.txt", K.MOTION, True, 1, {"region": "Pintu Masuk"}),
    ("SmartMotionHuman.txt", K.OBJECT_DETECTED, True, 1, {"region": "Teras", **classes(HUMAN)}),
    (
        "SmartMotionVehicle.txt",
        K.OBJECT_DETECTED,
        False,
        2,
        {"region": "Parkiran", **classes(VEHICLE)},
    ),
    (
        "MoveDetection.txt",
        K.MOTION,
        True,
        1,
        {"rule": "Lari", "detail": "fast_moving", **classes(HUMAN)},
    ),
    # IVS rules
    (
        "CrossLineDetection.txt",
        K.LINE_CROSSING,
        True,
        2,
        {"rule": "Garis Jembatan", "direction": "RightToLeft", **classes(HUMAN)},
    ),
    # firmware that writes data as Python's repr, not JSON: the event is kept, its data raw
    ("CrossLineDetection_data_not_json.txt", K.LINE_CROSSING, True, 2, {}),
    (
        "CrossFenceDetection.txt",
        K.LINE_CROSSING,
        True,
        1,
        {"rule": "Pagar Timur", "direction": "LeftToRight", **classes(HUMAN)},
    ),
    (
        "CrossRegionDetection.txt",
        K.INTRUSION,
        True,
        1,
        {"rule": "Area Gudang", "direction": "Enter", **classes(VEHICLE)},
    ),
    (
        "CrossRegionDetection_two_classes.txt",
        K.INTRUSION,
        True,
        1,
        {"rule": "Area Gudang", "direction": "Enter", **classes(HUMAN, VEHICLE)},
    ),
    (
        "LeftDetection.txt",
        K.OBJECT_ABANDONED,
        True,
        3,
        {"rule": "Lobi Stasiun", **classes(ObjectClass.OTHER)},
    ),
    (
        "ObjectPlacementDetection.txt",
        K.OBJECT_ABANDONED,
        True,
        1,
        {"rule": "Halte", **classes(ObjectClass.OTHER)},
    ),
    (
        "TakenAwayDetection.txt",
        K.OBJECT_REMOVED,
        True,
        1,
        {"rule": "Panel Pompa", **classes(ObjectClass.OTHER)},
    ),
    (
        "ObjectRemovalDetection.txt",
        K.OBJECT_REMOVED,
        False,
        1,
        {"rule": "Panel Pompa", **classes(ObjectClass.OTHER)},
    ),
    (
        "WanderDetection.txt",
        K.LOITERING,
        True,
        1,
        {"rule": "Gerbang", "dwell_s": 95, **classes(HUMAN)},
    ),
    (
        "StayDetection.txt",
        K.LOITERING,
        True,
        1,
        {"rule": "Trotoar", "dwell_s": 300, **classes(HUMAN)},
    ),
    ("FightDetection.txt", K.FIGHT, True, 1, {"rule": "Alun-alun", **classes(HUMAN)}),
    (
        "RioterDetection.txt",
        K.CROWD_DENSITY,
        True,
        1,
        {"rule": "Simpang Lima", "count": 31, **classes(HUMAN)},
    ),
    ("CrowdDetection.txt", K.CROWD_DENSITY, True, 1, {"count": 63, "rule": "Alun-alun"}),
    (
        "ParkingDetection.txt",
        K.PARKING_VIOLATION,
        True,
        4,
        {"rule": "Larangan Parkir", "plate": "H 4455 KL", "dwell_s": 610, **classes(VEHICLE)},
    ),
    # people, faces, plates
    (
        "NumberStat.txt",
        K.PEOPLE_COUNT,
        None,
        1,
        {"count": 113, "rule": "NumberStat", "direction": "EnterOver"},
    ),
    (
        "ManNumDetection.txt",
        K.PEOPLE_COUNT,
        True,
        1,
        {"rule": "Ruang Tunggu", "count": 26, **classes(HUMAN)},
    ),
    ("FaceDetection.txt", K.FACE_DETECTED, True, 1, classes(FACE)),
    (
        "FaceRecognition.txt",
        K.FACE_DETECTED,
        None,
        1,
        {"rule": "FaceAnalysis", "confidence": 0.87, "detail": "recognition", **classes(FACE)},
    ),
    ("HumanTrait.txt", K.OBJECT_DETECTED, None, 1, {"rule": "HumanTrait", **classes(HUMAN)}),
    (
        "TrafficJunction.txt",
        K.PLATE_RECOGNIZED,
        None,
        1,
        {
            "rule": "Simpang Tugu Muda",
            "plate": "H 1234 AB",
            "confidence": 0.91,
            **classes(VEHICLE, ObjectClass.LICENSE_PLATE),
        },
    ),
    (
        "TrafficParking.txt",
        K.PARKING_VIOLATION,
        True,
        1,
        {
            "rule": "Larangan Parkir Pemuda",
            "plate": "H 9876 CD",
            "dwell_s": 720,
            **classes(VEHICLE),
        },
    ),
    # fire and heat
    ("FireWarning.txt", K.FIRE, True, 2, {"rule": "Gudang", "temperature_c": 286.4}),
    ("SmokeDetection.txt", K.FIRE, True, 1, {"rule": "TPS Jatibarang", "detail": "smoke"}),
    (
        "HeatImagingTemper.txt",
        K.TEMPERATURE_ALARM,
        True,
        2,
        {"rule": "Trafo", "temperature_c": 94.2},
    ),
    (
        "BetweenRuleTemperatureAlarm.txt",
        K.TEMPERATURE_ALARM,
        True,
        2,
        {"rule": "Panel A-B", "temperature_c": 18.5},
    ),
    # alarm inputs: the index numbers the input, and the event is the device's
    ("AlarmLocal.txt", K.ALARM_INPUT, True, None, {"alarm_input": "3"}),
    ("AlarmLocal_stop.txt", K.ALARM_INPUT, False, None, {"alarm_input": "1"}),
    ("AlarmExtended.txt", K.ALARM_INPUT, True, None, {"alarm_input": "8", "detail": "extension"}),
    # video, audio
    ("VideoBlind.txt", K.TAMPER, True, 6, {}),
    ("VideoLoss.txt", K.VIDEO_LOSS, True, 7, {}),
    ("VideoAbnormalDetection.txt", K.SCENE_CHANGE, True, 1, {"detail": "SceneChange"}),
    ("VideoUnFocus.txt", K.IMAGE_QUALITY, True, 1, {"detail": "blurry"}),
    ("AudioMutation.txt", K.AUDIO_ALARM, True, 1, {"detail": "sound_change"}),
    ("AudioAnomaly.txt", K.AUDIO_ALARM, True, 1, {"detail": "Scream"}),
    # the device
    ("StorageFailure.txt", K.STORAGE_FAILURE, True, None, {"detail": "storage_failure"}),
    ("StorageNotExist.txt", K.STORAGE_FAILURE, True, None, {"detail": "no_storage"}),
    ("StorageLowSpace.txt", K.STORAGE_FAILURE, True, None, {"detail": "low_space"}),
    ("NetAbort.txt", K.NETWORK_FAILURE, True, None, {"detail": "network_down"}),
    ("IPConflict.txt", K.NETWORK_FAILURE, True, None, {"detail": "ip_conflict"}),
]


@pytest.mark.parametrize(
    ("fixture", "kind", "active", "channel", "attributes"),
    DAHUA_CASES,
    ids=[c[0] for c in DAHUA_CASES],
)
def test_dahua_code_normalises_to_its_event(
    fixture: str,
    kind: EventKind,
    active: bool | None,
    channel: int | None,
    attributes: dict[str, Any],
) -> None:
    event = the_event(dahua_events((DAHUA / fixture).read_bytes()))
    assert event.kind is kind
    assert event.active is active
    assert event.source.channel == channel
    assert event.camera_id == camera_id(
        vendor="dahua", serial=DAHUA_DEVICE.serial, channel=channel or 1
    )
    assert event.device_time in (DAHUA_TIME, RECEIVED)
    assert event.attributes.model_dump(exclude_none=True) == attributes


def test_every_dahua_code_has_a_payload_in_the_corpus() -> None:
    covered = {
        event.code
        for path in DAHUA.glob("*.txt")
        for event in parse_event_part(Part({}, path.read_bytes()), now=RECEIVED)
    }
    assert set(DAHUA_TABLE) <= covered


def test_vendor_codes_no_table_knows_are_kept_raw() -> None:
    unknown = [
        *hikvision_events((HIKVISION / "unknown_illaccess.xml").read_bytes()),
        *dahua_events((DAHUA / "unknown_LoginFailure.txt").read_bytes()),
    ]
    assert [(e.vendor_topic, type(e)) for e in unknown] == [
        ("illaccess", UnparsedEvent),
        ("LoginFailure", UnparsedEvent),
    ]

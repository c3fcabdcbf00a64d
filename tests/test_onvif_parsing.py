"""ONVIF connector, pure parts: hardened XML, the topic table, scopes, URIs, probe policy, inventory."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree
from pydantic import SecretStr
from structlog.testing import capture_logs

from connectors.onvif.device import parse_clock
from connectors.onvif.discovery import parse_probe_matches
from connectors.onvif.event_topics import TopicParser, normalise_topic, notifications, rule_for
from connectors.onvif.inventory import load_inventory, parse_inventory
from connectors.onvif.probe import parse_scopes, strip_credentials
from connectors.onvif.soap import fault_of, username_token
from connectors.onvif.subscription import granted_lifetime
from connectors.sdk.base import UnparsedEvent
from connectors.sdk.errors import ConfigurationError, DeviceDataError
from connectors.sdk.netpolicy import ProbePolicy
from connectors.sdk.secrets import Credentials
from connectors.sdk.xmlsafe import parse_device_xml
from topics.models import DeadLetterKind, DeviceEvent, EventKind, ObjectClass

CAMERA = "cam-0123456789abcdef0123"
DEVICE = "dev-0123456789abcdef0123"

# A PullMessagesResponse as a Hikvision DS-2CD2143G2-I sends it (namespaces trimmed to those used).
PULL_RESPONSE = """<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"
  xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2"
  xmlns:tev="http://www.onvif.org/ver10/events/wsdl" xmlns:tns1="http://www.onvif.org/ver10/topics">
<env:Body><tev:PullMessagesResponse>
<tev:CurrentTime>2026-11-28T01:02:03Z</tev:CurrentTime>
<tev:TerminationTime>2026-11-28T01:03:03Z</tev:TerminationTime>
{messages}
</tev:PullMessagesResponse></env:Body></env:Envelope>"""


def message(
    topic: str,
    source: dict[str, str],
    data: dict[str, str],
    *,
    utc: str = "2026-11-28T01:02:03Z",
    op: str = "Changed",
) -> str:
    items = lambda d: "".join(f'<tt:SimpleItem Name="{k}" Value="{v}"/>' for k, v in d.items())  # noqa: E731
    return (
        '<wsnt:NotificationMessage><wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">'
        f'{topic}</wsnt:Topic><wsnt:Message><tt:Message UtcTime="{utc}" PropertyOperation="{op}">'
        f"<tt:Source>{items(source)}</tt:Source><tt:Data>{items(data)}</tt:Data>"
        "</tt:Message></wsnt:Message></wsnt:NotificationMessage>"
    )


def parse_one(xml_message: str) -> DeviceEvent | UnparsedEvent:
    body = parse_device_xml(PULL_RESPONSE.format(messages=xml_message).encode())
    (notification,) = notifications(body)
    return TopicParser(camera_id=CAMERA, device_id=DEVICE).parse(notification)


VIDEO_SOURCE = {"VideoSourceConfigurationToken": "VideoSourceToken"}
RULE = {
    "VideoSourceConfigurationToken": "VideoSourceToken",
    "VideoAnalyticsConfigurationToken": "VideoAnalyticsToken",
    "Rule": "MyRule",
}


@pytest.mark.parametrize(
    ("topic", "source", "data", "kind", "active", "extra"),
    [
        (
            "tns1:VideoSource/MotionAlarm",
            {"Source": "1"},
            {"State": "true"},
            EventKind.MOTION,
            True,
            {},
        ),
        (
            "tns1:RuleEngine/CellMotionDetector/Motion",
            RULE,
            {"IsMotion": "false"},
            EventKind.MOTION,
            False,
            {"rule": "MyRule"},
        ),
        (
            "tns1:RuleEngine/FieldDetector/ObjectsInside",
            RULE,
            {"IsInside": "true"},
            EventKind.INTRUSION,
            True,
            {},
        ),
        (
            "tns1:RuleEngine/LineDetector/Crossed",
            RULE,
            {"ObjectId": "17"},
            EventKind.LINE_CROSSING,
            None,
            {},
        ),
        (
            "tns1:RuleEngine/TamperDetector/Tamper",
            RULE,
            {"IsTamper": "true"},
            EventKind.TAMPER,
            True,
            {},
        ),
        (
            "tns1:VideoSource/GlobalSceneChange/ImagingService",
            VIDEO_SOURCE,
            {"State": "true"},
            EventKind.SCENE_CHANGE,
            True,
            {},
        ),
        (
            "tns1:VideoSource/ImageTooBlurry/AnalyticsService",
            VIDEO_SOURCE,
            {"State": "true"},
            EventKind.IMAGE_QUALITY,
            True,
            {"detail": "blurry"},
        ),
        (
            "tns1:VideoSource/ImageTooDark/ImagingService",
            VIDEO_SOURCE,
            {"State": "false"},
            EventKind.IMAGE_QUALITY,
            False,
            {"detail": "dark"},
        ),
        (
            "tns1:VideoSource/ImageTooBright/AnalyticsService",
            VIDEO_SOURCE,
            {"State": "1"},
            EventKind.IMAGE_QUALITY,
            True,
            {"detail": "bright"},
        ),
        (
            "tns1:RuleEngine/CountAggregation/Counter",
            RULE,
            {"Count": "12"},
            EventKind.OBJECT_COUNT,
            None,
            {"count": 12},
        ),
        (
            "tns1:RuleEngine/OccupancyCounter/Occupancy",
            RULE,
            {"Count": "40"},
            EventKind.PEOPLE_COUNT,
            None,
            {"count": 40, "object_class": ObjectClass.HUMAN},
        ),
        (
            "tns1:RuleEngine/ObjectDetection/Object",
            RULE,
            {"ObjectId": "3", "ClassTypes": "Vehicle"},
            EventKind.OBJECT_DETECTED,
            None,
            {"object_class": ObjectClass.VEHICLE},
        ),
        (
            "tns1:RuleEngine/LoiteringDetector/ObjectIsLoitering",
            RULE,
            {"IsLoitering": "true"},
            EventKind.LOITERING,
            True,
            {},
        ),
        (
            "tns1:Device/HardwareFailure/StorageFailure",
            {"Token": "SD_DISK_20200422"},
            {"Failed": "true"},
            EventKind.STORAGE_FAILURE,
            True,
            {},
        ),
        (
            "tns1:RuleEngine/MyRuleDetector/PeopleDetect",
            VIDEO_SOURCE,
            {"State": "true"},
            EventKind.OBJECT_DETECTED,
            True,
            {"object_class": ObjectClass.HUMAN},
        ),
    ],
)
def test_each_topic_maps_to_its_kind(topic, source, data, kind, active, extra) -> None:
    event = parse_one(message(topic, source, data))
    assert isinstance(event, DeviceEvent), event
    assert event.kind is kind
    assert event.active is active
    assert event.device_time == datetime(2026, 11, 28, 1, 2, 3, tzinfo=UTC)
    assert event.source.vendor_topic == topic
    for name, value in extra.items():
        assert getattr(event.attributes, name) == value


def test_stray_whitespace_and_vendor_prefixes_are_normalised() -> None:
    padded = "\n\t\ttns1:RuleEngine/ tnsaxis:CellMotionDetector /Motion \n"
    assert normalise_topic(padded) == "RuleEngine/CellMotionDetector/Motion"
    event = parse_one(message(padded, RULE, {"IsMotion": " True "}))
    assert isinstance(event, DeviceEvent)
    assert event.kind is EventKind.MOTION and event.active is True


def test_vendor_suffixes_fall_back_to_the_longest_known_prefix() -> None:
    assert rule_for("tns1:RuleEngine/LoiteringDetector/SomethingVendorSpecific") is not None
    assert rule_for("tns1:RuleEngine") is None


def test_event_id_is_stable_for_a_replayed_event_and_differs_for_another() -> None:
    first = parse_one(message("tns1:VideoSource/MotionAlarm", {"Source": "1"}, {"State": "true"}))
    again = parse_one(message("tns1:VideoSource/MotionAlarm", {"Source": "1"}, {"State": "true"}))
    ended = parse_one(message("tns1:VideoSource/MotionAlarm", {"Source": "1"}, {"State": "false"}))
    later = parse_one(
        message(
            "tns1:VideoSource/MotionAlarm",
            {"Source": "1"},
            {"State": "true"},
            utc="2026-11-28T01:02:04Z",
        )
    )
    assert isinstance(first, DeviceEvent) and isinstance(again, DeviceEvent)
    assert isinstance(ended, DeviceEvent) and isinstance(later, DeviceEvent)
    assert first.event_id == again.event_id
    assert len({first.event_id, ended.event_id, later.event_id}) == 3


def test_unknown_topic_is_kept_raw_and_logged_once() -> None:
    topic = "tns1:RuleEngine/tnsvendor:UnheardOfDetector/Thing"
    with capture_logs() as logs:
        first = parse_one(message(topic, RULE, {"State": "true"}))
        second = parse_one(message(topic, RULE, {"State": "false"}))
    assert isinstance(first, UnparsedEvent) and isinstance(second, UnparsedEvent)
    assert first.vendor_topic == topic and "UnheardOfDetector" in first.payload
    assert first.camera_id == CAMERA and first.device_id == DEVICE
    assert [entry["event"] for entry in logs].count("onvif.event.unparsed") == 1


def test_known_topic_without_its_state_item_is_unparsed_not_guessed() -> None:
    event = parse_one(message("tns1:RuleEngine/CellMotionDetector/Motion", RULE, {"Other": "x"}))
    assert isinstance(event, UnparsedEvent)
    assert "IsMotion" in event.reason


def test_values_that_make_no_valid_event_are_dead_lettered_as_device_input_not_raised() -> None:
    counter = "tns1:RuleEngine/CountAggregation/Counter"
    # A rule name longer than the catalog allows: ValidationError out of parse before.
    event = parse_one(message(counter, {"Rule": "r" * 300}, {"Count": "3"}))
    assert isinstance(event, UnparsedEvent) and event.kind is DeadLetterKind.DEVICE_INPUT
    assert event.reason.startswith("ONVIF event") and "rule" in event.reason
    assert "r" * 300 not in event.reason
    # A count of 1e400 (OverflowError before) is no number: the event says so, as for "x".
    event = parse_one(message(counter, {"Rule": "Gate"}, {"Count": "1e400"}))
    assert isinstance(event, UnparsedEvent) and "numeric" in event.reason


def test_a_likelihood_that_is_no_finite_number_is_left_out() -> None:
    # inf passed the old "> 1" scaling and failed validation (ValidationError out of parse).
    counter = "tns1:RuleEngine/CountAggregation/Counter"
    for likelihood in ("inf", "nan", "1e400"):
        event = parse_one(
            message(counter, {"Rule": "Gate"}, {"Count": "3", "Likelihood": likelihood})
        )
        assert isinstance(event, DeviceEvent)
        assert event.attributes.confidence is None and event.attributes.count == 3


def test_a_device_time_utc_cannot_hold_falls_back_to_the_receive_time() -> None:
    event = parse_one(
        message(
            "tns1:VideoSource/MotionAlarm",
            VIDEO_SOURCE,
            {"State": "true"},
            utc="0001-01-01T00:00:00+01:00",  # OverflowError in astimezone before
        )
    )
    assert isinstance(event, DeviceEvent)
    assert event.device_time == event.received_at


def test_renewal_is_due_within_the_asked_lifetime_whatever_the_device_claims() -> None:
    asked = timedelta(seconds=60)

    def reply(current: str, termination: str) -> etree._Element:
        return parse_device_xml(
            f"<r><CurrentTime>{current}</CurrentTime>"
            f"<TerminationTime>{termination}</TerminationTime></r>".encode()
        )

    assert granted_lifetime(reply("2026-01-01T00:00:00Z", "2026-01-01T00:00:30Z"), asked) == (
        timedelta(seconds=30)
    )
    # Year 1 to year 9999 used to overflow when the renewal was scheduled.
    assert granted_lifetime(reply("0001-01-01T00:00:00Z", "9999-12-31T00:00:00Z"), asked) == asked
    assert granted_lifetime(reply("later", "2026-01-01T00:00:30Z"), asked) == asked


def test_a_device_clock_outside_usable_years_is_no_clock() -> None:
    def clock(year: str) -> datetime | None:
        return parse_clock(
            parse_device_xml(
                f"<r><UTCDateTime><Date><Year>{year}</Year><Month>2</Month><Day>3</Day></Date>"
                "<Time><Hour>4</Hour><Minute>5</Minute><Second>6</Second></Time></UTCDateTime></r>".encode()
            )
        )

    assert clock("2026") == datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)
    for year in ("9999", "99999999999999999999", "\u00b2", "0"):
        assert clock(year) is None


# --- hardened XML ---------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>&lol2;</env:Body></env:Envelope>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>&xxe;</env:Body></env:Envelope>"""


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, XXE], ids=["billion-laughs", "xxe"])
def test_entity_payloads_are_refused_with_the_payload_kept(payload: bytes) -> None:
    with pytest.raises(DeviceDataError, match="DOCTYPE") as caught:
        parse_device_xml(payload, device="127.0.0.1:1")
    assert caught.value.payload == payload
    assert caught.value.device == "127.0.0.1:1"


def test_malformed_and_oversized_xml_are_device_data_errors() -> None:
    with pytest.raises(DeviceDataError, match="malformed"):
        parse_device_xml(b"<env:Envelope><unclosed></env:Envelope>")
    with pytest.raises(DeviceDataError, match="exceeds"):
        parse_device_xml(b"<a>" + b"x" * 2000 + b"</a>", max_bytes=1000)


def test_soap_fault_subcode_is_read() -> None:
    root = parse_device_xml(
        b'<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error">'
        b"<env:Body><env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode>"
        b"<env:Value>ter:NotAuthorized</env:Value></env:Subcode></env:Code>"
        b'<env:Reason><env:Text xml:lang="en">Sender not Authorized</env:Text></env:Reason>'
        b"</env:Fault></env:Body></env:Envelope>"
    )
    assert fault_of(root) == ("env:Sender", "ter:NotAuthorized", "Sender not Authorized")


def test_an_element_named_fault_inside_an_answer_is_data_not_a_soap_fault() -> None:
    """Only a ``Fault`` child of the envelope's ``Body`` is a fault: an answer's own elements
    (a vendor extension, say) are not, wherever they sit."""
    root = parse_device_xml(
        b'<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope">'
        b"<env:Body><GetScopesResponse><Extension><env:Fault><env:Code><env:Value>env:Sender"
        b"</env:Value></env:Code></env:Fault></Extension></GetScopesResponse></env:Body>"
        b"</env:Envelope>"
    )
    assert fault_of(root) is None


def test_username_token_digest_follows_the_profile_and_the_device_clock() -> None:
    nonce = b"0123456789abcdef"
    creds = Credentials(username="admin", password=SecretStr("s3cret"))
    token = username_token(creds, clock_offset=timedelta(hours=1), nonce=nonce)
    created = token.split("<wsu:Created>")[1].split("<")[0]
    created_at = datetime.fromisoformat(created.replace("Z", "+00:00"))
    assert abs((created_at - datetime.now(UTC)) - timedelta(hours=1)) < timedelta(seconds=5)
    expected = base64.b64encode(
        hashlib.sha1(nonce + created.encode() + b"s3cret").digest()
    ).decode()
    assert f">{expected}</wsse:Password>" in token
    assert "s3cret" not in token


# --- records, policy, discovery, inventory --------------------------------------------------


def test_scopes_give_name_location_and_hardware() -> None:
    scopes = parse_scopes(
        [
            "onvif://www.onvif.org/type/video_encoder",
            "onvif://www.onvif.org/name/Pasar%20Johar",
            "onvif://www.onvif.org/location/Semarang_Tengah",
            "onvif://www.onvif.org/hardware/DS-2CD2143G2-I",
        ]
    )
    assert scopes["name"] == "Pasar Johar"
    assert scopes["location"] == "Semarang Tengah"
    assert scopes["hardware"] == "DS-2CD2143G2-I"


def test_stream_uris_lose_embedded_credentials() -> None:
    assert (
        strip_credentials("rtsp://admin:pw@10.0.0.5:554/Streaming/101")
        == "rtsp://10.0.0.5:554/Streaming/101"
    )
    assert (
        strip_credentials("http://10.0.0.5/snap.jpg?user=admin&password=pw&ch=1")
        == "http://10.0.0.5/snap.jpg?ch=1"
    )


def test_probe_policy_allows_private_and_loopback_only_by_default() -> None:
    policy = ProbePolicy.default(environ={})
    assert policy.check_address("127.0.0.1:8080") == "127.0.0.1:8080"
    assert policy.check_address("192.168.1.20:80") == "192.168.1.20:80"
    for refused in (
        "8.8.8.8:80",
        "169.254.169.254:80",
        "239.255.255.250:3702",
        "camera.example:80",
    ):
        with pytest.raises(ConfigurationError, match="refusing"):
            policy.check_address(refused)
    assert list(policy.expand("127.0.0.0/30", 80)) == ["127.0.0.1:80", "127.0.0.2:80"]
    with pytest.raises(ConfigurationError, match="refusing"):
        list(policy.expand("8.8.8.0/30", 80))
    with pytest.raises(ConfigurationError, match="more than"):
        list(policy.expand("10.0.0.0/8", 80))
    narrow = ProbePolicy.default(environ={"TILIK_ONVIF_PROBE_ALLOW": "127.0.0.0/8"})
    with pytest.raises(ConfigurationError):
        narrow.check_address("192.168.1.20:80")


PROBE_MATCHES = """<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope"
 xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"
 xmlns:dn="http://www.onvif.org/ver10/network/wsdl">
<SOAP-ENV:Header><wsa:RelatesTo>urn:uuid:probe-1</wsa:RelatesTo></SOAP-ENV:Header>
<SOAP-ENV:Body><d:ProbeMatches><d:ProbeMatch>
<wsa:EndpointReference><wsa:Address>urn:uuid:4a1b-cam</wsa:Address></wsa:EndpointReference>
<d:Types>dn:NetworkVideoTransmitter</d:Types>
<d:Scopes>onvif://www.onvif.org/name/Simpang onvif://www.onvif.org/hardware/IPC</d:Scopes>
<d:XAddrs>{xaddrs}</d:XAddrs><d:MetadataVersion>1</d:MetadataVersion>
</d:ProbeMatch></d:ProbeMatches></SOAP-ENV:Body></SOAP-ENV:Envelope>"""


def test_probe_match_gives_endpoint_reference_and_an_allowed_address() -> None:
    policy = ProbePolicy.default(environ={})
    payload = PROBE_MATCHES.format(
        xaddrs="http://8.8.8.8/onvif/device_service http://127.0.0.7:8000/onvif/device_service"
    ).encode()
    (device,) = parse_probe_matches(
        payload, policy=policy, sender="127.0.0.7:3702", message_id="urn:uuid:probe-1"
    )
    assert device.endpoint_reference == "urn:uuid:4a1b-cam"
    assert device.address == "127.0.0.7:8000"
    assert "onvif://www.onvif.org/name/Simpang" in device.scopes
    refused = PROBE_MATCHES.format(xaddrs="http://8.8.8.8/onvif/device_service").encode()
    assert (
        parse_probe_matches(refused, policy=policy, sender="x", message_id="urn:uuid:probe-1") == []
    )
    assert (
        parse_probe_matches(payload, policy=policy, sender="x", message_id="urn:uuid:other") == []
    )


def test_inventory_csv_and_yaml_give_placement(tmp_path: Path) -> None:
    csv_file = tmp_path / "cams.csv"
    csv_file.write_text(
        "address,credential_ref,name,kecamatan,kelurahan,rw,rt,lat,lon,owner_kind,owner_id,site_type,sharing\n"
        "127.0.0.1:8001,admin@env:TILIK_CAMERA_SECRET_CAM,Pos RT 3,Tembalang,Bulusan,02,03,-7.05,110.44,municipal,city,rt_post,public\n"
        "127.0.0.1:8002,,Toko Makmur,,,,,,,private,toko-makmur,shop,alarm_live\n"
    )
    first, second = load_inventory(csv_file)
    assert first.location.area.kecamatan == "Tembalang" and first.location.area.rt == "03"
    assert first.location.point is not None and first.location.point.lat == -7.05
    assert first.credential_ref == "admin@env:TILIK_CAMERA_SECRET_CAM"
    assert second.owner.kind.value == "private" and second.credential_ref is None
    (entry,) = parse_inventory(
        "cameras:\n  - {address: '127.0.0.1:8003', rw: 5, rt: 7, site_type: market}\n", fmt="yaml"
    )
    assert entry.location.area.rw == "5" and entry.site_type.value == "market"


def test_inventory_rejects_a_password_in_place_of_a_reference() -> None:
    with pytest.raises(ConfigurationError, match="line 2") as caught:
        parse_inventory(
            "address,credential_ref\n127.0.0.1:80,hunter2\n", fmt="csv", source="cams.csv"
        )
    assert "hunter2" not in str(caught.value)

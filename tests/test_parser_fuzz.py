"""Every parser of device input raises nothing but DeviceDataError, whatever the device sends.

Structured fuzzing: real captured-style payloads (``tests/fixtures``) with values replaced by what
firmware and fuzzers send (superscript and Arabic-Indic digits, 1e400, nan, 5,000-digit numbers,
times that overflow in UTC, over-long names), re-encoded, truncated, or as raw bytes. The targets
and their invariants are in ``tests/parser_targets.py``, shared with the longer coverage-guided
run in ``bench/fuzz_parsers.py``. The ``@example``\\ s pin the inputs that broke the parsers
before: a fuzzer's findings (ValueError, OverflowError, ValidationError, a DTD kept) and their
neighbours.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from parser_targets import (
    ENCODINGS,
    HOSTILE,
    NUMBERS,
    SEEDS,
    TARGETS,
    multipart_records,
    mutate_text,
    mutate_xml,
)

from connectors.sdk.errors import DeviceDataError

# Bounded so the whole file runs in a few seconds; bench/fuzz_parsers.py runs for as long as asked.
FUZZ = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

hostile_values = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=24),
    st.text(alphabet=st.characters(categories=["Nd", "No", "Nl"]), min_size=1, max_size=6),
    st.integers(-(10**30), 10**30).map(str),
    st.floats().map(repr),
    st.builds(
        lambda moment, minutes: (
            f"{moment.isoformat()}{'+' if minutes >= 0 else '-'}"
            f"{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
        ),
        st.datetimes(),
        st.integers(-1439, 1439),
    ),
)


def mutated_xml(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    edits = st.lists(st.tuples(st.integers(0, 10_000), hostile_values), min_size=1, max_size=8)
    documents = st.builds(
        mutate_xml,
        st.sampled_from(seeds),
        edits,
        st.sampled_from(ENCODINGS),
        doctype=st.booleans(),
    )
    truncated = documents.flatmap(lambda doc: st.integers(0, len(doc)).map(lambda cut: doc[:cut]))
    return st.one_of(documents, truncated, st.binary(max_size=400))


json_values = st.one_of(
    hostile_values.map(lambda v: '"' + v.replace("\\", "").replace('"', "") + '"'),
    st.sampled_from(["1e400", "-1e400", "NaN", "Infinity", "9" * 30, "9" * 5000, "[[[[]]]]", "{}"]),
    st.integers(-(10**20), 10**20).map(str),
)


def mutated_text(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    values = st.one_of(hostile_values.map(lambda v: v.replace(";", "")), json_values)
    edits = st.lists(st.tuples(st.integers(0, 10_000), values), min_size=1, max_size=6)
    documents = st.builds(mutate_text, st.sampled_from(seeds), edits)
    truncated = documents.flatmap(lambda doc: st.integers(0, len(doc)).map(lambda cut: doc[:cut]))
    return st.one_of(documents, truncated, st.binary(max_size=400))


def run(target: Callable[[bytes], None], data: bytes) -> None:
    with contextlib.suppress(DeviceDataError):
        target(data)


# --- one property per parser ------------------------------------------------------------------


@FUZZ
@given(data=mutated_xml(SEEDS["xml"]))
@example(
    data='<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>'.encode(
        "utf-16"
    )
)
@example(
    data=b'<?xml version="1.0" encoding="UTF-7"?>+ADw-!DOCTYPE a +AFs-+ADw-!ENTITY e +ACI-x+ACI-+AD4-+AF0-+AD4-<a>&e;</a>'
)
def test_xml_parser_raises_only_device_data_error_and_never_keeps_a_dtd(data: bytes) -> None:
    run(TARGETS["xml"], data)


@FUZZ
@given(data=mutated_xml(SEEDS["hikvision_alert"]))
@example(
    data=b"<EventNotificationAlert><eventType>VMD</eventType><channelID>\xc2\xb2</channelID><dateTime>2026-01-01T00:00:00Z</dateTime></EventNotificationAlert>"
)
@example(
    data=b"<EventNotificationAlert><eventType>VMD</eventType><dateTime>0001-01-01T00:00:00+01:00</dateTime></EventNotificationAlert>"
)
@example(
    data=b"<EventNotificationAlert><eventType>"
    + b"V" * 5000
    + b"</eventType><dateTime>2026-01-01T00:00:00Z</dateTime></EventNotificationAlert>"
)
def test_hikvision_alert_parts_become_events_or_dead_letters(data: bytes) -> None:
    run(TARGETS["hikvision_alert"], data)


@FUZZ
@given(data=mutated_xml(SEEDS["hikvision_device"]))
@example(
    data=b"<InputProxyChannelList><InputProxyChannel><id>\xc2\xb2</id></InputProxyChannel></InputProxyChannelList>"
)
@example(
    data=b"<InputProxyChannelStatusList><InputProxyChannelStatus><id>\xc2\xb2</id></InputProxyChannelStatus></InputProxyChannelStatusList>"
)
@example(
    data=b"<DeviceInfo><serialNumber>S1</serialNumber><model>"
    + b"M" * 300
    + b"</model></DeviceInfo>"
)
def test_hikvision_device_info_and_channel_parsers_raise_only_device_data_error(
    data: bytes,
) -> None:
    run(TARGETS["hikvision_device"], data)


@FUZZ
@given(data=mutated_text(SEEDS["dahua_event"]))
@example(data="Code=VideoMotion;action=Start;index=\u00b2".encode())
@example(data=b"Code=VideoMotion;action=Start;index=" + b"9" * 5000)
@example(data=b"Code=" + b"C" * 5000 + b";action=Start;index=0")
def test_dahua_event_parts_become_events_or_dead_letters(data: bytes) -> None:
    run(TARGETS["dahua_event"], data)


@FUZZ
@given(data=mutated_text(SEEDS["dahua_device"]))
@example(data="states[0].channel=\u00b2\r\nstates[0].connectionState=Connected".encode())
@example(data=b"sn=S1\r\ntype=" + b"T" * 300)
def test_dahua_device_info_and_channel_parsers_raise_only_device_data_error(data: bytes) -> None:
    run(TARGETS["dahua_device"], data)


@FUZZ
@given(data=mutated_text(SEEDS["keyvalue"]))
def test_key_value_answers_never_raise(data: bytes) -> None:
    TARGETS["keyvalue"](data)


def _notification(utc: str, data: str) -> bytes:
    return (
        b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" xmlns:tt="tt"><e:Body>'
        b"<NotificationMessage><Topic>tns1:RuleEngine/CountAggregation/Counter</Topic><Message>"
        + f'<tt:Message UtcTime="{utc}"><tt:Data>{data}</tt:Data></tt:Message>'.encode()
        + b"</Message></NotificationMessage></e:Body></e:Envelope>"
    )


@FUZZ
@given(data=mutated_xml(SEEDS["onvif_notification"]))
@example(data=_notification("2026-01-01T00:00:00Z", '<tt:SimpleItem Name="Count" Value="1e400"/>'))
@example(data=_notification("0001-01-01T00:00:00+01:00", '<tt:SimpleItem Name="Count" Value="3"/>'))
@example(
    data=_notification(
        "2026-01-01T00:00:00Z",
        '<tt:SimpleItem Name="Count" Value="3"/><tt:SimpleItem Name="Likelihood" Value="inf"/>',
    )
)
@example(
    data=_notification(
        "2026-01-01T00:00:00Z",
        '<tt:SimpleItem Name="Count" Value="3"/><tt:SimpleItem Name="Rule" Value="'
        + "r" * 300
        + '"/>',
    )
)
def test_onvif_notifications_become_events_or_dead_letters(data: bytes) -> None:
    run(TARGETS["onvif_notification"], data)


@FUZZ
@given(data=mutated_xml(SEEDS["onvif_device"]))
@example(
    data=b"<a><UTCDateTime><Date><Year>99999999999999999999</Year><Month>1</Month><Day>1</Day></Date><Time/></UTCDateTime></a>"
)
@example(
    data=b"<a><UTCDateTime><Date><Year>9999</Year><Month>12</Month><Day>31</Day></Date><Time><Hour>23</Hour><Minute>59</Minute><Second>59</Second></Time></UTCDateTime></a>"
)
@example(
    data=b'<a><Profiles token="p"><VideoEncoderConfiguration><Resolution><Width>1e400</Width></Resolution></VideoEncoderConfiguration></Profiles></a>'
)
@example(
    data=b"<a><Capabilities><Media><XAddr>http://[::1/onvif/media</XAddr></Media></Capabilities></a>"
)
def test_onvif_device_replies_raise_only_device_data_error(data: bytes) -> None:
    run(TARGETS["onvif_device"], data)


@FUZZ
@given(data=mutated_xml(SEEDS["onvif_subscription"]))
@example(
    data=b"<a><CurrentTime>0001-01-01T00:00:00Z</CurrentTime><TerminationTime>9999-12-31T00:00:00Z</TerminationTime></a>"
)
@example(
    data=b"<a><SubscriptionReference><Address>http://[fe80::1/sub</Address></SubscriptionReference></a>"
)
def test_onvif_subscription_replies_raise_only_device_data_error(data: bytes) -> None:
    run(TARGETS["onvif_subscription"], data)


# --- multipart: no error at all, and the same records however the stream is chunked -----------

content_lengths = st.one_of(st.none(), st.sampled_from(NUMBERS), st.integers(0, 2000).map(str))


@st.composite
def multipart_streams(draw: st.DrawFn) -> tuple[str, bytes]:
    boundary = draw(
        st.sampled_from(["myboundary", "--myboundary", "b", "x" * 80, "\u00e9t\u00e9", ""])
    )
    content_type = f'multipart/mixed; boundary="{boundary}"'
    delimiter = b"--" + boundary_bytes(boundary)
    stream = b""
    for _ in range(draw(st.integers(1, 6))):
        stream += draw(st.sampled_from([b"", b"\r\n", b"junk\r\n", b"--", b"\r\n\r\n"]))
        body = draw(st.one_of(st.binary(max_size=300), st.sampled_from([b"A" * 257, b"B" * 1000])))
        length = draw(content_lengths)
        newline = draw(st.sampled_from([b"\r\n", b"\n"]))
        headers = b"Content-Type: text/plain" + newline
        if length is not None:
            headers += f"Content-Length: {length}".encode() + newline
        if draw(st.booleans()):
            headers += b"X-Pad: " + b"h" * draw(st.integers(0, 200)) + newline
        stream += delimiter + newline + headers + newline + body + newline
    return content_type, stream


def boundary_bytes(boundary: str) -> bytes:
    raw = boundary.encode("utf-8")
    usable = 0 < len(raw.removeprefix(b"--")) <= 70 and boundary.isascii()
    return raw.removeprefix(b"--") if usable else b"myboundary"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=multipart_streams(), cuts=st.lists(st.integers(1, 4000), max_size=40))
@example(
    stream=(
        "multipart/mixed; boundary=myboundary",
        b"--myboundary\r\nContent-Length: \xb2\r\n\r\nbody\r\n",
    ),
    cuts=[],
)
@example(
    stream=(
        "multipart/mixed; boundary=myboundary",
        b"--myboundary\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\nbody\r\n",
    ),
    cuts=[],
)
@example(stream=('multipart/mixed; boundary="--"', b"--\r\n\r\nbody\r\n"), cuts=[])
@example(
    stream=("multipart/mixed; boundary=\u00e9\u20ac", b"--myboundary\r\n\r\nbody\r\n"), cuts=[]
)
@example(
    stream=(
        "multipart/mixed; boundary=myboundary",
        b"--myboundary\r\n\r\n" + b"A" * 256 + b"\r\n--myboundary\r\n\r\nok\r\n",
    ),
    cuts=[273],
)
def test_multipart_records_are_the_same_however_the_stream_is_chunked(
    stream: tuple[str, bytes], cuts: list[int]
) -> None:
    content_type, data = stream
    multipart_records(content_type, data, cuts)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=3000))
def test_multipart_target_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    TARGETS["multipart"](data)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_every_seed_payload_parses_cleanly(name: str) -> None:
    # The seeds are what devices really send: each target reads them without an error at all.
    for seed in SEEDS[name]:
        TARGETS[name](seed)

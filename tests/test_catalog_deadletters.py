"""Building dead letters from raw input: encoding, truncation at the cap, scrubbed reason and headers."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from pydantic import BaseModel, ValidationError

from topics.deadletters import encode_payload, make_dead_letter, processing_failure
from topics.models import DeadLetter, DeadLetterKind


def test_text_payload_is_kept_as_utf8():
    letter = make_dead_letter(reason="bad", component="test", payload='{"kota": "Semarang"}')
    assert letter.payload == '{"kota": "Semarang"}'
    assert letter.payload_encoding == "utf-8"
    assert not letter.payload_truncated


def test_binary_payload_is_base64():
    raw = bytes(range(256))
    letter = make_dead_letter(reason="bad", component="test", payload=raw, key=b"\xffk")
    assert letter.payload_encoding == "base64"
    assert base64.b64decode(letter.payload) == raw
    assert letter.key == "\ufffdk"


def test_payload_is_cut_at_the_cap_and_flagged():
    text, encoding, truncated = encode_payload(b"a" * 100, cap=10)
    assert (text, encoding, truncated) == ("a" * 10, "utf-8", True)
    # A cut through a multi-byte character keeps the text readable.
    text, encoding, truncated = encode_payload("é" * 10, cap=5)
    assert (text, encoding, truncated) == ("éé", "utf-8", True)


def test_oversized_input_still_fits_the_dead_letter_model():
    letter = make_dead_letter(
        reason="x" * 10_000, component="test", payload=b"\x00" * 5_000_000, headers={"h" * 300: "v"}
    )
    DeadLetter.model_validate(letter.model_dump())
    assert letter.payload_truncated
    assert len(letter.reason) == 4096


def test_reason_and_headers_are_scrubbed_but_payload_is_kept_for_replay():
    letter = make_dead_letter(
        kind=DeadLetterKind.DEVICE_INPUT,
        reason="GET rtsp://admin:hunter2@10.0.0.5/ failed",
        component="connector.onvif",
        payload="<event/>",
        headers=[("Authorization", b"Digest response=abc"), ("trace", b"token=zzz123")],
        source_device="10.0.0.5:80",
    )
    assert "hunter2" not in letter.reason
    assert letter.headers == {"Authorization": "***", "trace": "token=***"}
    assert letter.source_device == "10.0.0.5:80"
    assert letter.kind is DeadLetterKind.DEVICE_INPUT


def test_a_header_name_that_is_not_utf8_is_kept_readable_and_publishable():
    name = b"\xff\xfe-x".decode("utf-8", "surrogateescape")
    letter = make_dead_letter(
        reason="bad header", component="test", payload=b"{}", headers=[(name, b"1")]
    )
    assert letter.headers == {"\\xff\\xfe-x": "1"}
    assert DeadLetter.model_validate_json(letter.model_dump_json()) == letter


@dataclass
class _Record:
    topic: str = "tilik.events.device.v1"
    partition: int = 3
    offset: int = 41
    key: bytes | None = b"cam-1"
    value: bytes | None = b'{"password": "hunter2"}'
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def test_a_processing_failure_names_its_source_and_error_type_without_input_values():
    class Probe(BaseModel):
        level: int

    try:
        Probe.model_validate({"level": "hunter2"})
    except ValidationError as error:
        letter = processing_failure(_Record(), error, component="hub.alerting")
    assert letter.kind is DeadLetterKind.PROCESSING_FAILED
    assert letter.error_type == "ValidationError"
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == (
        "tilik.events.device.v1",
        3,
        41,
    )
    assert letter.reason.startswith("hub.alerting failed to process the record: ValidationError")
    assert "level" in letter.reason and "hunter2" not in letter.reason
    # The input itself is kept, for the replay after the fix.
    assert letter.payload == '{"password": "hunter2"}'
    letter = processing_failure(_Record(), KeyError("at"), component="hub.alerting")
    assert letter.error_type == "KeyError" and letter.reason.endswith("KeyError: 'at'")

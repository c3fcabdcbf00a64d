"""Building dead letters from raw input: encoding, truncation at the cap, scrubbed reason and headers."""

from __future__ import annotations

import base64

from topics.deadletters import encode_payload, make_dead_letter
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

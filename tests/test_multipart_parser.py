"""The incremental multipart parser: framing quirks, garbage, bad lengths, size caps, fuzzing."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.sdk.multipart import (
    DiscardedPart,
    MultipartStreamParser,
    Part,
    boundary_from_content_type,
)


def frame(
    body: bytes, *, length: bool = True, newline: bytes = b"\r\n", ctype: str = "text/plain"
) -> bytes:
    headers = [f"Content-Type: {ctype}".encode()]
    if length:
        headers.append(f"Content-Length: {len(body)}".encode())
    return b"--myboundary" + newline + newline.join(headers) + newline + newline + body + newline


def feed_in_chunks(
    parser: MultipartStreamParser, data: bytes, cuts: list[int]
) -> list[Part | DiscardedPart]:
    out: list[Part | DiscardedPart] = []
    last = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        out += parser.feed(data[last:cut])
        last = cut
        assert parser.buffered <= parser.max_buffered
    return out


def bodies(items: list[Part | DiscardedPart]) -> list[bytes]:
    return [item.body for item in items if isinstance(item, Part)]


BODIES = [b"Code=VideoMotion;action=Start;index=0", b"Heartbeat", b"<a>x</a>\r\n", b""]


def test_parts_come_out_whole_whatever_the_chunking() -> None:
    stream = b"".join(frame(body) for body in BODIES)
    for size in (1, 2, 3, 7, 64, len(stream)):
        parser = MultipartStreamParser("myboundary")
        cuts = list(range(size, len(stream), size))
        assert bodies(feed_in_chunks(parser, stream, cuts)) == BODIES


def test_lf_only_framing_and_missing_content_length() -> None:
    stream = b"".join(frame(body, length=False, newline=b"\n") for body in BODIES[:3])
    parser = MultipartStreamParser("--myboundary")  # announced with its dashes by some firmware
    out = parser.feed(stream + b"--myboundary\n")
    assert bodies(out) == [b"Code=VideoMotion;action=Start;index=0", b"Heartbeat", b"<a>x</a>\r\n"]


def test_garbage_between_parts_is_skipped() -> None:
    stream = (
        b"\x00\xffjunk" + frame(b"one") + b"\r\n\r\n$$$--myboundar" + frame(b"two") + b"trailing"
    )
    assert bodies(MultipartStreamParser("myboundary").feed(stream)) == [b"one", b"two"]


def test_too_long_content_length_does_not_swallow_the_next_part() -> None:
    lying = b"--myboundary\r\nContent-Length: 5000\r\n\r\nshort\r\n"
    parser = MultipartStreamParser("myboundary")
    assert bodies(parser.feed(lying + frame(b"next"))) == [b"short", b"next"]


def chunkings(stream: bytes) -> list[list[int]]:
    """Every single cut, byte-by-byte and a few sizes: the result must not depend on them."""
    cuts = [[cut] for cut in range(1, len(stream))]
    return [*cuts, *([*range(size, len(stream), size)] for size in (1, 2, 5, 13))]


def same_parts_however_chunked(stream: bytes, **limits: int) -> list[Part | DiscardedPart]:
    whole = MultipartStreamParser("myboundary", **limits).feed(stream)
    for cuts in chunkings(stream):
        parser = MultipartStreamParser("myboundary", **limits)
        assert feed_in_chunks(parser, stream, cuts) == whole, cuts
    return whole


def test_a_content_length_shorter_than_the_body_keeps_the_body_whole_and_the_next_part() -> None:
    lying = b"--myboundary\r\nContent-Length: 3\r\n\r\nlonger body\r\n"
    out = same_parts_however_chunked(lying + frame(b"next"))
    assert bodies(out) == [b"longer body", b"next"]


def test_a_short_content_length_of_a_dahua_record_keeps_its_data() -> None:
    record = b'Code=VideoMotion;action=Start;index=0;data={"UTC": 1700000000}'
    lying = b"--myboundary\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n\r\n"
    out = same_parts_however_chunked(lying + record + b"\r\n" + frame(b"Heartbeat"))
    assert bodies(out) == [record, b"Heartbeat"]


def test_a_content_length_ending_at_a_line_end_or_delimiter_is_believed() -> None:
    # Trailing transport bytes after an exact length are garbage, not body.
    exact = b"--myboundary\r\nContent-Length: 3\r\n\r\none\r\n\r\n$$$"
    tight = b"--myboundary\r\nContent-Length: 3\r\n\r\ntwo"
    out = same_parts_however_chunked(exact + tight + frame(b"three"))
    assert bodies(out) == [b"one", b"two", b"three"]


def test_a_part_without_the_blank_line_after_its_headers_is_read() -> None:
    record = b"Code=VideoMotion;action=Start;index=0"
    no_blank = (
        b"--myboundary\r\nContent-Type: text/plain\r\nContent-Length: 37\r\n" + record + b"\r\n"
    )
    lf_only = b"--myboundary\nContent-Type: application/xml\n<EventNotificationAlert/>\n"
    out = same_parts_however_chunked(no_blank + lf_only + frame(b"next"))
    assert bodies(out) == [record, b"<EventNotificationAlert/>", b"next"]
    assert [item.headers for item in out if isinstance(item, Part)][:2] == [
        {"content-type": "text/plain", "content-length": "37"},
        {"content-type": "application/xml"},
    ]


def test_a_long_first_body_line_without_the_blank_line_is_not_taken_for_headers() -> None:
    body = b"Code=X;action=Pulse;index=0;data=" + b"[" + b"1," * 3000 + b"1]"
    stream = b"--myboundary\r\nContent-Type: text/plain\r\n" + body + b"\r\n" + frame(b"next")
    parser = MultipartStreamParser("myboundary", max_header_bytes=256)
    assert bodies(parser.feed(stream)) == [body, b"next"]


def test_a_part_without_headers_is_its_body() -> None:
    out = same_parts_however_chunked(b"--myboundary\r\nHeartbeat\r\n" + frame(b"next"))
    assert [(item.headers, item.body) for item in out if isinstance(item, Part)] == [
        ({}, b"Heartbeat"),
        ({"content-type": "text/plain", "content-length": "4"}, b"next"),
    ]


def test_a_part_cut_short_in_its_headers_is_discarded_and_the_next_part_kept() -> None:
    out = same_parts_however_chunked(b"--myboundary\r\nContent-Type: text/plain\r\n" + frame(b"x"))
    assert [item.reason for item in out if isinstance(item, DiscardedPart)] == [
        "part truncated before its body"
    ]
    assert bodies(out) == [b"x"]


def test_oversized_part_with_length_is_discarded_without_buffering_and_parsing_resumes() -> None:
    parser = MultipartStreamParser("myboundary", max_part_bytes=1000)
    big = frame(b"A" * 50_000)
    out: list[Part | DiscardedPart] = []
    for start in range(0, len(big), 4096):
        out += parser.feed(big[start : start + 4096])
        assert parser.buffered <= 4096 + 256
    out += parser.feed(frame(b"after"))
    discarded = [item for item in out if isinstance(item, DiscardedPart)]
    assert len(discarded) == 1 and discarded[0].size == 50_000
    assert "exceeds the 1000 byte limit" in discarded[0].reason
    assert discarded[0].sample.startswith(b"AAAA")
    assert bodies(out) == [b"after"]


def test_oversized_part_without_length_is_discarded_and_memory_stays_bounded() -> None:
    parser = MultipartStreamParser("myboundary", max_part_bytes=1000)
    out = parser.feed(b"--myboundary\r\nContent-Type: text/plain\r\n\r\n")
    for _ in range(100):
        out += parser.feed(b"B" * 997)
        assert parser.buffered <= parser.max_buffered
    out += parser.feed(b"\r\n" + frame(b"after"))
    assert sum(isinstance(item, DiscardedPart) for item in out) == 1
    assert bodies(out) == [b"after"]


def test_endless_garbage_keeps_the_buffer_tiny() -> None:
    parser = MultipartStreamParser("myboundary")
    rng = random.Random(5)
    for _ in range(200):
        parser.feed(bytes(rng.getrandbits(8) for _ in range(512)).replace(b"--", b"-"))
        assert parser.buffered < len(b"--myboundary")


def test_headers_without_end_are_discarded() -> None:
    parser = MultipartStreamParser("myboundary", max_header_bytes=256)
    out = parser.feed(b"--myboundary\r\n" + b"X-Long: " + b"h" * 1000)
    assert [item.reason for item in out if isinstance(item, DiscardedPart)] == [
        "part headers too long"
    ]
    assert bodies(parser.feed(frame(b"ok"))) == [b"ok"]


def test_boundary_from_content_type() -> None:
    assert boundary_from_content_type('multipart/mixed; boundary="boundary"', "x") == "boundary"
    assert (
        boundary_from_content_type("multipart/x-mixed-replace;boundary=myboundary", "x")
        == "myboundary"
    )
    assert boundary_from_content_type("multipart/mixed", "fallback") == "fallback"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    payloads=st.lists(
        st.binary(max_size=300).filter(lambda b: b"--myboundary" not in b and b"\n--" not in b),
        min_size=1,
        max_size=6,
    ),
    garbage=st.lists(
        st.binary(max_size=40).filter(lambda b: b"--" not in b and not b.endswith(b"-")),
        min_size=6,
        max_size=6,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=30),
    lf=st.booleans(),
)
def test_fuzz_well_formed_parts_survive_garbage_and_any_chunking(
    payloads: list[bytes], garbage: list[bytes], cuts: list[int], lf: bool
) -> None:
    newline = b"\n" if lf else b"\r\n"
    stream = b"".join(
        g + frame(p, newline=newline) for g, p in zip(garbage, payloads, strict=False)
    )
    parser = MultipartStreamParser("myboundary", max_part_bytes=4096)
    assert bodies(feed_in_chunks(parser, stream, [c for c in cuts if c < len(stream)])) == payloads


def test_an_unreadable_content_length_is_treated_as_absent() -> None:
    # "\xb2" is "²" in latin-1: str.isdigit() accepts it and int() raised ValueError.
    for length in (b"\xb2", b"9" * 5000, b"-3", b"0x10", b"\xd9\xa3"):
        parser = MultipartStreamParser("myboundary")
        stream = b"--myboundary\r\nContent-Length: " + length + b"\r\n\r\nbody\r\n" + frame(b"next")
        assert bodies(parser.feed(stream)) == [b"body", b"next"]


def test_an_oversized_content_length_does_not_swallow_the_parts_after_it() -> None:
    parser = MultipartStreamParser("myboundary", max_part_bytes=1000)
    lying = b"--myboundary\r\nContent-Length: 1000000000000000\r\n\r\n" + b"C" * 1500 + b"\r\n"
    out = parser.feed(lying + frame(b"next"))
    [discarded] = [item for item in out if isinstance(item, DiscardedPart)]
    assert discarded.size == 1500 and "exceeds the 1000 byte limit" in discarded.reason
    assert bodies(out) == [b"next"]


def test_a_discarded_part_has_the_same_size_and_sample_however_the_stream_is_chunked() -> None:
    stream = b"--myboundary\r\n\r\n" + bytes(range(256)) * 8 + b"\r\n" + frame(b"next")
    whole = MultipartStreamParser("myboundary", max_part_bytes=1000).feed(stream)
    for size in (1, 7, 1000, 1001, 1002):
        parser = MultipartStreamParser("myboundary", max_part_bytes=1000)
        cuts = list(range(size, len(stream), size))
        assert feed_in_chunks(parser, stream, cuts) == whole
    [discarded] = [item for item in whole if isinstance(item, DiscardedPart)]
    assert discarded.size == 2048 and discarded.sample == bytes(range(256)) * 2


def test_a_part_exactly_at_the_limit_is_kept_however_the_stream_is_chunked() -> None:
    # Cut after the body's CR: the delimiter is not in sight yet, but the part is not too large.
    stream = b"--myboundary\r\n\r\n" + b"A" * 1000 + b"\r\n" + frame(b"next")
    parser = MultipartStreamParser("myboundary", max_part_bytes=1000)
    assert bodies(feed_in_chunks(parser, stream, [16 + 1001])) == [b"A" * 1000, b"next"]


def test_a_boundary_that_is_not_one_falls_back_to_the_default() -> None:
    for content_type in (
        'multipart/mixed; boundary="--"',
        "multipart/mixed; boundary=",
        "multipart/mixed; boundary=\u00e9\u20ac",
        "multipart/mixed; boundary=" + "b" * 71,
        "multipart/mixed; boundary=a\x00b",
    ):
        assert boundary_from_content_type(content_type, "fallback") == "fallback"
    assert (
        boundary_from_content_type("multipart/mixed; boundary=--myboundary", "x") == "--myboundary"
    )

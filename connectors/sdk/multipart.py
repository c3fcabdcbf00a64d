"""Incremental parser for the endless multipart streams cameras push events on (ISAPI alertStream,
Dahua eventManager attach).

Feed it whatever chunks the socket returns; it hands back every complete part. Devices are
untrusted, so it tolerates what real firmware does and what a broken link does:

- a delimiter split across chunks, CRLF or bare LF line ends, transport padding after it;
- garbage between parts (skipped up to the next delimiter);
- a missing, unreadable or too large Content-Length (the next delimiter ends the part instead);
- a Content-Length shorter than the body: a declared end in the middle of a line is no end, the
  body runs to the next delimiter line and is kept whole;
- a part without the blank line after its headers: the first line that is no header
  (``Name: value``) starts the body;
- a part larger than ``max_part_bytes``: reported as a ``DiscardedPart`` (its size and first
  bytes, for the dead letters) and skipped without being buffered; parsing resumes at the next
  delimiter, even when its Content-Length claims more.

The result does not depend on how the stream is cut into chunks: every limit is a position in
the stream (a part's body ends at the first ``CRLF--boundary`` or after Content-Length bytes
followed by a line end or a delimiter; its headers must end within ``max_header_bytes``), and a decision is taken only once the bytes that
decide it have arrived. A discarded part is reported when it ends, with its exact size. The buffer
never holds more than ``max_buffered`` bytes after a ``feed``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum, auto

DEFAULT_MAX_PART_BYTES = 1024 * 1024
DEFAULT_MAX_HEADER_BYTES = 8 * 1024
#: bytes of a discarded part kept as evidence
SAMPLE_BYTES = 512
# Anything after a delimiter on its line is padding; a line this long is not a delimiter line.
_MAX_DELIMITER_LINE = 256
#: RFC 2046 caps a boundary at 70 characters
_MAX_BOUNDARY = 70
# the longest blank line; a header block may run up to max_header_bytes plus this
_BLANK_LINE_MAX = 4
# ASCII digits: str.isdigit() also accepts "²", which int() refuses.
_CONTENT_LENGTH = re.compile(r"[0-9]{1,18}")


@dataclass(frozen=True, slots=True)
class Part:
    """One complete part: lower-cased header names and the raw body."""

    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


@dataclass(frozen=True, slots=True)
class DiscardedPart:
    """A part the parser refused (too large, unreadable headers); ``sample`` is its beginning."""

    reason: str
    size: int
    sample: bytes


class _State(Enum):
    SEEK = auto()  # looking for the next delimiter
    DELIMITER_LINE = auto()  # after a delimiter, up to its line end
    HEADERS = auto()
    BODY_SIZED = auto()  # Content-Length known and within the limit
    BODY_UNSIZED = auto()  # body ends at the next delimiter
    DISCARD = auto()  # dropping an oversized part up to its end, counting its bytes


def boundary_from_content_type(content_type: str, default: str) -> str:
    """The ``boundary`` parameter of a multipart Content-Type (quotes removed), else ``default``.

    A boundary that is empty (also once leading dashes are removed), longer than RFC 2046 allows
    or not printable ASCII is not one: the device's default is used instead.
    """
    for param in content_type.split(";")[1:]:
        name, sep, value = param.partition("=")
        if sep and name.strip().lower() == "boundary":
            value = value.strip().strip('"')
            if _usable_boundary(value):
                return value
    return default


def _usable_boundary(value: str) -> bool:
    bare = value[2:] if value.startswith("--") else value
    return 0 < len(bare) <= _MAX_BOUNDARY and bare.isascii() and bare.isprintable()


class MultipartStreamParser:
    """Turns chunks of a multipart byte stream into ``Part`` and ``DiscardedPart`` records."""

    def __init__(
        self,
        boundary: str | bytes,
        *,
        max_part_bytes: int = DEFAULT_MAX_PART_BYTES,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
    ) -> None:
        raw = boundary.encode("latin-1") if isinstance(boundary, str) else boundary
        # Some firmware (Dahua) announces the boundary with its leading dashes already on.
        raw = raw[2:] if raw.startswith(b"--") else raw
        if not raw:
            raise ValueError("a multipart boundary must not be empty")
        self._delimiter = b"--" + raw
        self._body_end = b"\n" + self._delimiter
        self.max_part_bytes = max_part_bytes
        self.max_header_bytes = max_header_bytes
        self._buf = bytearray()
        self._state = _State.SEEK
        self._headers: dict[str, str] = {}
        self._header_pos = 0  # where the next unjudged header line starts
        self._length = 0
        self._scanned = 0  # how far the body has been searched for a delimiter already
        # the part being discarded: why, its declared length (if any), bytes dropped so far
        self._discard_reason = ""
        self._discard_limit: int | None = None
        self._dropped = 0
        self._sample = bytearray()
        self._last_dropped = 0
        self.parts = 0
        self.discarded = 0

    @property
    def buffered(self) -> int:
        """Bytes currently held (bounded; see ``max_buffered``)."""
        return len(self._buf)

    @property
    def max_buffered(self) -> int:
        """Upper bound of ``buffered`` after any ``feed`` returns."""
        return max(
            self.max_part_bytes + len(self._body_end) + 1,
            self.max_header_bytes + _BLANK_LINE_MAX,
            _MAX_DELIMITER_LINE,
        )

    def feed(self, data: bytes) -> list[Part | DiscardedPart]:
        """Consume ``data``; return the parts it completed, in stream order."""
        out: list[Part | DiscardedPart] = []
        self._buf += data
        while self._step(out):
            pass
        return out

    # --- state machine -----------------------------------------------------------------

    def _step(self, out: list[Part | DiscardedPart]) -> bool:
        """Advance by one state transition; False when more input is needed."""
        state = self._state
        if state is _State.SEEK:
            return self._seek()
        if state is _State.DELIMITER_LINE:
            return self._delimiter_line()
        if state is _State.HEADERS:
            return self._read_headers(out)
        if state is _State.BODY_SIZED:
            return self._body_sized(out)
        if state is _State.BODY_UNSIZED:
            return self._body_unsized(out)
        return self._discarding(out)

    def _seek(self) -> bool:
        index = self._buf.find(self._delimiter)
        if index < 0:
            # Keep a possible delimiter prefix; everything before it is garbage.
            keep = len(self._delimiter) - 1
            if len(self._buf) > keep:
                del self._buf[: len(self._buf) - keep]
            return False
        del self._buf[: index + len(self._delimiter)]
        self._state = _State.DELIMITER_LINE
        return True

    def _delimiter_line(self) -> bool:
        end = self._buf.find(b"\n", 0, _MAX_DELIMITER_LINE)
        if end < 0:
            if len(self._buf) >= _MAX_DELIMITER_LINE:
                self._state = _State.SEEK
                return True
            return False
        closing = self._buf.startswith(b"--")
        del self._buf[: end + 1]
        # A closing delimiter ends a multipart body; on an endless stream more may follow anyway.
        self._state = _State.SEEK if closing else _State.HEADERS
        self._header_pos = 0
        return True

    def _read_headers(self, out: list[Part | DiscardedPart]) -> bool:
        """Header lines up to the blank line, or up to the first line that is no header (some
        firmware leaves the blank line out: its body starts there). Each line is judged as soon
        as the bytes that decide it have arrived, so the result does not depend on chunking."""
        buf = self._buf
        window = self.max_header_bytes + _BLANK_LINE_MAX
        pos = self._header_pos
        while True:
            if pos >= window:
                return self._headers_too_long(out, window)
            waiting = len(buf) - pos
            delimiter = self._delimiter
            if waiting < len(delimiter) and delimiter.startswith(bytes(buf[pos:])):
                self._header_pos = pos
                return False  # may be the next delimiter: a part cut short
            if buf.startswith(delimiter, pos):
                # A part cut short by the next one: what came before its delimiter is unusable.
                block = bytes(buf[:pos]).rstrip(b"\r\n")
                self._discard(
                    out, "part truncated before its body", len(block), block[:SAMPLE_BYTES]
                )
                del buf[:pos]
                self._state = _State.SEEK
                return True
            line = _header_line(buf, pos)
            if line is None:
                if len(buf) >= window:
                    return self._headers_too_long(out, window)
                self._header_pos = pos
                return False
            kind, end = line
            if kind is _Line.HEADER:
                pos = end
                continue
            body_start = end if kind is _Line.BLANK else pos
            break
        self._headers = _parse_headers(bytes(buf[:pos]))
        del buf[:body_start]
        self._scanned = 0
        length = _content_length(self._headers)
        if length is None:
            self._state = _State.BODY_UNSIZED
        elif length > self.max_part_bytes:
            reason = f"part of {length} bytes exceeds the {self.max_part_bytes} byte limit"
            self._start_discard(reason, limit=length)
        else:
            self._length = length
            self._state = _State.BODY_SIZED
        return True

    def _headers_too_long(self, out: list[Part | DiscardedPart], window: int) -> bool:
        self._discard(
            out, "part headers too long", window, bytes(self._buf[: min(window, SAMPLE_BYTES)])
        )
        self._state = _State.SEEK
        return True

    def _body_sized(self, out: list[Part | DiscardedPart]) -> bool:
        buf = self._buf
        # A wrong (too large) Content-Length must not swallow the parts after it.
        start = max(0, self._scanned - len(self._body_end))
        early = buf.find(self._body_end, start, self._length)
        if early >= 0:
            self._emit_until(out, early)
            return True
        if len(buf) < self._length:
            self._scanned = len(buf)
            return False
        ends = self._ends_at_length()
        if ends is None:
            return False
        if not ends:
            # A Content-Length shorter than the body (it ends mid-line): the body runs to the
            # next delimiter line, as if no length had been given; nothing of it is lost.
            self._scanned = self._length
            self._state = _State.BODY_UNSIZED
            return True
        out.append(Part(self._headers, bytes(buf[: self._length])))
        self.parts += 1
        del buf[: self._length]
        self._state = _State.SEEK
        return True

    def _ends_at_length(self) -> bool | None:
        """Whether the body ends where its Content-Length says: at a line end or at the next
        delimiter. None until the bytes that decide it have arrived."""
        after = self._buf[self._length : self._length + len(self._delimiter)]
        if not after:
            return None
        if after[:1] in (b"\r", b"\n"):
            return True
        if self._delimiter.startswith(bytes(after)):
            return True if len(after) == len(self._delimiter) else None
        return False

    def _body_unsized(self, out: list[Part | DiscardedPart]) -> bool:
        buf = self._buf
        start = max(0, self._scanned - len(self._body_end))
        end = buf.find(self._body_end, start)
        if end >= 0:
            self._emit_until(out, end)
            return True
        # Only once no delimiter can start early enough is the part known to be too large.
        if len(buf) >= self.max_part_bytes + 1 + len(self._body_end):
            self._start_discard(
                f"part without Content-Length exceeds the {self.max_part_bytes} byte limit",
                limit=None,
            )
            return True
        self._scanned = len(buf)
        return False

    def _emit_until(self, out: list[Part | DiscardedPart], end: int) -> None:
        """Emit the body up to the line end before a delimiter at ``end`` and resume there."""
        body = bytes(self._buf[:end])
        body = body[:-1] if body.endswith(b"\r") else body
        if len(body) > self.max_part_bytes:
            reason = f"part without Content-Length exceeds the {self.max_part_bytes} byte limit"
            self._discard(out, reason, len(body), body[:SAMPLE_BYTES])
        else:
            out.append(Part(self._headers, body))
            self.parts += 1
        del self._buf[: end + 1]
        self._state = _State.SEEK

    def _start_discard(self, reason: str, *, limit: int | None) -> None:
        self._discard_reason = reason
        self._discard_limit = limit
        self._dropped = 0
        self._sample = bytearray()
        self._last_dropped = 0
        self._state = _State.DISCARD

    def _discarding(self, out: list[Part | DiscardedPart]) -> bool:
        """Drop the oversized part up to its end: the first delimiter line, or its declared length."""
        buf = self._buf
        left = None if self._discard_limit is None else self._discard_limit - self._dropped
        end = buf.find(self._body_end, 0, len(buf) if left is None else left)
        if end >= 0:
            before = buf[end - 1] if end else self._last_dropped
            self._drop(end)
            size = self._dropped - (1 if before == ord("\r") else 0)
            self._finish_discard(out, size)
            del buf[:1]  # the line end; SEEK finds the delimiter after it
            return True
        if left is not None and len(buf) >= left:
            self._drop(left)
            self._finish_discard(out, self._dropped)
            return True
        # Keep what may be the start of a delimiter line.
        keep = len(self._body_end)
        if len(buf) > keep:
            self._drop(len(buf) - keep)
        return False

    def _drop(self, count: int) -> None:
        if count <= 0:
            return
        room = SAMPLE_BYTES - len(self._sample)
        if room > 0:
            self._sample += self._buf[: min(count, room)]
        self._last_dropped = self._buf[count - 1]
        self._dropped += count
        del self._buf[:count]

    def _finish_discard(self, out: list[Part | DiscardedPart], size: int) -> None:
        self._discard(
            out, self._discard_reason, size, bytes(self._sample[: min(size, SAMPLE_BYTES)])
        )
        self._sample = bytearray()
        self._state = _State.SEEK

    def _discard(
        self, out: list[Part | DiscardedPart], reason: str, size: int, sample: bytes
    ) -> None:
        out.append(DiscardedPart(reason=reason, size=size, sample=sample))
        self.discarded += 1


class _Line(Enum):
    HEADER = auto()
    BLANK = auto()
    BODY = auto()  # no header: the part's body starts with this line


# RFC 9110 token characters: a header line is a token, a colon, a value.
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]*")


def _header_line(buf: bytearray, pos: int) -> tuple[_Line, int] | None:
    """What the line at ``pos`` is and where the next line starts; None until that is known.

    A line is no header as soon as a byte that no header name has arrives before a colon, so a
    long first body line is recognised without waiting for its end."""
    if buf.startswith(b"\n", pos):
        return _Line.BLANK, pos + 1
    if buf.startswith(b"\r\n", pos):
        return _Line.BLANK, pos + 2
    name = _TOKEN.match(buf, pos)
    end = name.end() if name else pos
    if end >= len(buf) or (end == pos and buf[pos:] == b"\r"):
        return None  # a name still arriving, or half a blank line
    if buf[end : end + 1] != b":" or end == pos:
        return _Line.BODY, pos
    newline = buf.find(b"\n", end)
    return None if newline < 0 else (_Line.HEADER, newline + 1)


def _parse_headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.split(b"\n"):
        name, sep, value = line.partition(b":")
        if sep and name.strip():
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return headers


def _content_length(headers: dict[str, str]) -> int | None:
    """The declared body length; None when absent or unreadable (the delimiter ends the body)."""
    value = headers.get("content-length", "").strip()
    return int(value) if _CONTENT_LENGTH.fullmatch(value) else None

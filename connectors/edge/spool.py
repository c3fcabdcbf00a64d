"""The edge outbox's disk: records waiting for the city, in order, across restarts, bounded.

The records live in append-only segment files in one directory (``<20-digit id>.seg``), oldest
first. Each record is one frame::

    length (4 bytes, big-endian) | crc32 of the body (4 bytes) | body (length bytes)
    body: topic | key | value | headers, each length-prefixed (``_encode``)

A ``cursor`` file names the first record not yet acknowledged by the broker (segment id and
offset); it is replaced atomically (write, then rename) after each acknowledged batch, so a crash
between the broker's acknowledgement and the rename sends that batch again: the same records with
the same keys and ids, which every consumer treats as repeats.

Writing: every record is written to the operating system as it is appended (an agent that is
killed or crashes loses nothing the runtime handed it); the segment is fsynced at most every
``fsync_every_s`` (and when a segment is closed or the spool closes), so a power cut loses at most
that long of records. Opening: every segment from the cursor on is read once to count its records
(frame by frame, nothing kept); a frame cut short or failing its checksum ends that segment there
(the file is truncated to its last whole record, the agent says how many bytes it skipped), which
is what a crash in the middle of a write leaves.

Bounds: the segment files together stay within ``max_bytes``. When the next record would not fit,
the oldest segment goes with every record of it not yet sent (counted per topic: the caller
reports them); segments are ``max_bytes / 16`` (64 KiB to 16 MiB), so a drop is at most a
sixteenth of the backlog. Memory holds only the head the sender is sending (``head``) and a few
counters per segment, whatever the backlog on disk.

One agent per directory: a second one is refused (an ``flock`` on ``lock``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import structlog

log = structlog.get_logger(__name__)

FRAME = struct.Struct(">II")
_U16 = struct.Struct(">H")
_I32 = struct.Struct(">i")
#: a frame longer than this is damage, not a record (Kafka's own limit is far below)
MAX_RECORD = 16 * 1024 * 1024
SEGMENT_MIN = 64 * 1024
SEGMENT_MAX = 16 * 1024 * 1024
SEGMENTS = 16
SUFFIX = ".seg"


class SpoolError(RuntimeError):
    """The outbox directory cannot be used (another agent holds it, or it is not writable)."""


@dataclass(frozen=True)
class Pending:
    """One record as the sender hands it to Kafka."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


@dataclass
class _Segment:
    id: int
    path: Path
    size: int
    #: records of this segment not yet read into the head, per topic
    unread: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class _Position:
    segment: int
    offset: int


class Spool:
    """Segment files, a cursor and the in-memory head (module docstring)."""

    def __init__(self, directory: Path, max_bytes: int, *, fsync_every_s: float = 1.0) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = min(SEGMENT_MAX, max(SEGMENT_MIN, max_bytes // SEGMENTS))
        self.fsync_every_s = fsync_every_s
        #: records dropped to stay within max_bytes, per topic, since this spool opened
        self.dropped: Counter[str] = Counter()
        #: bytes of damaged records skipped when the spool opened
        self.damaged_bytes = 0
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = open(directory / "lock", "a+b")  # noqa: SIM115 - held until close
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise SpoolError(f"{directory}: another edge agent uses this outbox") from None
        self._segments: list[_Segment] = []
        #: records read from disk and not yet acknowledged, oldest first
        self._head: list[Pending] = []
        self._head_topics: Counter[str] = Counter()
        self._reader: tuple[int, IO[bytes]] | None = None
        self._writer: IO[bytes] | None = None
        self._synced_at = time.monotonic()
        self._unsynced = False
        self._open_segments()
        self._roll()
        self._next_read = _Position(self._segments[0].id, self._start_offset)

    # --- what waits ------------------------------------------------------------------------

    @property
    def waiting(self) -> int:
        return len(self._head) + sum(sum(s.unread.values()) for s in self._segments)

    def waiting_by_topic(self) -> Counter[str]:
        waiting = Counter(self._head_topics)
        for segment in self._segments:
            waiting.update(segment.unread)
        return waiting

    @property
    def disk_bytes(self) -> int:
        return sum(segment.size for segment in self._segments)

    # --- appending -------------------------------------------------------------------------

    def append(self, pending: Pending) -> None:
        """Write one record; the oldest segments go first if it would not fit."""
        body = _encode(pending)
        if len(body) > MAX_RECORD:
            raise ValueError(f"a record of {len(body)} bytes is beyond the outbox's limit")
        frame = FRAME.pack(len(body), zlib.crc32(body)) + body
        while self.disk_bytes + len(frame) > self.max_bytes and self._drop_oldest():
            pass
        if self._segments[-1].size >= self.segment_bytes:
            self._roll()
        assert self._writer is not None
        self._writer.write(frame)
        active = self._segments[-1]
        active.size += len(frame)
        active.unread[pending.topic] += 1
        self._unsynced = True
        self.sync_if_due()

    @property
    def unsynced(self) -> bool:
        """Records were written since the last fsync."""
        return self._unsynced

    def sync_if_due(self) -> None:
        if self._unsynced and time.monotonic() - self._synced_at >= self.fsync_every_s:
            self.sync()

    def sync(self) -> None:
        if self._writer is not None:
            os.fsync(self._writer.fileno())
        self._synced_at = time.monotonic()
        self._unsynced = False

    def _roll(self) -> None:
        """A new active segment (the previous one is synced and closed)."""
        if self._writer is not None:
            self.sync()
            self._writer.close()
        last = self._segments[-1] if self._segments else None
        if last is not None and last.size == 0 and self._writer is None:
            segment = last  # an empty segment left by a previous run: append to it
        else:
            # Ids only grow: never below the cursor's, or the next run takes it for acknowledged.
            segment_id = max(last.id if last is not None else 0, self._cursor_segment) + 1
            segment = _Segment(segment_id, self._path(segment_id), 0)
            self._segments.append(segment)
        # Only the agent's user reads what the site sends (the directory is 0700 as well).
        descriptor = os.open(segment.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._writer = os.fdopen(descriptor, "ab", buffering=0)

    def _drop_oldest(self) -> bool:
        """Drop the oldest segment and its unread records; False if nothing can go."""
        if len(self._segments) == 1:
            if self._segments[0].size == 0:
                return False
            self._roll()  # the oldest is the active one: writing moves on first
        oldest = self._segments.pop(0)
        if sum(oldest.unread.values()) and not self.dropped:
            log.warning(
                "outbox full: dropping the oldest records until the city answers",
                max_bytes=self.max_bytes,
            )
        self.dropped.update(oldest.unread)
        if self._next_read.segment == oldest.id:
            self._next_read = _Position(self._segments[0].id, 0)
        self._close_reader(oldest.id)
        oldest.path.unlink(missing_ok=True)
        if not self._head:
            self._write_cursor(self._next_read)
        return True

    # --- the sender's side -----------------------------------------------------------------

    def head(self, limit: int) -> list[Pending]:
        """The oldest records not yet acknowledged, at most ``limit`` (read from disk once)."""
        while len(self._head) < limit:
            pending = self._read_next()
            if pending is None:
                break
            self._head.append(pending)
            self._head_topics[pending.topic] += 1
        return self._head[:limit]

    def acknowledge(self, count: int) -> None:
        """The first ``count`` records of the head reached the broker: forget them."""
        for pending in self._head[:count]:
            self._head_topics[pending.topic] -= 1
        del self._head[:count]
        self._head_topics = +self._head_topics
        if self._head:
            return  # the cursor stays at the first unacknowledged record of the head
        self._write_cursor(self._next_read)
        while self._segments[0].id < self._next_read.segment:
            done = self._segments.pop(0)
            self._close_reader(done.id)
            done.path.unlink(missing_ok=True)

    def _read_next(self) -> Pending | None:
        while True:
            position = self._next_read
            segment = self._segment(position.segment)
            if position.offset < segment.size:
                break
            if segment is self._segments[-1]:
                return None
            following = self._segments[self._segments.index(segment) + 1]
            self._next_read = _Position(following.id, 0)
        reader = self._read_handle(segment)
        reader.seek(position.offset)
        length, _crc = FRAME.unpack(reader.read(FRAME.size))
        pending = _decode(reader.read(length))
        self._next_read = _Position(segment.id, position.offset + FRAME.size + length)
        segment.unread[pending.topic] -= 1
        segment.unread = +segment.unread
        return pending

    # --- opening and closing ---------------------------------------------------------------

    def close(self) -> None:
        if self._writer is not None:
            self.sync()
            self._writer.close()
            self._writer = None
        if self._reader is not None:
            self._reader[1].close()
            self._reader = None
        self._lock.close()

    def _open_segments(self) -> None:
        cursor = self._read_cursor()
        self._cursor_segment = cursor.segment if cursor is not None else 0
        ids = sorted(
            int(path.stem)
            for path in self.directory.glob(f"*{SUFFIX}")
            if path.stem.isdigit() and len(path.stem) == 20
        )
        self._start_offset = 0
        for segment_id in ids:
            path = self._path(segment_id)
            if cursor is not None and segment_id < cursor.segment:
                path.unlink()  # acknowledged before the last run stopped
                continue
            start = cursor.offset if cursor is not None and segment_id == cursor.segment else 0
            segment = self._scan(segment_id, path, start)
            if not segment.unread:
                path.unlink()  # all of it acknowledged (or damaged): writing starts anew
                continue
            if not self._segments:
                self._start_offset = start
            self._segments.append(segment)
        if self._segments and self._start_offset > self._segments[0].size:
            self._start_offset = 0
        waiting = sum(sum(s.unread.values()) for s in self._segments)
        if waiting:
            log.info("outbox: records kept from before are sent first", waiting=waiting)

    def _scan(self, segment_id: int, path: Path, start: int) -> _Segment:
        """Count the segment's records from ``start``; cut it at the first damaged one."""
        segment = _Segment(segment_id, path, 0)
        with open(path, "r+b") as file:
            size = os.fstat(file.fileno()).st_size
            offset = start if start <= size else 0
            file.seek(offset)
            while offset < size:
                header = file.read(FRAME.size)
                if len(header) < FRAME.size:
                    break
                length, crc = FRAME.unpack(header)
                body = file.read(length) if length <= MAX_RECORD else b""
                if len(body) != length or zlib.crc32(body) != crc:
                    break
                try:
                    segment.unread[_decode(body).topic] += 1
                except (ValueError, struct.error, UnicodeDecodeError):
                    break
                offset += FRAME.size + length
            if offset < size:
                self.damaged_bytes += size - offset
                log.warning(
                    "outbox: a damaged record ends a segment (an interrupted write): skipped",
                    segment=path.name,
                    bytes_skipped=size - offset,
                )
                file.truncate(offset)
        segment.size = offset
        return segment

    def _read_cursor(self) -> _Position | None:
        try:
            text = (self.directory / "cursor").read_text(encoding="ascii").split()
            return _Position(int(text[0]), int(text[1]))
        except (OSError, ValueError, IndexError):
            return None

    def _write_cursor(self, position: _Position) -> None:
        temporary = self.directory / "cursor.new"
        temporary.write_text(f"{position.segment} {position.offset}\n", encoding="ascii")
        temporary.replace(self.directory / "cursor")

    def _segment(self, segment_id: int) -> _Segment:
        return next(s for s in self._segments if s.id == segment_id)

    def _path(self, segment_id: int) -> Path:
        return self.directory / f"{segment_id:020d}{SUFFIX}"

    def _read_handle(self, segment: _Segment) -> IO[bytes]:
        if self._reader is None or self._reader[0] != segment.id:
            self._close_reader(None)
            self._reader = (segment.id, open(segment.path, "rb"))  # noqa: SIM115 - cached
        return self._reader[1]

    def _close_reader(self, segment_id: int | None) -> None:
        if self._reader is not None and segment_id in (None, self._reader[0]):
            with contextlib.suppress(OSError):
                self._reader[1].close()
            self._reader = None


def _encode(pending: Pending) -> bytes:
    parts = [_short(pending.topic.encode()), _bytes(pending.key), _bytes(pending.value)]
    parts.append(_U16.pack(len(pending.headers)))
    for name, value in pending.headers:
        parts.extend((_short(name.encode()), _bytes(value)))
    return b"".join(parts)


def _decode(body: bytes) -> Pending:
    view = memoryview(body)
    offset = 0

    def short() -> bytes:
        nonlocal offset
        (length,) = _U16.unpack_from(view, offset)
        offset += _U16.size
        value = bytes(view[offset : offset + length])
        offset += length
        return value

    def optional() -> bytes | None:
        nonlocal offset
        (length,) = _I32.unpack_from(view, offset)
        offset += _I32.size
        if length < 0:
            return None
        if offset + length > len(view):
            raise ValueError("a field runs past its record")
        value = bytes(view[offset : offset + length])
        offset += length
        return value

    topic = short().decode("utf-8")
    key, value = optional(), optional()
    (count,) = _U16.unpack_from(view, offset)
    offset += _U16.size
    headers = [(short().decode("utf-8"), optional() or b"") for _ in range(count)]
    if offset != len(view):
        raise ValueError("trailing bytes in a record")
    return Pending(topic, key, value, headers)


def _short(value: bytes) -> bytes:
    return _U16.pack(len(value)) + value


def _bytes(value: bytes | None) -> bytes:
    if value is None:
        return _I32.pack(-1)
    return _I32.pack(len(value)) + value

"""Workarounds for defects of the Kafka client libraries; each is proven still needed by a test.

Installed once per process (``install``) by ``topics.connection.connection_config``, through
which every Tilik client is built, and by the hub before Faust starts its consumer. The tests in
``tests/test_kafka_workarounds.py`` fail once the library fixes a defect: then the workaround
goes, and the version pin in ``pyproject.toml`` moves.

**A record header name that is not UTF-8 (aiokafka 0.14).** The Kafka protocol declares header
names as strings, but a broker stores whatever bytes a producer sent. aiokafka decodes each name
as UTF-8 while unpacking a fetched batch: its C extension in
``aiokafka/record/_crecords/default_records.pyx`` (``DefaultRecordBatch._read_msg``,
``h_key.decode("utf-8")``) raises ``UnicodeDecodeError``, its pure-Python twin
(``aiokafka/record/default_records.py``, ``_DefaultRecordBatchPy._read_msg``) the same error
wrapped in ``CorruptRecordException``. It escapes from ``PartitionRecords._unpack_records``
(``aiokafka/consumer/fetcher.py``) through ``Fetcher.fetched_records`` out of every
``getmany``/``getone``, and the partition never moves past the record: a Faust worker dies a few
seconds after every start, a plain consumer raises on every poll, and the records fetched before
the bad one in the same batch are never handed out either. kafka-python 3.0 has the same defect
(``kafka/record/default_records.py``); no Tilik reader fetches with it.

The workaround wraps each fetched v2 batch: records come from aiokafka's own (fast) parser until
it fails on a header name; then the rest of that batch is read again by ``_read_records``, which
decodes header names with ``surrogateescape``. The record itself is delivered, its offending
bytes kept as lone surrogates; ``topics.codec.decode`` refuses such a name, so every consumer
edge dead-letters the record (or, in a viewer, shows it as invalid) and goes on.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiokafka.codec
from aiokafka.consumer import fetcher
from aiokafka.errors import CorruptRecordException
from aiokafka.record.default_records import DefaultRecordBase, DefaultRecordBatch
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.record.util import decode_varint

# The batch layout of the Kafka protocol (record batch, magic 2).
_LENGTH_OFFSET = 8  # after BaseOffset (int64): Length (int32) of what follows
_LOG_OVERHEAD = 12  # BaseOffset + Length
_FIRST_RECORD_OFFSET = DefaultRecordBase.HEADER_STRUCT.size

_DECOMPRESS: dict[int, Callable[[bytes], bytes]] = {
    DefaultRecordBase.CODEC_GZIP: aiokafka.codec.gzip_decode,
    DefaultRecordBase.CODEC_SNAPPY: aiokafka.codec.snappy_decode,
    DefaultRecordBase.CODEC_LZ4: aiokafka.codec.lz4_decode,
    DefaultRecordBase.CODEC_ZSTD: aiokafka.codec.zstd_decode,
}


def header_name_error(error: BaseException) -> bool:
    """Whether aiokafka's record parser failed on a header name that is not UTF-8."""
    if isinstance(error, UnicodeDecodeError):
        return True
    return isinstance(error, CorruptRecordException) and isinstance(
        error.__cause__, UnicodeDecodeError
    )


@dataclass(frozen=True)
class _Record:
    """A record as the fetcher reads it from a batch (the fields of aiokafka's ``DefaultRecord``)."""

    offset: int
    timestamp: int | None
    timestamp_type: int | None
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    checksum: None = None


def _bytes_field(buffer: bytearray, pos: int) -> tuple[bytes | None, int]:
    length, pos = decode_varint(buffer, pos)
    if length < 0:
        return None, pos
    if pos + length > len(buffer):
        raise CorruptRecordException(f"a field of {length} bytes overruns its record")
    return bytes(buffer[pos : pos + length]), pos + length


def _read_records(batch: Any, raw: bytes) -> Iterator[_Record]:
    """Every record of one v2 batch, header names decoded with ``surrogateescape``."""
    records = raw[_FIRST_RECORD_OFFSET:]
    if batch.compression_type != DefaultRecordBase.CODEC_NONE:
        records = _DECOMPRESS[batch.compression_type](records)
    body = bytearray(records)
    log_append = batch.timestamp_type == DefaultRecordBase.LOG_APPEND_TIME
    pos = 0
    while pos < len(body):
        length, pos = decode_varint(body, pos)
        end = pos + length
        _attributes, pos = decode_varint(body, pos)
        timestamp_delta, pos = decode_varint(body, pos)
        offset_delta, pos = decode_varint(body, pos)
        key, pos = _bytes_field(body, pos)
        value, pos = _bytes_field(body, pos)
        count, pos = decode_varint(body, pos)
        headers: list[tuple[str, bytes | None]] = []
        for _ in range(count):
            name, pos = _bytes_field(body, pos)
            header_value, pos = _bytes_field(body, pos)
            headers.append(((name or b"").decode("utf-8", "surrogateescape"), header_value))
        if pos != end:
            raise CorruptRecordException(f"record of {length} bytes read as {length + pos - end}")
        timestamp = batch.max_timestamp if log_append else batch.first_timestamp + timestamp_delta
        yield _Record(
            offset=batch.base_offset + offset_delta,
            timestamp=None if timestamp == -1 else timestamp,
            timestamp_type=None if timestamp == -1 else batch.timestamp_type,
            key=key,
            value=value,
            headers=headers,
        )


class _TolerantBatch:
    """A fetched v2 batch that reads past a header name that is not UTF-8 (everything else: the
    library's batch)."""

    def __init__(self, batch: Any, raw: bytes) -> None:
        self._batch = batch
        self._raw = raw

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batch, name)

    def __next__(self) -> Any:
        # The fetcher reads a control batch's marker with next(); control records have no headers.
        return next(self._batch)

    def __iter__(self) -> Iterator[Any]:
        last = None
        try:
            for record in self._batch:
                last = record.offset
                yield record
        except (UnicodeDecodeError, CorruptRecordException) as error:
            if not header_name_error(error):
                raise
            for record in _read_records(self._batch, self._raw):
                if last is None or record.offset > last:
                    yield record


class _TolerantMemoryRecords:
    """aiokafka's ``MemoryRecords`` for one fetch response, each v2 batch wrapped in ``_TolerantBatch``."""

    def __init__(self, data: bytes) -> None:
        self._records = MemoryRecords(data)
        self._data = data
        self._pos = 0

    def has_next(self) -> bool:
        return self._records.has_next()

    def size_in_bytes(self) -> int:
        return self._records.size_in_bytes()

    def next_batch(self) -> Any:
        batch = self._records.next_batch()
        if batch is None:
            return None
        # Batches follow each other: this one starts where the previous one ended.
        start = self._pos
        (length,) = struct.unpack_from(">i", self._data, start + _LENGTH_OFFSET)
        self._pos = start + _LOG_OVERHEAD + length
        if not isinstance(batch, DefaultRecordBatch):
            return batch  # legacy formats (magic 0 and 1) have no headers
        return _TolerantBatch(batch, bytes(self._data[start : self._pos]))


def install() -> None:
    """Make every aiokafka consumer of this process tolerate the defects above (idempotent)."""
    fetcher.MemoryRecords = _TolerantMemoryRecords


def installed() -> bool:
    return fetcher.MemoryRecords is _TolerantMemoryRecords

"""Test helpers: Kafka records that no well-behaved client writes, built byte for byte.

A record header name must be UTF-8 text, but the broker stores whatever bytes a producer sends;
aiokafka's producer only writes text, so these helpers build the record batch themselves.
"""

from __future__ import annotations

import struct

from aiokafka import AIOKafkaProducer
from aiokafka.codec import gzip_encode
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.record.default_records import DefaultRecordBase, DefaultRecordBatchBuilder
from aiokafka.record.util import calc_crc32c
from aiokafka.structs import RecordMetadata

from topics.connection import connection_config

NOT_UTF8 = b"\xff\xfe-tilik"
_PLACEHOLDER = "x" * len(NOT_UTF8)


def _replace_placeholder_names(batch: bytearray, name: bytes) -> None:
    """Swap each placeholder header name for ``name`` (same length) and seal the batch's CRC."""
    placeholder = _PLACEHOLDER.encode()
    at = batch.find(placeholder)
    while at >= 0:
        batch[at : at + len(name)] = name
        at = batch.find(placeholder, at + len(name))
    crc = calc_crc32c(bytes(batch[DefaultRecordBase.ATTRIBUTES_OFFSET :]))
    struct.pack_into(">I", batch, DefaultRecordBase.CRC_OFFSET, crc)


def _gzip(batch: bytearray) -> bytearray:
    """The same batch with its records gzip-compressed (length, attributes and CRC updated)."""
    first_record = DefaultRecordBase.HEADER_STRUCT.size
    compressed = bytearray(batch[:first_record]) + gzip_encode(bytes(batch[first_record:]))
    struct.pack_into(">i", compressed, 8, len(compressed) - 12)  # Length: all after itself
    (attributes,) = struct.unpack_from(">h", compressed, DefaultRecordBase.ATTRIBUTES_OFFSET)
    attributes |= DefaultRecordBase.CODEC_GZIP
    struct.pack_into(">h", compressed, DefaultRecordBase.ATTRIBUTES_OFFSET, attributes)
    crc = calc_crc32c(bytes(compressed[DefaultRecordBase.ATTRIBUTES_OFFSET :]))
    struct.pack_into(">I", compressed, DefaultRecordBase.CRC_OFFSET, crc)
    return compressed


def batch_with_bad_header_name(
    values: list[bytes], bad: set[int], *, gzip: bool = False, name: bytes = NOT_UTF8
) -> bytes:
    """An encoded record batch of ``values``; the records at indexes ``bad`` carry header ``name``."""
    assert len(name) == len(_PLACEHOLDER)
    builder = DefaultRecordBatchBuilder(2, 0, 0, -1, -1, -1, 1 << 20)
    for index, value in enumerate(values):
        headers = [(_PLACEHOLDER if index in bad else "trace", b"1")]
        builder.append(index, 1_700_000_000_000 + index, key=b"k", value=value, headers=headers)
    batch = bytearray(builder.build())
    _replace_placeholder_names(batch, name)
    return bytes(_gzip(batch) if gzip else batch)


async def produce_with_bad_header_name(
    bootstrap: str,
    topic: str,
    *,
    key: bytes,
    value: bytes,
    partitions: int,
    name: bytes = NOT_UTF8,
) -> RecordMetadata:
    """Publish one record whose header name is ``name`` bytes, in the partition its key maps to."""
    assert len(name) == len(_PLACEHOLDER)
    producer = AIOKafkaProducer(
        **connection_config(bootstrap), acks="all", enable_idempotence=False
    )
    await producer.start()
    try:
        batch = producer.create_batch()
        batch.append(key=key, value=value, timestamp=None, headers=[(_PLACEHOLDER, b"1")])
        # The batch is complete once built; its bytes are changed in place before it is sent.
        _replace_placeholder_names(batch._build(), name)
        partition = DefaultPartitioner()(key, list(range(partitions)), list(range(partitions)))
        delivery = await producer.send_batch(batch, topic, partition=partition)
        return await delivery  # type: ignore[no-any-return]
    finally:
        await producer.stop()

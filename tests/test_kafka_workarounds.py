"""The client-library workarounds of ``topics.kafka_workarounds``: still needed, and doing their job.

The first test checks the library defect itself: when it fails, aiokafka has fixed the defect,
and the workaround (and the version pin in pyproject.toml) can go.
"""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CorruptRecordException
from aiokafka.record.default_records import DefaultRecordBatch, _DefaultRecordBatchPy
from hostile_records import NOT_UTF8, batch_with_bad_header_name, produce_with_bad_header_name
from kafka.admin import KafkaAdminClient, NewTopic

from topics import codec, kafka_workarounds
from topics.connection import connection_config

VALUES = [f"value-{i}".encode() for i in range(5)]


@pytest.mark.parametrize("parser", [DefaultRecordBatch, _DefaultRecordBatchPy])
def test_aiokafka_still_fails_on_a_header_name_that_is_not_utf8(parser: type) -> None:
    """Fails once aiokafka reads such a record: then remove the workaround and move the pin."""
    batch = parser(batch_with_bad_header_name(VALUES, {2}))
    with pytest.raises((UnicodeDecodeError, CorruptRecordException)) as raised:
        list(batch)
    assert kafka_workarounds.header_name_error(raised.value)


def read(raw: bytes) -> list:  # type: ignore[type-arg]
    records = kafka_workarounds._TolerantMemoryRecords(raw)
    batch = records.next_batch()
    assert batch.validate_crc()
    read_back = list(batch)
    assert records.next_batch() is None
    return read_back


@pytest.mark.parametrize("gzip", [False, True])
@pytest.mark.parametrize("bad", [{0}, {2}, {4}, {1, 3}])
def test_every_record_of_the_batch_is_read_and_the_bad_name_kept_as_escaped_bytes(
    gzip: bool, bad: set[int]
) -> None:
    records = read(batch_with_bad_header_name(VALUES, bad, gzip=gzip))
    assert [r.value for r in records] == VALUES
    assert [r.offset for r in records] == list(range(len(VALUES)))
    for index, record in enumerate(records):
        [(name, value)] = record.headers
        assert value == b"1"
        if index in bad:
            assert not codec.is_text(name)
            assert name.encode("utf-8", "surrogateescape") == NOT_UTF8
        else:
            assert name == "trace"


@pytest.mark.parametrize("gzip", [False, True])
def test_the_fallback_reader_reads_a_batch_as_aiokafka_does(gzip: bool) -> None:
    raw = batch_with_bad_header_name(VALUES, set(), gzip=gzip)
    ours = list(kafka_workarounds._read_records(DefaultRecordBatch(raw), raw))
    theirs = list(DefaultRecordBatch(raw))
    fields = ("offset", "timestamp", "timestamp_type", "key", "value", "headers")
    assert [[getattr(r, f) for f in fields] for r in ours] == [
        [getattr(r, f) for f in fields] for r in theirs
    ]


def test_every_client_built_through_the_connection_config_gets_the_workaround() -> None:
    connection_config("127.0.0.1:9")
    assert kafka_workarounds.installed()


@pytest.mark.kafka
async def test_a_consumer_reads_past_the_record_and_loses_nothing_around_it(
    kafka_bootstrap: str,
) -> None:
    topic = f"test-workaround-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(**connection_config(kafka_bootstrap))
    admin.create_topics([NewTopic(topic, 1, 1)])
    admin.close()
    producer = AIOKafkaProducer(**connection_config(kafka_bootstrap), linger_ms=50)
    async with producer:
        # The record before the bad one travels in the same fetch: aiokafka alone never hands it out.
        await (await producer.send(topic, b"before", key=b"k"))
        await produce_with_bad_header_name(
            kafka_bootstrap, topic, key=b"k", value=b"bad", partitions=1
        )
        await (await producer.send(topic, b"after", key=b"k"))
    consumer = AIOKafkaConsumer(**connection_config(kafka_bootstrap), group_id=None)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        seen = []
        while len(seen) < 3:
            batches = await consumer.getmany(tp, timeout_ms=5000)
            assert batches, f"nothing fetched after {seen}"
            seen += batches[tp]
    finally:
        await consumer.stop()
    assert [r.value for r in seen] == [b"before", b"bad", b"after"]
    assert not codec.is_text(seen[1].headers[0][0])

"""The one topic reader (``topics.reader``) against the real broker: from the beginning to the end
it had at start, since a broker timestamp, an empty topic, invalid records dead-lettered or shown,
and following on past the end."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from catalog_helpers import create, private_spec

from topics import codec
from topics.catalog import DEAD_LETTERS, TopicSpec
from topics.client import CatalogProducer, read_records, read_table
from topics.connection import connection_config
from topics.examples import example
from topics.faults import RecordFaults
from topics.models import CameraRecord, CameraStatus, DeadLetter
from topics.reader import Received, TopicNotFound, TopicReader

pytestmark = pytest.mark.kafka


def statuses(count: int) -> list[CameraStatus]:
    seed = uuid.uuid4().hex
    return [example(CameraStatus, f"{seed}-{n}") for n in range(count)]


async def dead_letters_of(bootstrap: str, topic: str) -> list[DeadLetter]:
    return [
        r.value_as(DeadLetter)
        for r in await read_records(DEAD_LETTERS, bootstrap=bootstrap, component="test.dlq")
        if r.value_as(DeadLetter).source_topic == topic
    ]


async def test_reads_every_partition_from_the_beginning_to_the_end_it_had_at_start(
    kafka_bootstrap: str,
) -> None:
    spec = private_spec(CameraStatus, partitions=3)
    create(kafka_bootstrap, spec)
    before, after = statuses(9), statuses(2)
    async with CatalogProducer(kafka_bootstrap) as producer:
        await producer.send_batch(spec, before)
        async with TopicReader(spec, component="test.reader", bootstrap=kafka_bootstrap) as reader:
            # Appended once the reader has started: past its end, not read.
            await producer.send_batch(spec, after)
            got = [received async for received in reader]
    assert sorted(r.value_as(CameraStatus).camera_id for r in got) == sorted(
        s.camera_id for s in before
    )
    assert sum(reader.ends.values()) == 9 and set(reader.starts.values()) == {0}
    assert reader.caught_up.is_set()
    # Per partition, in offset order, each with its place.
    for partition in reader.ends:
        offsets = [r.offset for r in got if r.partition == partition]
        assert offsets == list(range(reader.ends[partition]))
    assert {r.ref for r in got} == {f"{r.partition}-{r.offset}" for r in got}


async def test_reads_from_a_broker_timestamp(kafka_bootstrap: str) -> None:
    spec = private_spec(CameraStatus, partitions=2)
    create(kafka_bootstrap, spec)
    values = statuses(4)
    now = datetime.now(UTC)
    # Appended at known broker timestamps: 40, 30, 20 and 10 minutes ago.
    moments = [now - timedelta(minutes=m) for m in (40, 30, 20, 10)]
    producer = AIOKafkaProducer(**connection_config(kafka_bootstrap))
    await producer.start()
    try:
        for value, moment in zip(values, moments, strict=True):
            await producer.send_and_wait(
                spec.name,
                codec.encode(spec, value),
                key=value.camera_id.encode(),
                headers=codec.headers_for(spec),
                timestamp_ms=int(moment.timestamp() * 1000),
            )
    finally:
        await producer.stop()
    since = now - timedelta(minutes=25)
    got = await read_records(spec, start=since, bootstrap=kafka_bootstrap, component="test.since")
    assert sorted(r.value_as(CameraStatus).camera_id for r in got) == sorted(
        v.camera_id for v in values[2:]
    )
    assert all(r.timestamp >= since - timedelta(seconds=1) for r in got)
    # A time after the last record: nothing to read, and the reader says it is at the end.
    later = await read_records(
        spec, start=now, bootstrap=kafka_bootstrap, component="test.since-later"
    )
    assert later == []


async def test_an_empty_topic_ends_at_once(kafka_bootstrap: str) -> None:
    spec = private_spec(CameraRecord, compact=True, partitions=2)
    create(kafka_bootstrap, spec)
    async with TopicReader(spec, component="test.empty", bootstrap=kafka_bootstrap) as reader:
        assert reader.caught_up.is_set()
        assert reader.ends == {0: 0, 1: 0}
        async with asyncio.timeout(10):
            assert [r async for r in reader] == []
    assert await read_table(spec, bootstrap=kafka_bootstrap, component="test.empty") == {}


async def test_an_invalid_record_is_dead_lettered_and_reading_goes_on(kafka_bootstrap: str) -> None:
    spec = private_spec(CameraStatus)
    create(kafka_bootstrap, spec, DEAD_LETTERS)
    first, last = statuses(2)
    async with CatalogProducer(kafka_bootstrap) as producer:
        await producer.send(spec, first)
        await producer.send_raw(spec.name, b'{"camera_id": 7}', key=b"broken")
        await producer.send_raw(spec.name, first.model_dump_json().encode(), key=None)
        await producer.send(spec, last)
        faults = RecordFaults("test.reader-faults", producer.dead_letter)
        async with TopicReader(
            spec,
            component="test.reader-faults",
            faults=faults,
            require_key=True,
            bootstrap=kafka_bootstrap,
        ) as reader:
            got = [r async for r in reader]
    assert [r.value for r in got] == [first, last]
    letters = await dead_letters_of(kafka_bootstrap, spec.name)
    assert [(d.source_offset, d.kind, d.component) for d in letters] == [
        (1, "invalid_message", "test.reader-faults"),
        (2, "invalid_message", "test.reader-faults"),
    ]
    assert "without a key" in letters[1].reason

    # A viewer, without faults, is shown the invalid record with its reason instead.
    shown = await read_records(
        spec, bootstrap=kafka_bootstrap, component="test.viewer", dead_letter_invalid=False
    )
    assert [r.offset for r in shown if r.error is not None] == [1]
    assert shown[1].raw == b'{"camera_id": 7}' and shown[1].value is None
    assert len(await dead_letters_of(kafka_bootstrap, spec.name)) == 2


async def test_follow_replays_then_yields_new_records_and_says_when_it_caught_up(
    kafka_bootstrap: str,
) -> None:
    spec = private_spec(CameraStatus, partitions=2)
    create(kafka_bootstrap, spec)
    old, new = statuses(4), statuses(3)
    got: list[Received] = []
    async with CatalogProducer(kafka_bootstrap) as producer:
        await producer.send_batch(spec, old)
        async with TopicReader(spec, component="test.follow", bootstrap=kafka_bootstrap) as view:

            async def collect() -> None:
                async for received in view.follow():
                    got.append(received)
                    if len(got) == len(old) + len(new):
                        return

            follower = asyncio.create_task(collect())
            async with asyncio.timeout(20):
                await view.caught_up.wait()
            assert len(got) >= len(old)
            await producer.send_batch(spec, new)
            async with asyncio.timeout(20):
                await follower
    assert {r.value_as(CameraStatus).camera_id for r in got} == {s.camera_id for s in old + new}


async def test_starts_at_the_end_or_at_given_offsets(kafka_bootstrap: str) -> None:
    spec = private_spec(CameraStatus)
    create(kafka_bootstrap, spec)
    values = statuses(5)
    async with CatalogProducer(kafka_bootstrap) as producer:
        await producer.send_batch(spec, values[:3])
        async with TopicReader(
            spec, component="test.end", start="end", bootstrap=kafka_bootstrap
        ) as at_end:
            assert at_end.starts == at_end.ends == {0: 3}
            assert [r async for r in at_end] == []
        await producer.send_batch(spec, values[3:])
    got = await read_records(
        spec, start={0: 2}, bootstrap=kafka_bootstrap, component="test.offsets"
    )
    assert [r.offset for r in got] == [2, 3, 4]
    assert [r.value_as(CameraStatus) for r in got] == values[2:]


async def test_a_topic_not_on_the_broker_is_named(kafka_bootstrap: str) -> None:
    spec: TopicSpec = private_spec(CameraStatus)
    with pytest.raises(TopicNotFound, match=spec.name):
        await read_records(spec, bootstrap=kafka_bootstrap, component="test.missing")

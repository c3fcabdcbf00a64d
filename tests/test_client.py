"""CatalogProducer and CatalogConsumer against a real broker: round trips, dead letters, offsets."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid

import pytest
from aiokafka import TopicPartition
from catalog_helpers import create, private_spec, unique
from structlog.testing import capture_logs

from core.logconfig import shared_processors
from topics.admin import apply_catalog
from topics.catalog import DEAD_LETTERS, SCHEMA_HEADER, TopicSpec, all_topics
from topics.client import CatalogConsumer, CatalogProducer, Received, read_records, read_table
from topics.codec import MAX_MESSAGE_BYTES, InvalidMessage
from topics.examples import example
from topics.models import CameraRecord, CameraStatus, DeadLetter, DeviceEvent

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def catalog(kafka_bootstrap: str) -> list[TopicSpec]:
    specs = all_topics()
    apply_catalog(specs, bootstrap=kafka_bootstrap, replication_factor=1)
    return specs


async def collect(consumer: CatalogConsumer, count: int, timeout_s: float = 20) -> list[Received]:
    received = []
    while len(received) < count:
        message = await consumer.next(timeout_s=timeout_s)
        if message is None:
            break
        received.append(message)
    return received


async def find_dead_letters(
    bootstrap: str, source_topic: str, count: int, timeout_s: float = 20
) -> list[DeadLetter]:
    """Dead letters of one (private) source topic, read from the start of the shared DLQ."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = [
            r.value_as(DeadLetter)
            for r in await read_records(DEAD_LETTERS, bootstrap=bootstrap, component="test")
            if r.value_as(DeadLetter).source_topic == source_topic
        ]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


async def test_every_catalog_topic_round_trips(kafka_bootstrap: str, catalog: list[TopicSpec]):
    seed = uuid.uuid4().hex
    sent = {spec.name: example(spec.value_model, seed) for spec in catalog}
    async with CatalogProducer(kafka_bootstrap) as producer:
        for spec in catalog:
            metadata = await producer.send(spec, sent[spec.name])
            assert metadata.topic == spec.name

    # Other modules' bad messages on these shared topics are theirs to dead-letter, not ours.
    async with CatalogConsumer(
        *catalog,
        group_id=unique("roundtrip"),
        component="test",
        bootstrap=kafka_bootstrap,
        yield_invalid=True,
    ) as consumer:
        pending = dict(sent)
        while pending:
            message = await consumer.next(timeout_s=30)
            assert message is not None, f"never received: {sorted(pending)}"
            if message.value is not None and message.value == pending.get(message.topic):
                assert message.headers[SCHEMA_HEADER] == message.spec.schema_id.encode()
                assert message.key is not None
                del pending[message.topic]


async def test_invalid_messages_are_dead_lettered_and_consumption_continues(kafka_bootstrap: str):
    spec = private_spec(CameraStatus)
    create(kafka_bootstrap, spec, DEAD_LETTERS)
    good = example(CameraStatus, uuid.uuid4().hex)
    async with CatalogProducer(kafka_bootstrap) as producer:
        not_json = await producer.send_raw(spec.name, b"\xff\x00not json", key=b"k1")
        wrong_fields = await producer.send_raw(
            spec.name,
            b'{"camera_id": "cam-1", "state": "on fire", "password": "hunter2-Zq9"}',
            key=b"k2",
        )
        wrong_schema = await producer.send_raw(
            spec.name,
            good.model_dump_json().encode(),
            key=b"k3",
            headers=[(SCHEMA_HEADER, b"Alert/v1"), ("authorization", b"Digest secret-response")],
        )
        valid = await producer.send(spec, good)

        with capture_logs(processors=shared_processors()) as logs:
            async with CatalogConsumer(
                spec,
                group_id=unique("dlq"),
                component="test.dlq",
                bootstrap=kafka_bootstrap,
                producer=producer,
            ) as consumer:
                message = await consumer.next(timeout_s=20)
    assert [e["event"] for e in logs].count("message dead-lettered") == 3
    assert "hunter2-Zq9" not in repr(logs)
    assert message is not None
    assert message.value == good
    assert message.offset == valid.offset

    letters = {
        dl.source_offset: dl for dl in await find_dead_letters(kafka_bootstrap, spec.name, 3)
    }
    assert set(letters) == {not_json.offset, wrong_fields.offset, wrong_schema.offset}
    binary = letters[not_json.offset]
    assert binary.payload_encoding == "base64"
    assert base64.b64decode(binary.payload) == b"\xff\x00not json"
    assert binary.component == "test.dlq"
    assert binary.source_partition == 0
    assert binary.key == "k1"
    assert "state" in letters[wrong_fields.offset].reason
    assert "checked_at: Field required" in letters[wrong_fields.offset].reason
    assert "hunter2-Zq9" not in letters[wrong_fields.offset].reason
    schema_letter = letters[wrong_schema.offset]
    assert "schema header 'Alert/v1'" in schema_letter.reason
    assert schema_letter.headers["authorization"] == "***"
    assert "secret-response" not in schema_letter.model_dump_json()


async def test_oversized_message_is_dead_lettered_truncated(kafka_bootstrap: str):
    spec = private_spec(CameraStatus)
    create(kafka_bootstrap, spec, DEAD_LETTERS)
    huge = b'{"reason": "' + b"x" * (MAX_MESSAGE_BYTES + 10) + b'"}'
    async with CatalogProducer(kafka_bootstrap) as producer:
        big = await producer.send_raw(spec.name, huge, key=b"big")
        await producer.send(spec, example(CameraStatus, "after-big"))
        async with CatalogConsumer(
            spec, group_id=unique("big"), component="test", bootstrap=kafka_bootstrap
        ) as consumer:
            message = await consumer.next(timeout_s=20)
    assert message is not None and message.value == example(CameraStatus, "after-big")
    [letter] = await find_dead_letters(kafka_bootstrap, spec.name, 1)
    assert letter.source_offset == big.offset
    assert "exceeds" in letter.reason
    assert letter.payload_truncated
    assert len(letter.payload) < len(huge)


async def test_committed_offsets_resume_after_the_last_processed_message(kafka_bootstrap: str):
    spec = private_spec(CameraStatus)
    create(kafka_bootstrap, spec, DEAD_LETTERS)
    values = [example(CameraStatus, f"commit-{i}-{uuid.uuid4().hex}") for i in range(4)]
    group = unique("commit")
    async with CatalogProducer(kafka_bootstrap) as producer:
        await producer.send_batch(spec, values)
    async with CatalogConsumer(
        spec, group_id=group, component="test", bootstrap=kafka_bootstrap
    ) as consumer:
        first_two = await collect(consumer, 2)
    assert [m.value for m in first_two] == values[:2]

    # A handler that fails leaves its message uncommitted: it is delivered again.
    with pytest.raises(RuntimeError):
        async with CatalogConsumer(
            spec, group_id=group, component="test", bootstrap=kafka_bootstrap
        ) as consumer:
            third = await consumer.next(timeout_s=20)
            assert third is not None and third.value == values[2]
            raise RuntimeError("handler failed")

    async with CatalogConsumer(
        spec, group_id=group, component="test", bootstrap=kafka_bootstrap
    ) as consumer:
        rest = await collect(consumer, 2)
    assert [m.value for m in rest] == values[2:]


async def test_rebalance_callbacks_receive_the_assigned_partitions(kafka_bootstrap: str):
    spec = private_spec(CameraStatus, partitions=3)
    create(kafka_bootstrap, spec)
    assigned: list[set[TopicPartition]] = []
    revoked: list[set[TopicPartition]] = []

    async def on_assign(partitions: set[TopicPartition]) -> None:
        assigned.append(partitions)

    async def on_revoke(partitions: set[TopicPartition]) -> None:
        revoked.append(partitions)

    async with CatalogConsumer(
        spec,
        group_id=unique("rebalance"),
        component="test",
        bootstrap=kafka_bootstrap,
        on_assign=on_assign,
        on_revoke=on_revoke,
    ) as consumer:
        await consumer.next(timeout_s=3)
        assert consumer.assignment() == {TopicPartition(spec.name, p) for p in range(3)}
    assert assigned[-1] == {TopicPartition(spec.name, p) for p in range(3)}


async def test_read_table_returns_latest_record_per_key_without_tombstoned(kafka_bootstrap: str):
    spec = private_spec(CameraRecord, compact=True, partitions=2)
    create(kafka_bootstrap, spec, DEAD_LETTERS)
    a, b = example(CameraRecord, "table-a"), example(CameraRecord, "table-b")
    renamed = a.model_copy(update={"name": "renamed"})
    async with CatalogProducer(kafka_bootstrap) as producer:
        await producer.send_batch(spec, [a, b])
        await producer.send(spec, renamed)
        await producer.send(spec, None, key=b.camera_id)
        await producer.send_raw(spec.name, b"{}", key=b"broken")
    table = await read_table(spec, bootstrap=kafka_bootstrap, component="test.table")
    assert table == {a.camera_id: renamed}
    [letter] = await find_dead_letters(kafka_bootstrap, spec.name, 1)
    assert letter.key == "broken"


async def test_tombstones_are_yielded_on_compacted_topics(kafka_bootstrap: str):
    spec = private_spec(CameraRecord, compact=True)
    create(kafka_bootstrap, spec)
    record = example(CameraRecord, uuid.uuid4().hex)
    async with CatalogProducer(kafka_bootstrap) as producer:
        await producer.send(spec, record)
        await producer.send(spec, None, key=record.camera_id)
    async with CatalogConsumer(
        spec, group_id=unique("tomb"), component="test", bootstrap=kafka_bootstrap
    ) as consumer:
        first, second = await collect(consumer, 2)
    assert first.value_as(CameraRecord) == record
    assert second.is_tombstone and second.key == record.camera_id
    with pytest.raises(TypeError, match="tombstone"):
        second.value_as(CameraRecord)


async def test_producer_refuses_wrong_model_and_keyless_tombstone(kafka_bootstrap: str):
    spec = private_spec(CameraStatus)
    async with CatalogProducer(kafka_bootstrap) as producer:
        with pytest.raises(TypeError, match="carries CameraStatus"):
            await producer.send(spec, example(DeviceEvent))
        with pytest.raises(ValueError, match="needs a key"):
            await producer.send(spec, None)
        with pytest.raises(ValueError, match="not compacted"):
            await producer.send(spec, None, key="cam-x")
        oversized = example(CameraStatus).model_copy(update={"reason": "x" * MAX_MESSAGE_BYTES})
        with pytest.raises(InvalidMessage, match="exceeds"):
            await producer.send(spec, oversized)


async def test_a_second_member_takes_half_the_partitions_and_nothing_is_lost(kafka_bootstrap: str):
    spec = private_spec(CameraStatus, partitions=4)
    create(kafka_bootstrap, spec)
    group = unique("shard")
    values = [example(CameraStatus, f"shard-{i}-{uuid.uuid4().hex}") for i in range(40)]
    async with CatalogProducer(kafka_bootstrap) as producer:
        await producer.send_batch(spec, values[:20])

    revoked_from_first: list[set[TopicPartition]] = []

    async def note_revoke(partitions: set[TopicPartition]) -> None:
        revoked_from_first.append(partitions)

    seen: list[Received] = []

    async def drain(consumer: CatalogConsumer, until: asyncio.Event) -> None:
        while not until.is_set():
            message = await consumer.next(timeout_s=0.5)
            if message is not None:
                seen.append(message)

    first = CatalogConsumer(
        spec, group_id=group, component="test", bootstrap=kafka_bootstrap, on_revoke=note_revoke
    )
    second = CatalogConsumer(spec, group_id=group, component="test", bootstrap=kafka_bootstrap)
    done = asyncio.Event()
    async with first:
        while len(seen) < 5:
            message = await first.next(timeout_s=20)
            assert message is not None
            seen.append(message)
        async with second:
            tasks = [asyncio.create_task(drain(c, done)) for c in (first, second)]
            async with CatalogProducer(kafka_bootstrap) as producer:
                await producer.send_batch(spec, values[20:])
            deadline = asyncio.get_running_loop().time() + 30
            while asyncio.get_running_loop().time() < deadline:
                shared = len(first.assignment()) == 2 and len(second.assignment()) == 2
                if shared and {m.key for m in seen} >= {v.camera_id for v in values}:
                    break
                await asyncio.sleep(0.2)
            done.set()
            await asyncio.gather(*tasks)
            assert len(first.assignment()) == 2 and len(second.assignment()) == 2
            assert first.assignment().isdisjoint(second.assignment())
    assert revoked_from_first, "the first member was never asked to give partitions up"
    assert {m.key for m in seen} >= {v.camera_id for v in values}

"""Every stream reader outside the hub keeps going past a record it cannot decode or process.

The record is a valid payload under a header name that is not UTF-8, which aiokafka alone cannot
even read (tests/test_kafka_workarounds.py): consumers dead-letter it, viewers show it as invalid,
operator reads skip it; the records after it arrive as usual.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from catalog_helpers import create, private_spec
from click.testing import CliRunner
from hostile_records import produce_with_bad_header_name
from sdk_helpers import eventually, running, unique_connector

from connectors.sdk.example.connector import VENDOR
from connectors.sdk.example.simulator import running_recorder
from connectors.sdk.onboard import onboard
from connectors.sdk.runtime import RuntimeOptions, WatchService
from tilik.cli import cli
from topics.catalog import CAMERA_REGISTRY, DEAD_LETTERS, TopicSpec, all_topics, dispatch_spec
from topics.client import CatalogConsumer, CatalogProducer, Received, read_records, read_table
from topics.examples import example
from topics.identity import device_id
from topics.models import CameraRecord, CameraStatus, DeadLetter, Dispatch

pytestmark = pytest.mark.kafka
HEADER_REASON = "a record header name is not UTF-8 text"


async def hostile_sequence(
    bootstrap: str,
    spec: TopicSpec,
    values: list,
    key: str,  # type: ignore[type-arg]
) -> list[tuple[int, int]]:
    """``values[0]``, then ``values[1]`` under a bad header name, then the rest; all under ``key``."""
    placed = []
    async with CatalogProducer(bootstrap) as producer:
        first = await producer.send(spec, values[0], key=key)
        placed.append((first.partition, first.offset))
        bad = await produce_with_bad_header_name(
            bootstrap,
            spec.name,
            key=key.encode(),
            value=values[1].model_dump_json().encode(),
            partitions=spec.partitions,
        )
        placed.append((bad.partition, bad.offset))
        for value in values[2:]:
            meta = await producer.send(spec, value, key=key)
            placed.append((meta.partition, meta.offset))
    assert len({partition for partition, _ in placed}) == 1
    return placed


async def dead_letters_of(bootstrap: str, topic: str) -> list[DeadLetter]:
    """The dead letters of ``topic`` on the dead-letter topic up to its current end."""
    return [
        r.value
        for r in await read_records(DEAD_LETTERS, bootstrap=bootstrap, component="test.dlq")
        if isinstance(r.value, DeadLetter) and r.value.source_topic == topic
    ]


async def test_a_consumer_group_dead_letters_the_record_commits_past_it_and_goes_on(
    kafka_bootstrap: str,
) -> None:
    spec = private_spec(CameraStatus, partitions=2)
    create(kafka_bootstrap, spec, DEAD_LETTERS)
    values = [example(CameraStatus, uuid.uuid4().hex) for _ in range(3)]
    placed = await hostile_sequence(kafka_bootstrap, spec, values, key="cam-a")
    group = f"g-{uuid.uuid4().hex[:8]}"
    async with CatalogConsumer(
        spec, group_id=group, component="test.hostile", bootstrap=kafka_bootstrap
    ) as consumer:
        first = await consumer.next(timeout_s=30)
        last = await consumer.next(timeout_s=30)
    assert first is not None and last is not None
    assert [first.value, last.value] == [values[0], values[2]]
    [letter] = await dead_letters_of(kafka_bootstrap, spec.name)
    assert (letter.source_partition, letter.source_offset) == placed[1]
    assert letter.reason == HEADER_REASON and letter.kind == "invalid_message"
    assert letter.component == "test.hostile"
    # Handled means committed: the group resumes with what came after the three records.
    later = example(CameraStatus, uuid.uuid4().hex)
    async with CatalogProducer(kafka_bootstrap) as producer:
        await producer.send(spec, later, key="cam-a")
    async with CatalogConsumer(
        spec, group_id=group, component="test.hostile", bootstrap=kafka_bootstrap
    ) as again:
        resumed = await again.next(timeout_s=30)
    assert resumed is not None and resumed.value == later


async def test_a_failing_handler_dead_letters_its_message_and_the_next_one_arrives(
    kafka_bootstrap: str,
) -> None:
    spec = private_spec(CameraStatus)
    create(kafka_bootstrap, spec, DEAD_LETTERS)
    values = [example(CameraStatus, uuid.uuid4().hex) for _ in range(2)]
    async with CatalogProducer(kafka_bootstrap) as producer:
        await producer.send_batch(spec, values)

    def handle(message: Received) -> str:
        status = message.value_as(CameraStatus)
        if status == values[0]:
            raise KeyError("a defect")
        return status.camera_id

    handled = []
    async with CatalogConsumer(
        spec,
        group_id=f"g-{uuid.uuid4().hex[:8]}",
        component="test.handler",
        bootstrap=kafka_bootstrap,
    ) as consumer:
        for _ in values:
            message = await consumer.next(timeout_s=30)
            assert message is not None
            handled.append(await consumer.process(message, handle))
    assert handled == [None, values[1].camera_id]
    [letter] = await dead_letters_of(kafka_bootstrap, spec.name)
    assert letter.kind == "processing_failed" and letter.error_type == "KeyError"
    assert letter.source_offset == 0 and letter.component == "test.handler"
    assert CameraStatus.model_validate_json(letter.payload) == values[0]


async def test_read_table_and_read_records_go_past_the_record(kafka_bootstrap: str) -> None:
    spec = private_spec(CameraRecord, compact=True)
    create(kafka_bootstrap, spec, DEAD_LETTERS)
    cameras = [example(CameraRecord, uuid.uuid4().hex) for _ in range(3)]
    for camera in cameras:
        await hostile_sequence(kafka_bootstrap, spec, [camera, camera], key=camera.camera_id)
    table = await read_table(spec, bootstrap=kafka_bootstrap, component="test.table")
    assert table == {c.camera_id: c for c in cameras}
    assert len(await dead_letters_of(kafka_bootstrap, spec.name)) == 3
    history = await read_records(
        spec, bootstrap=kafka_bootstrap, component="test.history", dead_letter_invalid=False
    )
    assert [r.value for r in history if r.error is None] == cameras
    assert [r.offset for r in history if r.error == HEADER_REASON] == [1, 3, 5]


def test_tail_shows_the_record_as_invalid_and_keeps_going(kafka_bootstrap: str) -> None:
    agency = f"test-{uuid.uuid4().hex[:8]}"
    spec = dispatch_spec(agency)
    create(kafka_bootstrap, spec)
    values = [example(Dispatch, uuid.uuid4().hex) for _ in range(3)]
    asyncio.run(hostile_sequence(kafka_bootstrap, spec, values, key="k-hostile"))
    result = CliRunner().invoke(
        cli,
        [
            "tail",
            f"dispatch.{agency}",
            "--json",
            "--from-beginning",
            "--max",
            "3",
            "--timeout",
            "15",
            "--bootstrap",
            kafka_bootstrap,
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0
    shown = [json.loads(line) for line in result.stdout.splitlines()]
    assert [s["offset"] for s in shown] == [0, 1, 2]
    assert shown[1]["error"] == HEADER_REASON and shown[1]["value"] is None
    assert [Dispatch.model_validate(s["value"]) for s in (shown[0], shown[2])] == [
        values[0],
        values[2],
    ]


async def test_the_connector_runtime_goes_past_a_registry_record_it_cannot_read(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(kafka_bootstrap, *all_topics())
    connector = unique_connector()
    options = RuntimeOptions(group_id=uuid.uuid4().hex, health_interval_s=60)
    service = WatchService(connector, bootstrap=kafka_bootstrap, options=options)
    async with running_recorder(channels=1) as recorder:
        device = device_id(vendor=VENDOR, serial=recorder.serial)
        monkeypatch.setenv("TILIK_CAMERA_SECRET_T_HOSTILE_PASS", recorder.password)
        async with running(service):
            assert await eventually(lambda: service.ready.is_set())
            stray = example(CameraRecord, uuid.uuid4().hex)
            bad = await produce_with_bad_header_name(
                kafka_bootstrap,
                CAMERA_REGISTRY.name,
                key=stray.camera_id.encode(),
                value=stray.model_copy(update={"connector": connector.name})
                .model_dump_json()
                .encode(),
                partitions=CAMERA_REGISTRY.partitions,
            )
            config = {
                "address": recorder.address,
                "credential_ref": "admin@env:TILIK_CAMERA_SECRET_T_HOSTILE_PASS",
            }
            async with CatalogProducer(kafka_bootstrap) as producer:
                summary = await onboard(connector, [config], producer=producer)
            assert summary.ok, summary.as_dict()
            assert await eventually(lambda: device in service.watched_devices, timeout_s=30)
            assert stray.device_id not in service.watched_devices
    letters = await dead_letters_of(kafka_bootstrap, CAMERA_REGISTRY.name)
    letter = next(d for d in letters if d.source_offset == bad.offset)
    assert letter.component == f"connector.{connector.name}" and letter.reason == HEADER_REASON

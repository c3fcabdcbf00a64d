"""No poison pill: a real hub worker fed hostile records dead-letters each one and keeps working.

Each record is produced the way a hostile or broken producer would (raw, unvalidated); the
events after it must still raise the alerts they deserve, and the worker must stay up.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from conftest import Principals
from hostile_records import produce_with_bad_header_name
from test_hub_pipeline import device_event, dispatched, for_camera, new_camera

from hub.gaps import FetchedMessage
from hub.isolation import internal_json
from hub.testing import TopicWatch, WorkerProcess
from topics import codec
from topics.catalog import ALERTS, CAMERA_REGISTRY, DEAD_LETTERS, DEVICE_EVENTS, dispatch_spec
from topics.client import CatalogProducer
from topics.connection import connection_config
from topics.models import DeadLetter, EventKind

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

FIXTURES = Path(__file__).parent / "hub_fixtures"
DENSITY_RULE = """
  - id: t-density
    kind: threshold
    category: crowd
    severity: critical
    title: Dense crowd (test)
    events: [crowd_density]
    measure: crowd_density
    threshold: 4
"""


@pytest.fixture(scope="module")
def worker(
    kafka_bootstrap: str, kafka_principals: Principals, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    tmp = tmp_path_factory.mktemp("hub-poison")
    rules = tmp / "rules.yaml"
    rules.write_text((FIXTURES / "rules.yaml").read_text() + DENSITY_RULE)
    routes = tmp / "routes.yaml"
    # No webhook: this worker must not post (and dead-letter) other tests' dispatches.
    text = (FIXTURES / "routes.yaml").read_text()
    routes.write_text(re.sub(r"\n    webhook:\n(      .*\n)+", "\n", text))
    process = WorkerProcess(
        kafka_bootstrap,
        f"tilik-hub-poison-{uuid.uuid4().hex[:8]}",
        tmp / "worker.log",
        rules=rules,
        routes=routes,
        extra_args=["--tick-every", "0.5", "--escalation-check-every", "0.5", "--from-latest"],
        client_config=kafka_principals.hub,
    )
    process.start()
    try:
        asyncio.run(process.wait_ready(90))
        yield process
    finally:
        process.stop()


def raw_event(camera_id: str, kind: EventKind, attributes: str) -> bytes:
    """A device event as JSON, its attributes spliced in as text: numbers no model would write."""
    event = device_event(camera_id, kind).model_dump(mode="json")
    text = json.dumps({**event, "attributes": "ATTRIBUTES"})
    return text.replace('"ATTRIBUTES"', attributes).encode()


def letters_from(source: str, offsets: set[tuple[int, int]]):  # type: ignore[no-untyped-def]
    def match(values: list[DeadLetter]) -> bool:
        found = {(d.source_partition, d.source_offset) for d in values if d.source_topic == source}
        return offsets <= found

    return match


def letter_at(values: list[DeadLetter], source: str, partition: int, offset: int) -> DeadLetter:
    return next(
        d
        for d in values
        if (d.source_topic, d.source_partition, d.source_offset) == (source, partition, offset)
    )


async def test_schema_valid_looking_poison_is_dead_lettered_and_later_events_raise_their_alerts(
    worker: WorkerProcess, kafka_bootstrap: str
) -> None:
    camera = new_camera()
    cid = camera.camera_id
    dlq = await TopicWatch(kafka_bootstrap, DEAD_LETTERS).start()
    alerts = await TopicWatch(kafka_bootstrap, ALERTS).start()
    try:
        async with CatalogProducer(kafka_bootstrap) as producer:
            await producer.send(CAMERA_REGISTRY, camera)
            key = cid.encode()
            # A Dahua people count with a 401-digit Number, and a density of 1e400.
            huge = await producer.send_raw(
                DEVICE_EVENTS.name,
                raw_event(cid, EventKind.PEOPLE_COUNT, '{"count": ' + "9" * 401 + "}"),
                key=key,
            )
            infinite = await producer.send_raw(
                DEVICE_EVENTS.name,
                raw_event(cid, EventKind.CROWD_DENSITY, '{"crowd_density": 1e400}'),
                key=key,
            )
            await producer.send(DEVICE_EVENTS, device_event(cid, EventKind.PEOPLE_COUNT, count=25))
            await producer.send(
                DEVICE_EVENTS, device_event(cid, EventKind.CROWD_DENSITY, crowd_density=6.5)
            )
        values = await alerts.wait_for(for_camera(cid, rule_id="t-crowd", status="opened"), 30)
        values = await alerts.wait_for(for_camera(cid, rule_id="t-density", status="opened"), 30)
        measured = {a.rule_id: a.measurement for a in values if a.camera_id == cid}
        assert measured == {"t-crowd": 25, "t-density": 6.5}
        offsets = {(huge.partition, huge.offset), (infinite.partition, infinite.offset)}
        letters = await dlq.wait_for(letters_from(DEVICE_EVENTS.name, offsets), 30)
        count_letter = letter_at(letters, DEVICE_EVENTS.name, huge.partition, huge.offset)
        assert count_letter.kind == "invalid_message"
        assert "attributes.count" in count_letter.reason
        assert "9" * 401 in count_letter.payload  # kept whole for diagnosis
        density_letter = letter_at(letters, DEVICE_EVENTS.name, infinite.partition, infinite.offset)
        assert "attributes.crowd_density" in density_letter.reason
        assert "finite" in density_letter.reason
        worker.check_alive()
    finally:
        await dlq.stop()
        await alerts.stop()


async def test_a_record_whose_processing_raises_is_dead_lettered_and_the_agent_goes_on(
    worker: WorkerProcess, kafka_bootstrap: str
) -> None:
    """The escalation inbox is the hub's own topic: a record of a shape the agent cannot handle
    (written by a broken or older worker) fails in processing, not at the edge."""
    inbox = f"{worker.app_id}-escalation-inbox"
    camera = new_camera()
    dlq = await TopicWatch(kafka_bootstrap, DEAD_LETTERS).start()
    polisi = await TopicWatch(kafka_bootstrap, dispatch_spec("polisi")).start()
    satpol = await TopicWatch(kafka_bootstrap, dispatch_spec("satpol-pp")).start()
    failing: set[tuple[int, int]] = set()
    not_json: set[tuple[int, int]] = set()
    try:
        producer = AIOKafkaProducer(**connection_config(kafka_bootstrap))
        async with producer:
            # In every partition, so the alert below must get past one whichever it lands in.
            for partition in range(ALERTS.partitions):
                meta = await (
                    await producer.send(inbox, b'{"arm": {}}', key=b'"alr-x"', partition=partition)
                )
                failing.add((meta.partition, meta.offset))
                meta = await (
                    await producer.send(inbox, b"{not json", key=b'"alr-x"', partition=partition)
                )
                not_json.add((meta.partition, meta.offset))
        async with CatalogProducer(kafka_bootstrap) as catalog:
            await catalog.send(CAMERA_REGISTRY, camera)
            await catalog.send(DEVICE_EVENTS, device_event(camera.camera_id, EventKind.TAMPER))
        # Unacknowledged after 3 s, the tamper alert escalates from polisi to satpol-pp: the
        # escalation agent handled the alert's arming and its deadline after the poison.
        await polisi.wait_for(dispatched(camera.camera_id, level=0), 30)
        await satpol.wait_for(dispatched(camera.camera_id, level=1), 30)
        letters = await dlq.wait_for(letters_from(inbox, failing | not_json), 30)
        for partition, offset in failing:
            letter = letter_at(letters, inbox, partition, offset)
            assert letter.kind == "processing_failed"
            assert letter.error_type == "ValidationError"
            assert letter.component == "hub.dispatching"
            assert letter.payload == '{"arm": {}}'
        for partition, offset in not_json:
            letter = letter_at(letters, inbox, partition, offset)
            assert letter.kind == "invalid_message"
            assert "not JSON" in letter.reason
        worker.check_alive()
        # Every record has its dead letter (above); the log says so once per cause and interval
        # (repeats are counted, not written), and the defect's traceback appears once.
        lines = [json.loads(line) for line in worker.log_text().splitlines() if line[:1] == b"{"]
        logged = [
            line
            for line in lines
            if line.get("event") == "record dead-lettered: its processing failed"
        ]
        assert 1 <= len(logged) < ALERTS.partitions
        assert sum("exception" in line for line in logged) == 1
    finally:
        for watch in (dlq, polisi, satpol):
            await watch.stop()


async def test_a_header_name_that_is_not_utf8_is_dead_lettered_and_the_worker_goes_on(
    worker: WorkerProcess, kafka_bootstrap: str
) -> None:
    camera = new_camera()
    cid = camera.camera_id
    dlq = await TopicWatch(kafka_bootstrap, DEAD_LETTERS).start()
    alerts = await TopicWatch(kafka_bootstrap, ALERTS).start()
    try:
        async with CatalogProducer(kafka_bootstrap) as producer:
            await producer.send(CAMERA_REGISTRY, camera)
            bad = await produce_with_bad_header_name(
                kafka_bootstrap,
                DEVICE_EVENTS.name,
                key=cid.encode(),
                value=device_event(cid, EventKind.TAMPER).model_dump_json().encode(),
                partitions=DEVICE_EVENTS.partitions,
            )
            after = await producer.send(
                DEVICE_EVENTS, device_event(cid, EventKind.PEOPLE_COUNT, count=30)
            )
        assert after.partition == bad.partition
        await alerts.wait_for(for_camera(cid, rule_id="t-crowd", status="opened"), 30)
        letters = await dlq.wait_for(
            letters_from(DEVICE_EVENTS.name, {(bad.partition, bad.offset)}), 30
        )
        letter = letter_at(letters, DEVICE_EVENTS.name, bad.partition, bad.offset)
        assert letter.kind == "invalid_message"
        assert letter.reason == "a record header name is not UTF-8 text"
        assert "\\xff\\xfe-tilik" in letter.headers
        # The tamper event it carried is not judged: no tamper alert for this camera.
        worker.check_alive()
        assert not for_camera(cid, rule_id="t-tamper")(alerts.values())
    finally:
        await dlq.stop()
        await alerts.stop()


@pytest.mark.parametrize("value", [b"{not json", b"\xff\xfe", b"[" * 100_000])
def test_an_internal_record_that_is_not_json_is_refused_not_raised(value: bytes) -> None:
    message = FetchedMessage(topic="hub-inbox", partition=0, offset=7, key=b'"k"', value=value)
    with pytest.raises(codec.InvalidMessage, match="not JSON"):
        internal_json(message)

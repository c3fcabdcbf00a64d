"""The hub's agents run in Faust's own test context: records are put into an agent in-process,
and what it sends goes through the worker's real send path to the session broker.

No worker process: each test builds the app a worker would (``create_hub``), starts only its
producer, and drives one agent at a time with ``agent.test_context()``.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from conftest import Principals
from test_hub_pipeline import SECRET, device_event, new_camera

from hub.app import Hub, create_hub
from hub.config import HubConfig
from hub.delivery.policy import RetryPolicy
from hub.dispatching.inbox import Acknowledged, RecordRef, Routed
from hub.faust_workarounds import create_internal_topics
from hub.routing import make_dispatch
from hub.rules import RuleEngine, load_rules
from hub.testing import ReceiverThread, TopicWatch
from hub.worker import internal_topics
from topics import codec
from topics.admin import admin_client
from topics.catalog import (
    ALERTS,
    AUDIT,
    CAMERA_REGISTRY,
    CAMERA_STATUS,
    DEAD_LETTERS,
    DEVICE_EVENTS,
    TopicSpec,
    ack_spec,
    dispatch_spec,
)
from topics.client import CatalogProducer
from topics.models import (
    AlertAck,
    AlertCategory,
    AlertStatus,
    CameraState,
    CameraStatus,
    EventKind,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

FIXTURES = Path(__file__).parent / "hub_fixtures"


@pytest.fixture
def receiver() -> Iterator[ReceiverThread]:
    thread = ReceiverThread(SECRET.encode()).start()
    yield thread
    thread.stop()


@pytest.fixture
async def hub(
    kafka_bootstrap: str,
    kafka_principals: Principals,
    receiver: ReceiverThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Hub]:
    """The app of a worker with the test rules and routes, its producer started, nothing read."""
    monkeypatch.setenv("TILIK_TEST_WEBHOOK_SECRET", SECRET)
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        (FIXTURES / "routes.yaml").read_text().replace("${RECEIVER_PORT}", str(receiver.port))
    )
    config = HubConfig(
        bootstrap=kafka_bootstrap,
        app_id=f"tilik-hub-agents-{uuid.uuid4().hex[:8]}",
        rules_path=FIXTURES / "rules.yaml",
        routes_path=routes,
        data_dir=tmp_path / "hub",
        offline_after_s=60,
        webhook_policy=RetryPolicy(max_attempts=2, base_delay_s=0.05),
    )
    made = create_hub(config)
    created = internal_topics(made)
    create_internal_topics(config, created)
    await led(kafka_bootstrap, sorted(created))
    # Records reach the agents through their test context; the registry view is not started.
    made.registry.ready.set()
    await made.app.producer.start()
    try:
        yield made
    finally:
        await made.app.producer.stop()


async def led(bootstrap: str, names: list[str]) -> None:
    """Until every partition of new topics has a leader (a busy broker takes a moment)."""
    with admin_client(bootstrap) as admin:
        for _ in range(300):
            described = admin.describe_topics(names)
            if all(p["leader_id"] >= 0 for t in described for p in t["partitions"]):
                return
            await asyncio.sleep(0.1)
    raise TimeoutError(f"no leader for some partitions of {names}")


async def put(agent: Any, spec: TopicSpec, value: Any, key: str, partition: int = 0) -> None:
    await agent.put(
        value=codec.encode(spec, value),
        key=key.encode(),
        partition=partition,
        headers=codec.headers_for(spec),
    )


async def post(agent: Any, key: str, message: Any, partition: int = 0) -> None:
    await agent.put(
        value=message.model_dump_json().encode(),
        key=json.dumps(key).encode(),
        partition=partition,
    )


async def until(condition: Callable[[], Any], timeout_s: float = 20) -> Any:
    async with asyncio.timeout(timeout_s):
        while not (found := condition()):
            await asyncio.sleep(0.05)
    return found


async def test_the_rules_agent_publishes_the_alert_and_its_dispatch_then_keeps_the_state(
    hub: Hub, kafka_bootstrap: str
) -> None:
    assert hub.alerting is not None
    camera = new_camera()
    hub.registry.apply(camera.camera_id, camera)
    polisi = await TopicWatch(kafka_bootstrap, dispatch_spec("polisi")).start()
    try:
        async with hub.alerting.rules_agent.test_context() as agent:
            await put(
                agent,
                DEVICE_EVENTS,
                device_event(camera.camera_id, EventKind.TAMPER),
                camera.camera_id,
                5,
            )
            values = await polisi.wait_for(
                lambda v: any(d.alert.camera_id == camera.camera_id for d in v)
            )
            # The state is written once every output of the batch is delivered, which can be
            # after the dispatch is readable: wait for it before the agent stops.
            key = f"{camera.camera_id}|t-tamper"
            stored = await until(lambda: hub.alerting.states.data.get(key))  # type: ignore[union-attr]
        dispatch = next(d for d in values if d.alert.camera_id == camera.camera_id)
        assert (dispatch.alert.rule_id, dispatch.alert.status) == ("t-tamper", AlertStatus.OPENED)
        assert stored["p"] == 5 and '"alert_id"' in stored["s"]
    finally:
        await polisi.stop()


async def test_the_tick_agent_resolves_the_alert_of_a_removed_rule_and_drops_its_state(
    hub: Hub, kafka_bootstrap: str
) -> None:
    from hub.alerting.agents import Tick

    assert hub.alerting is not None
    camera = new_camera()
    hub.registry.apply(camera.camera_id, camera)
    alerts = await TopicWatch(kafka_bootstrap, ALERTS).start()
    key = f"{camera.camera_id}|t-tamper"
    try:
        async with hub.alerting.rules_agent.test_context() as agent:
            await put(
                agent,
                DEVICE_EVENTS,
                device_event(camera.camera_id, EventKind.TAMPER),
                camera.camera_id,
                2,
            )
            await until(lambda: hub.alerting.states.data.get(key))  # type: ignore[union-attr]
        # The worker restarts with a file without the rule.
        text = (FIXTURES / "rules.yaml").read_text()
        hub.alerting.engine = RuleEngine(
            load_rules(re.sub(r"  - id: t-tamper\n(    .*\n)+", "", text))
        )
        async with hub.alerting.ticks_agent.test_context() as agent:
            await post(agent, key, Tick(key=key, at=datetime.now(UTC)), 2)
            values = await alerts.wait_for(
                lambda v: any(a.camera_id == camera.camera_id and a.status == "resolved" for a in v)
            )
            await until(lambda: key not in hub.alerting.states.data)  # type: ignore[union-attr]
        resolved = next(
            a for a in values if a.status == "resolved" and a.camera_id == camera.camera_id
        )
        assert (resolved.rule_id, resolved.sequence) == ("t-tamper", 1)
        assert resolved.summary == "resolved: the rule was removed"
    finally:
        await alerts.stop()


async def test_the_escalate_agent_takes_acknowledgements_only_from_agencies_the_alert_went_to(
    hub: Hub, kafka_bootstrap: str
) -> None:
    assert hub.dispatching is not None and hub.routing is not None
    escalations = hub.dispatching.escalations
    tamper = device_event(new_camera().camera_id, EventKind.TAMPER)
    from topics.examples import alert

    opened = alert(1).model_copy(
        update={"category": AlertCategory.TAMPER, "camera_id": tamper.camera_id}
    )
    to_polisi = make_dispatch(opened, hub.routing.route(opened)[0], datetime.now(UTC))
    dlq = await TopicWatch(kafka_bootstrap, DEAD_LETTERS).start()

    def ack(agency: str, offset: int) -> Acknowledged:
        source = RecordRef(topic=ack_spec(agency).name, partition=0, offset=offset)
        return Acknowledged(
            ack=AlertAck(alert_id=opened.alert_id, agency=agency, acked_at=datetime.now(UTC)),
            source=source,
        )

    try:
        async with hub.dispatching.escalate_agent.test_context() as agent:
            await post(agent, opened.alert_id, Routed(arm=[to_polisi]))
            await post(agent, opened.alert_id, ack("dishub", 41))
            letters = await dlq.wait_for(lambda v: any(opened.alert_id in d.payload for d in v))
            stored = escalations.data[opened.alert_id]
            assert stored["acknowledged_by"] is None and "polisi" in stored["waiting"]
            await post(agent, opened.alert_id, ack("polisi", 7))
            await until(lambda: escalations.data[opened.alert_id]["acknowledged_by"] == "polisi")
        letter = next(d for d in letters if opened.alert_id in d.payload)
        assert (letter.kind, letter.source_topic, letter.source_offset) == (
            "invalid_message",
            ack_spec("dishub").name,
            41,
        )
        assert escalations.data[opened.alert_id]["waiting"] == {}
    finally:
        await dlq.stop()


async def test_the_status_and_silence_agents_run_the_offline_rule(
    hub: Hub, kafka_bootstrap: str
) -> None:
    from hub.health.agents import SilenceCheck

    health = hub.health
    camera = new_camera()
    alerts = await TopicWatch(kafka_bootstrap, ALERTS).start()
    try:
        async with health.registry_agent.test_context() as agent:
            await put(agent, CAMERA_REGISTRY, camera, camera.camera_id, 3)
            await until(lambda: health.load(camera.camera_id))
        seen = datetime.now(UTC)
        status = CameraStatus(camera_id=camera.camera_id, state=CameraState.ONLINE, checked_at=seen)
        async with health.status_agent.test_context() as agent:
            await put(agent, CAMERA_STATUS, status, camera.camera_id, 3)
            await until(lambda: (health.load(camera.camera_id) or status).last_seen == seen)  # type: ignore[union-attr]
        async with health.silence_agent.test_context() as agent:
            # The timer asks a minute later (the rules' offline after_s is 60 here).
            check = SilenceCheck(camera_id=camera.camera_id, at=seen + timedelta(seconds=61))
            await post(agent, camera.camera_id, check, 3)
            values = await alerts.wait_for(
                lambda v: any(a.camera_id == camera.camera_id for a in v)
            )
        opened = next(a for a in values if a.camera_id == camera.camera_id)
        assert (opened.rule_id, opened.category, opened.opened_at) == (
            "t-offline",
            "camera_offline",
            seen + timedelta(seconds=60),
        )
    finally:
        await alerts.stop()


async def test_the_webhook_agent_records_a_delivery_and_acknowledges_only_on_an_ack_answer(
    hub: Hub, receiver: ReceiverThread, kafka_bootstrap: str
) -> None:
    assert hub.delivery is not None and hub.routing is not None
    [bpbd] = hub.delivery.agencies
    from topics.examples import alert

    flood = [alert(n).model_copy(update={"category": AlertCategory.FLOOD}) for n in (1, 2)]
    dispatches = [make_dispatch(a, hub.routing.route(a)[0], datetime.now(UTC)) for a in flood]
    audit = await TopicWatch(kafka_bootstrap, AUDIT).start()
    acks = await TopicWatch(kafka_bootstrap, ack_spec("bpbd")).start()
    try:
        async with bpbd.agent.test_context() as agent:
            for dispatch, answer_ack in zip(dispatches, (False, True), strict=True):
                receiver.state.acknowledge = answer_ack
                await put(agent, dispatch_spec("bpbd"), dispatch, dispatch.alert.camera_id)
                await audit.wait_for(
                    lambda v, d=dispatch: any(
                        r.action == "dispatch_delivered" and r.subject == d.alert.alert_id
                        for r in v
                    )
                )
            await acks.wait_for(lambda v: any(a.alert_id == flood[1].alert_id for a in v))
        assert [d.dispatch_id for d in receiver.state.accepted] == [
            d.dispatch_id for d in dispatches
        ]
        assert [a.alert_id for a in acks.values()] == [flood[1].alert_id]
    finally:
        await audit.stop()
        await acks.stop()


def test_every_topic_an_agent_reads_is_covered_by_the_loss_guard(hub: Hub) -> None:
    read = {name for agent in hub.app.agents.values() for name in agent.channel.topics}
    assert dispatch_spec("bpbd").name in read and CAMERA_REGISTRY.name in read
    assert read == set(hub.gaps.covered)


async def flood_dispatches(hub: Hub, kafka_bootstrap: str, count: int) -> tuple[list[Any], Any]:
    """``count`` webhook dispatches on one partition of bpbd's dispatch topic, and their metadata."""
    from topics.examples import alert

    assert hub.routing is not None
    flood = [alert(n).model_copy(update={"category": AlertCategory.FLOOD}) for n in range(count)]
    dispatches = [make_dispatch(a, hub.routing.route(a)[0], datetime.now(UTC)) for a in flood]
    key = f"one-partition-{uuid.uuid4().hex[:8]}"
    async with CatalogProducer(kafka_bootstrap) as producer:
        sent = [await producer.send(dispatch_spec("bpbd"), d, key=key) for d in dispatches]
    return dispatches, sent


async def test_the_webhook_agent_posts_dispatches_the_stream_skipped_or_left_waiting(
    hub: Hub, receiver: ReceiverThread, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert hub.delivery is not None
    [bpbd] = hub.delivery.agencies
    dispatches, sent = await flood_dispatches(hub, kafka_bootstrap, 3)
    tp = TopicPartition(dispatch_spec("bpbd").name, sent[0].partition)
    hub.gaps._expected[tp] = sent[0].offset  # where the group stands
    posted = lambda: [d.dispatch_id for d in receiver.state.accepted]  # noqa: E731
    async with bpbd.agent.test_context() as agent:
        # Faust skips the first dispatch and delivers the second.
        agent.sent_offset = sent[1].offset
        await put(agent, dispatch_spec("bpbd"), dispatches[1], "k", tp.partition)
        await until(lambda: len(posted()) == 2)
    # The third waits on a partition that delivers nothing more.
    monkeypatch.setattr(hub.gaps, "assigned", lambda topics: [tp])
    hub.gaps._last_seen[tp] = 0.0
    await hub.gaps.recover_stalled()
    await hub.gaps.recovering()
    assert posted() == [d.dispatch_id for d in dispatches]


async def test_holes_a_direct_read_has_seen_cost_no_further_read(
    hub: Hub, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compacted topic's offsets have holes; each hole must not cost a fetch of its own."""
    from hub.gaps import FetchedEvent, FetchedMessage

    _, sent = await flood_dispatches(hub, kafka_bootstrap, 6)
    topic, partition, first = dispatch_spec("bpbd").name, sent[0].partition, sent[0].offset
    hub.gaps._expected[TopicPartition(topic, partition)] = first

    def seen(offset: int) -> FetchedEvent:
        return FetchedEvent(FetchedMessage(topic, partition, offset, None, None))

    assert [e.message.offset for e in await hub.gaps.missed(seen(first + 2))] == [first, first + 1]

    async def no_reads() -> None:
        raise AssertionError("read again")

    monkeypatch.setattr(hub.gaps, "_reader_started", no_reads)
    assert [e.message.offset for e in await hub.gaps.missed(seen(first + 5))] == [
        first + 3,
        first + 4,
    ]


async def each(*items: Any) -> AsyncIterator[Any]:
    for item in items:
        yield item


async def test_records_the_stall_timer_handed_over_are_not_handled_again_when_faust_delivers_them(
    hub: Hub,
) -> None:
    """Behind a backlog a partition looks stalled: its waiting records are read directly and
    handled; when Faust's stream reaches them, they are dropped instead of judged twice."""
    from hub.gaps import FetchedEvent, FetchedMessage

    topic, partition = dispatch_spec("bpbd").name, 0
    # The stall timer read offsets 0-9 directly and handed them to the agent.
    hub.gaps._expected[TopicPartition(topic, partition)] = 10

    def seen(offset: int) -> FetchedEvent:
        return FetchedEvent(FetchedMessage(topic, partition, offset, None, None))

    batches = hub.gaps.batches(each([seen(7), seen(8)], [seen(9), seen(10)]))
    assert [[event.message.offset for event in batch] async for batch in batches] == [[10]]
    events = hub.gaps.events(each(seen(9), seen(11)))
    assert [event.message.offset async for event in events] == [11]


async def test_what_faust_passed_over_is_committed_past_once_the_next_event_is_acknowledged(
    hub: Hub, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Faust's consumer never acknowledges a record its stream passed over, and two of them at a
    partition's head stop its commits (``hub.faust_workarounds``, defect 4). The guard hands the
    records over and gives their offsets to the consumer as a gap: the commit moves past them
    once the event after them is acknowledged, whether the guard reads them back now or the
    stall timer did before."""
    from faust.types import TP

    from hub.gaps import FetchedEvent, FetchedMessage

    _, sent = await flood_dispatches(hub, kafka_bootstrap, 8)
    # The group has committed the first two records (Faust checks the head of a partition only
    # past offset 0).
    topic, partition, first = dispatch_spec("bpbd").name, sent[2].partition, sent[2].offset
    tp, faust_tp = TopicPartition(topic, partition), TP(topic, partition)
    consumer: Any = hub.app.consumer
    monkeypatch.setattr(hub.app.topics, "acks_enabled_for", lambda topic: True)  # as subscribed
    consumer._committed_offset[faust_tp] = first  # where Faust's stream starts

    async def committed(tp: TopicPartition) -> int:
        return first  # the group's committed offset

    monkeypatch.setattr(hub.gaps, "_committed", committed)

    def delivered(offset: int) -> list[int]:
        """Faust delivers ``offset`` and, once it is handled, acknowledges it."""
        consumer._acked[faust_tp].append(offset)
        consumer._acked_index[faust_tp].add(offset)
        return [e.message.offset for e in handed]

    # Faust passes over the partition's first two records: read back, then committed past.
    handed = await hub.gaps.admit(
        FetchedEvent(FetchedMessage(topic, partition, first + 2, None, None))
    )
    assert delivered(first + 2) == [first, first + 1, first + 2]
    assert consumer._new_offset(faust_tp) == first + 3
    recovered = hub.edges.metrics.registry.get_sample_value(
        "tilik_hub_input_recovered_total", {"topic": topic, "why": "skipped"}
    )
    assert recovered == 2

    # The stall timer handed over the next two; Faust's stream then passes over them too.
    hub.gaps._expected[tp] = first + 5
    handed = await hub.gaps.admit(
        FetchedEvent(FetchedMessage(topic, partition, first + 5, None, None))
    )
    assert delivered(first + 5) == [first + 5]
    consumer._committed_offset[faust_tp] = first + 3
    assert consumer._new_offset(faust_tp) == first + 6


def reader_ending_at(
    tp: TopicPartition, end: int, looked: list[list[TopicPartition]] | None = None
) -> Callable[[], Awaitable[Any]]:
    """A stand-in for the guard's direct reader whose partition ``tp`` ends at ``end``; each
    lookup of end offsets is noted in ``looked``."""

    class Reader:
        async def end_offsets(self, partitions: list[TopicPartition]) -> dict[Any, int]:
            if looked is not None:
                looked.append(partitions)
            return {tp: end}

    async def reader() -> Reader:
        return Reader()

    return reader


async def test_records_a_direct_read_did_not_reach_are_still_handled_when_faust_delivers_them(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stalled partition's direct read can come back short (a fetch that timed out); what it
    did not hand over must not count as handled."""
    from hub.gaps import FetchedEvent, FetchedMessage

    tp = TopicPartition(dispatch_spec("bpbd").name, 0)
    hub.gaps._expected[tp] = 10
    hub.gaps._last_seen[tp] = 0.0

    reader = reader_ending_at(tp, 15)

    async def nothing_read(tp: TopicPartition, start: int, end: int) -> list[Any]:
        return []

    monkeypatch.setattr(hub.gaps, "_reader_started", reader)
    monkeypatch.setattr(hub.gaps, "_fetch", nothing_read)
    assert await hub.gaps.stalled([tp], 1.0) == []
    late = FetchedEvent(FetchedMessage(tp.topic, tp.partition, 10, None, None))
    assert await hub.gaps.admit(late) == [late]


async def test_an_agent_busy_with_a_record_is_not_stalled_however_long_it_takes(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A webhook agent retrying a delivery to a receiver that is down holds its input back: that
    is no stall, and the timer must not post the records behind it meanwhile. Only the time an
    agent waits for input counts towards a stall."""
    from hub.gaps import FetchedEvent, FetchedMessage

    tp = TopicPartition(dispatch_spec("bpbd").name, 0)
    agent = hub.gaps.covered[tp.topic]
    hub.gaps._expected[tp] = hub.gaps._faust_next[tp] = 10

    async def no_reads() -> None:
        raise AssertionError("read while the agent was busy")

    monkeypatch.setattr(hub.gaps, "_reader_started", no_reads)
    events = hub.gaps.events(each(FetchedEvent(FetchedMessage(tp.topic, 0, 10, None, None))))
    assert (await anext(events)).message.offset == 10  # the agent posts it, and posts again...
    hub.gaps._last_seen[tp] -= 60.0  # ...for a minute
    hub.gaps._busy_since[agent] -= 60.0
    assert await hub.gaps.stalled([tp], 10.0) == []
    with pytest.raises(StopAsyncIteration):
        await anext(events)  # done: the agent waits for input again
    assert await hub.gaps.stalled([tp], 10.0) == []  # the busy minute does not count

    looked: list[list[TopicPartition]] = []
    monkeypatch.setattr(hub.gaps, "_reader_started", reader_ending_at(tp, 10, looked))
    hub.gaps._last_seen[tp] -= 11.0  # ten seconds of waiting for input: now it is read
    assert await hub.gaps.stalled([tp], 10.0) == []
    assert looked == [[tp]]


async def test_the_stall_timer_hands_each_agent_its_records_in_a_task_ahead_of_its_next_record(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One agent slow to handle what the timer read (its webhook receiver down) must hold up
    neither the timer nor the other agents; its own next record waits behind those."""
    from hub.gaps import FetchedEvent, FetchedMessage

    def seen(topic: str, offset: int) -> FetchedEvent:
        return FetchedEvent(FetchedMessage(topic, 0, offset, None, None))

    release = asyncio.Event()
    handled: list[tuple[str, int]] = []

    async def slow(event: Any) -> None:
        await release.wait()
        handled.append((event.message.topic, event.message.offset))

    async def quick(event: Any) -> None:
        handled.append((event.message.topic, event.message.offset))

    async def stalled(partitions: list[TopicPartition], idle_s: float) -> list[FetchedEvent]:
        return [seen("slow", 0), seen("quick", 0), seen("slow", 1)]

    monkeypatch.setattr(hub.gaps, "covered", {"slow": slow, "quick": quick})
    monkeypatch.setattr(hub.gaps, "assigned", lambda topics: [])
    monkeypatch.setattr(hub.gaps, "stalled", stalled)
    await hub.gaps.recover_stalled()  # returns while "slow" is still handling its records
    await until(lambda: handled == [("quick", 0)])

    tp = TopicPartition("slow", 0)
    hub.gaps._expected[tp] = hub.gaps._faust_next[tp] = 2
    following = asyncio.ensure_future(anext(hub.gaps.events(each(seen("slow", 2)))))
    await asyncio.sleep(0.1)
    assert not following.done()
    release.set()
    assert (await following).message.offset == 2
    assert handled == [("quick", 0), ("slow", 0), ("slow", 1)]


async def test_a_partition_assigned_while_the_worker_runs_is_left_to_faust_before_it_looks_stalled(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A partition's idle clock starts when the guard first finds it assigned, not when the
    worker started: read at once, a new tenant's event would overtake its camera, which Faust
    delivers through another agent, and be refused for a camera not yet in the registry."""
    tp = TopicPartition(dispatch_spec("bpbd").name, 1)
    hub.gaps.forget([tp])  # as after a rebalance that hands the partition to this worker

    async def no_reads() -> None:
        raise AssertionError("read before Faust had its chance")

    monkeypatch.setattr(hub.gaps, "_reader_started", no_reads)
    assert await hub.gaps.stalled([tp], 10.0) == []  # first sighting: the clock starts
    assert await hub.gaps.stalled([tp], 10.0) == []

    looked: list[list[TopicPartition]] = []
    monkeypatch.setattr(hub.gaps, "_reader_started", reader_ending_at(tp, 0, looked))
    hub.gaps._expected[tp] = 0
    hub.gaps._last_seen[tp] -= 11.0  # ten seconds on, still nothing delivered: now it is read
    assert await hub.gaps.stalled([tp], 10.0) == []
    assert looked == [[tp]]

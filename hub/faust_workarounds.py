"""Every workaround the hub needs for a defect of faust-streaming, in one place.

Each defect has a test in ``tests/test_faust_workarounds.py`` that checks the defect itself and
fails once Faust fixes it: then the workaround goes, and the version pin of faust-streaming in
``pyproject.toml`` moves. The defects, in the order a worker meets them (faust-streaming 0.15.3):

1. **Faust fetches one record at a time under a steady stream** (``batch_fetches``). Its
   consumer thread builds the aiokafka consumer with ``fetch_min_bytes=1`` and has no setting for
   it, so every fetch returns a handful of records and the next one goes out at once; those
   fetches kept the consumer thread busy and, through the GIL, slowed the agents.
2. **Internal topics Faust creates while subscribing can miss the subscription**
   (``create_internal_topics``): such a topic is then never consumed. The worker creates every
   internal topic (inboxes, table changelogs) before Faust starts. This is a race at start-up
   that no test reproduces on demand; it is the one workaround without a defect test.
3. **A table can only be written in its current event's partition** (``write_table``). Faust
   takes the changelog partition from the stream's current event, and refuses a write without
   one. Agents that judge a batch of events keep the batch's writes until its outputs are
   delivered (``hub.batching``), when the current event is the batch's last one: each write goes
   to its own partition's changelog here.
4. **Faust can drop a message it fetched while the flow was suspended** (a rebalance, table
   recovery at start): ``Consumer._drain_messages`` races the delivery of each message against
   ``suspend_flow`` and marks the message read whichever wins. Such a message is never
   acknowledged: Faust's commit logic passes over one at a partition's head, but two or more
   stop the partition's commits for as long as the worker holds it. The loss guard ``hub.gaps``
   notices the messages by offset, reads them back directly, and gives their offsets to the
   consumer as a gap, which it commits past once the next message is acknowledged.
5. **The worker keeps its terminal spinner when logging is not its own** (``quiet_worker``):
   Faust drops it only when it configures logging itself; the hub keeps the project's logging.
6. **Faust hands each fetched message over in tasks of its own** (``deliver_in_place``):
   ``Consumer._drain_messages`` wraps every delivery in ``Service.wait_first``, four tasks and an
   ``asyncio.wait`` per message, about 70 us of CPU. ``hub.delivery_in_place`` runs a delivery in
   the drain's own task as far as it goes without waiting, and races only what waits against a
   suspension, as Faust does.

The aiokafka defect Faust's consumer also meets (a header name that is not UTF-8) is worked
around for every client of the process in ``topics.kafka_workarounds``; ``install`` makes sure
it is in place before Faust builds its consumer.
"""

from __future__ import annotations

import contextlib
from typing import Any

import faust
from faust.types import TableT

from hub.config import HubConfig
from topics import kafka_workarounds
from topics.admin import admin_client


def install(config: HubConfig) -> None:
    """The process-wide workarounds, before Faust builds its consumer (idempotent)."""
    kafka_workarounds.install()
    batch_fetches(config.fetch_min_bytes, config.fetch_max_wait_ms)
    deliver_in_place()


def batch_fetches(min_bytes: int, max_wait_ms: int) -> None:
    """Let the broker gather records for up to ``max_wait_ms`` before answering a fetch (1).

    Batching raised the typical-mix throughput about 2.5 times (docs/hub.md, "Performance"). The
    consumer is configured before it starts, through the attributes its fetcher is built from
    (aiokafka 0.14). Applied once per process.
    """
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    create = AIOKafkaConsumerThread._create_worker_consumer
    if getattr(create, "tilik_batched", False):
        return

    def create_batched(self: Any, transport: Any) -> Any:
        consumer = create(self, transport)
        consumer._fetch_min_bytes = min_bytes
        consumer._fetch_max_wait_ms = max_wait_ms
        return consumer

    create_batched.tilik_batched = True  # type: ignore[attr-defined]
    create_batched.library = create  # type: ignore[attr-defined]
    AIOKafkaConsumerThread._create_worker_consumer = create_batched  # type: ignore[method-assign]


def deliver_in_place() -> None:
    """Deliver fetched messages without a task per message (6); applied once per process."""
    from faust.transport.consumer import Consumer

    from hub.delivery_in_place import drain_in_place

    library = Consumer._drain_messages
    if getattr(library, "tilik_in_place", False):
        return

    async def drain(self: Any, fetcher: Any) -> None:
        await drain_in_place(self, fetcher)

    drain.tilik_in_place = True  # type: ignore[attr-defined]
    drain.library = library  # type: ignore[attr-defined]
    Consumer._drain_messages = drain  # type: ignore[method-assign]


def create_internal_topics(
    config: HubConfig, topics: dict[str, tuple[int, dict[str, str]]]
) -> None:
    """Create the hub's internal topics (name: partitions, configs) Faust would create late (2)."""
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    with admin_client(config.bootstrap) as client:
        existing = set(client.list_topics())
        missing = [
            NewTopic(name, partitions, config.replication_factor, topic_configs=configs)
            for name, (partitions, configs) in topics.items()
            if name not in existing
        ]
        if missing:
            # Another worker of the group may have created them first.
            with contextlib.suppress(TopicAlreadyExistsError):
                client.create_topics(missing)


def write_table(table: TableT, partition: int, key: Any, value: Any) -> None:
    """Write (``value`` ``None``: delete) one key of ``table`` in ``partition`` (3): its
    changelog first, then the local store, as Faust's own write does."""
    if value is None:
        if key in table.data:
            table.send_changelog(partition, key, None, value_serializer="raw")
            del table.data[key]
        return
    table.send_changelog(partition, key, value)
    table.data[key] = value


def quiet_worker(app: faust.App, loglevel: str) -> faust.Worker:
    """A Faust worker that leaves the process's logging alone and draws no spinner (5)."""
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, override_logging=False)
    worker.spinner = None
    return worker

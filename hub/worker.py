"""Running a hub worker: check that the catalog topics exist, then start the Faust worker."""

from __future__ import annotations

import contextlib
import gc
import sys
from typing import Any

import faust
import structlog

from core.logconfig import configure_logging
from hub.app import Hub, create_hub
from hub.config import HubConfig
from topics.access.roles import Operation, Resource, hub_role
from topics.admin import admin_client, require_topics
from topics.catalog import CAMERA_REGISTRY, TopicSpec, all_topics, tenants_with_topics
from topics.connection import connection_config
from topics.models import Agency

log = structlog.get_logger(__name__)

GIL_SWITCH_INTERVAL_S = 0.0005
# Collections of the youngest generation run after this many new container objects (default 700).
GC_GEN0_THRESHOLD = 20_000


def batch_fetches(min_bytes: int, max_wait_ms: int) -> None:
    """Let the broker gather records for a few milliseconds before answering a fetch.

    Faust's consumer fetches with ``fetch_min_bytes=1`` (and no way to set it), so under a steady
    stream every fetch returns a handful of records and the next one goes out at once. Those
    fetches (each naming every assigned partition) kept Faust's consumer thread busy and, through
    the GIL, slowed the agents; batching them raised the typical-mix throughput about 2.5 times
    (docs/hub.md, "Performance") for at most ``max_wait_ms`` more latency. The consumer is
    configured before it starts, through the attributes its fetcher is built from
    (aiokafka 0.14).
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
    AIOKafkaConsumerThread._create_worker_consumer = create_batched  # type: ignore[method-assign]


def tune_gc() -> None:
    """Keep the cyclic garbage collector from pausing the worker for 100 ms at a time.

    A full collection walks every tracked object: the libraries' and the tables' alike, which
    took 80 to 140 ms, several times a minute under load, and showed up directly in the p99
    latency. What exists once the worker is set up lives as long as the process, so it is moved
    out of the collector's sight (``gc.freeze``; reference counting still frees it), and young
    collections, which promote to the older generations, run less often.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 20, 20)


def agencies_of(config: HubConfig) -> list[str]:
    """Agencies the routes name (their dispatch topics must exist), besides the catalog's defaults."""
    if config.routes_path is None:
        return []
    from hub.routing import load_routes

    return sorted(load_routes(config.routes_path).agencies)


def internal_topics(hub: Hub) -> dict[str, tuple[int, dict[str, str]]]:
    """Every hub-private topic with its partitions and configs: inboxes and table changelogs."""
    topics: dict[str, tuple[int, dict[str, str]]] = {
        name: (partitions, {}) for name, partitions in hub.edges.internal_topics.items()
    }
    for table in hub.app.tables.values():
        partitions = table.partitions or hub.app.conf.topic_partitions
        topics[table.changelog_topic.get_topic_name()] = (partitions, {"cleanup.policy": "compact"})
    return topics


def consumed_topics(hub: Hub) -> set[str]:
    """The topics the worker's agents read (its group may commit offsets on these alone)."""
    return {name for agent in hub.app.agents.values() for name in agent.channel.topics}


def hub_topics(agencies: list[str]) -> list[TopicSpec]:
    """The catalog topics the hub uses: those its role grants it (onboarding's are not its own)."""
    role = hub_role()
    return [
        spec
        for spec in all_topics(agencies)
        if role.allows(Resource.TOPIC, spec.name, Operation.DESCRIBE)
    ]


def readable_tenants(config: HubConfig) -> list[str]:
    """The tenants whose ingest topics exist and the hub may read: the broker lists only topics
    a principal may describe, and the hub's grants name each tenant's topics."""
    with admin_client(config.bootstrap) as client:
        tenants = tenants_with_topics(client.list_topics())
    log.info("tenants ingested", tenants=tenants)
    return tenants


def ensure_internal_topics(
    config: HubConfig, topics: dict[str, tuple[int, dict[str, str]]]
) -> None:
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


def start_new_group_at_end(config: HubConfig, topic_names: list[str]) -> int:
    """For a group that never committed anything, commit every partition's end: start from now.

    Committed (not left to ``auto_offset_reset``) so that a worker crashing before its own first
    commit resumes from this point instead of skipping what arrived meanwhile.
    """
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    consumer = KafkaConsumer(
        **connection_config(config.bootstrap),
        group_id=config.app_id,
        enable_auto_commit=False,
        client_id="tilik-hub-start",
    )
    try:
        partitions = [
            TopicPartition(name, p)
            for name in topic_names
            for p in sorted(consumer.partitions_for_topic(name) or ())
        ]
        committed = {tp: consumer.committed(tp) for tp in partitions}
        if any(offset is not None for offset in committed.values()):
            # Not a new group: a restart resumes where the group stopped, nothing is skipped.
            return 0
        ends = consumer.end_offsets(partitions)
        consumer.commit({tp: OffsetAndMetadata(ends[tp], "", -1) for tp in partitions})
        return len(partitions)
    finally:
        consumer.close()


def run_worker(config: HubConfig, agencies: list[str], *, loglevel: str = "info") -> None:
    """Blocks until the worker is stopped (SIGTERM/SIGINT)."""
    known = sorted({*(a.value for a in Agency), *agencies})
    # Faust never creates non-internal topics, and neither does a worker: the operator applies
    # the catalog (its principal may, the hub's may not). The hub needs the topics its role
    # reads or writes; others (onboarding's, say) are not its business and may not be visible.
    require_topics(hub_topics(known), bootstrap=config.bootstrap)
    if not config.tenants:
        config = config.model_copy(update={"tenants": tuple(readable_tenants(config))})
    # Faust makes the data dir itself, but not its parents (a fresh state dir has none).
    config.data_dir.parent.mkdir(parents=True, exist_ok=True)
    hub = create_hub(config)
    # Created here rather than by Faust: a topic Faust creates while subscribing can miss the
    # subscription's metadata and then is never consumed.
    ensure_internal_topics(config, internal_topics(hub))
    if config.start_from_latest:
        # The registry is state, not history: it is always read whole.
        catalog = {spec.name for spec in hub_topics(known)} - {CAMERA_REGISTRY.name}
        start_new_group_at_end(config, sorted(catalog & consumed_topics(hub)))
    # Faust's Kafka consumer runs on its own thread and hands every fetch to the event loop's
    # thread: with the default 5 ms GIL switch interval each handoff can wait that long while
    # the agents are busy, which showed up as tens of milliseconds per hop at moderate load.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    tune_gc()
    batch_fetches(config.fetch_min_bytes, config.fetch_max_wait_ms)
    # Faust would replace the process's logging with its own handler: keep the project's (JSON
    # lines, secrets redacted, repeated failures limited), at the worker's level.
    configure_logging(level=loglevel, force=True)
    worker = faust.Worker(hub.app, loglevel=loglevel, quiet=True, override_logging=False)
    worker.spinner = None  # Faust drops its terminal spinner only when it sets logging up itself
    worker.execute_from_commandline()

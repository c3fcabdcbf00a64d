"""Running a hub worker: check that the catalog topics exist, then start the Faust worker."""

from __future__ import annotations

import sys

import structlog

from core.collector import tune_gc
from core.logconfig import configure_logging
from hub import faust_workarounds
from hub.app import Hub, create_hub
from hub.config import HubConfig
from hub.ingest.discovery import readable_tenants
from topics.access.roles import Operation, Resource, hub_role
from topics.admin import require_topics
from topics.catalog import CAMERA_REGISTRY, TopicSpec, all_topics
from topics.connection import connection_config
from topics.models import Agency

log = structlog.get_logger(__name__)

GIL_SWITCH_INTERVAL_S = 0.0005


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
        tenants = readable_tenants(config.bootstrap)
        log.info("tenants ingested", tenants=tenants)
        config = config.model_copy(update={"tenants": tuple(tenants)})
    # Faust makes the data dir itself, but not its parents (a fresh state dir has none).
    config.data_dir.parent.mkdir(parents=True, exist_ok=True)
    hub = create_hub(config)
    faust_workarounds.create_internal_topics(config, internal_topics(hub))
    if config.start_from_latest:
        # The registry is state, not history: it is always read whole.
        catalog = {spec.name for spec in hub_topics(known)} - {CAMERA_REGISTRY.name}
        start_new_group_at_end(config, sorted(catalog & consumed_topics(hub)))
    # Faust's Kafka consumer runs on its own thread and hands every fetch to the event loop's
    # thread: with the default 5 ms GIL switch interval each handoff can wait that long while
    # the agents are busy, which showed up as tens of milliseconds per hop at moderate load.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    tune_gc()
    faust_workarounds.install(config)
    # Faust would replace the process's logging with its own handler: keep the project's (JSON
    # lines, secrets redacted, repeated failures limited), at the worker's level.
    configure_logging(level=loglevel, force=True)
    faust_workarounds.quiet_worker(hub.app, loglevel).execute_from_commandline()

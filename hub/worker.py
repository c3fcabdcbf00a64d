"""Running a hub worker: make sure the catalog topics exist, then start the Faust worker."""

from __future__ import annotations

import contextlib

import faust

from hub.app import create_hub
from hub.config import HubConfig
from topics.admin import admin_client, apply_catalog
from topics.catalog import all_topics
from topics.models import Agency


def agencies_of(config: HubConfig) -> list[str]:
    """Agencies the routes name (their dispatch topics must exist), besides the catalog's defaults."""
    if config.routes_path is None:
        return []
    from hub.routing import load_routes

    return sorted(load_routes(config.routes_path).agencies)


def ensure_internal_topics(config: HubConfig, topics: dict[str, int]) -> None:
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    with admin_client(config.bootstrap) as client:
        existing = set(client.list_topics())
        missing = [
            NewTopic(name, partitions, config.replication_factor)
            for name, partitions in topics.items()
            if name not in existing
        ]
        if missing:
            # Another worker of the group may have created them first.
            with contextlib.suppress(TopicAlreadyExistsError):
                client.create_topics(missing)


def run_worker(config: HubConfig, agencies: list[str], *, loglevel: str = "info") -> None:
    """Blocks until the worker is stopped (SIGTERM/SIGINT)."""
    known = sorted({*(a.value for a in Agency), *agencies})
    # Faust never creates non-internal topics; the catalog's declarations do, with its partitions.
    apply_catalog(all_topics(known), bootstrap=config.bootstrap)
    hub = create_hub(config)
    # Created here rather than by Faust: a topic Faust creates while subscribing can miss the
    # subscription's metadata and then is never consumed.
    ensure_internal_topics(config, hub.internal_topics)
    worker = faust.Worker(hub.app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()

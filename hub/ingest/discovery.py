"""Which tenants a worker ingests, and taking in a tenant added while the worker runs.

A tenant's ingest topics are created by ``tilik access tenant add``, with the hub's grant to read
them. A worker lists the topics it may describe (the broker shows a principal only those) when it
starts, and again every ``HubConfig.tenant_check_every_s``; a tenant found later has its topics
added to the running ingest agents' channels.

Faust-streaming cannot subscribe to a topic pattern (``Topic(pattern=...)`` is accepted but its
Kafka driver subscribes to names only), but its conductor re-subscribes the consumer when the set
of channels changes: a changed channel is taken out of the conductor and put back, which marks
the subscription changed; the conductor waits ``RESUBSCRIBE_WAIT_S`` (Faust's own lock, so that
many changes make one rebalance), subscribes to the new set and the group rebalances. The new
topics' partitions have no committed offset and are read from the start (the hub's consumers
start at ``earliest``), so nothing a site sent before is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import faust
import structlog
from faust.transport.conductor import Conductor

from hub.edge import GrowingTopic
from topics.admin import admin_client
from topics.catalog import tenants_with_topics

log = structlog.get_logger(__name__)

#: how long Faust's conductor waits after a change before it subscribes anew
RESUBSCRIBE_WAIT_S = Conductor._resubscribe_sleep_lock_seconds


def readable_tenants(bootstrap: str | None) -> list[str]:
    """The tenants whose ingest topics exist and the hub may read: the broker lists only topics
    a principal may describe, and the hub's grants name each tenant's topics."""
    with admin_client(bootstrap) as client:
        return tenants_with_topics(client.list_topics())


def widen(app: faust.App, channel: GrowingTopic, names: Iterable[str]) -> list[str]:
    """Add topic names to an agent's channel while the worker runs; the names added.

    The agent reads a clone of its channel, registered with the conductor, with the same list of
    names (``GrowingTopic``): the names are added to that list, and the clones are registered
    anew so the conductor subscribes to them.
    """
    added = sorted(set(names) - set(channel.topics))
    if not added:
        return []
    running = [
        registered
        for registered in list(app.topics)
        if registered is not channel and registered.topics is channel.topics
    ]
    channel.grow(added)
    for registered in running:
        app.topics.discard(registered)
        app.topics.add(registered)
    # The agent manager's topic -> agent index (its rebalance callbacks go by it).
    cast(Any, app.agents).update_topic_index()
    log.debug("channel widened", added=added, running=len(running))
    return added

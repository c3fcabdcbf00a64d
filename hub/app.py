"""The hub's Faust app: one worker process runs health, rules, routing and delivery agents.

Several workers with the same ``app_id`` form one consumer group and split the partitions. Tables
live in memory and are rebuilt from their changelog topics when a worker (re)starts.
"""

from __future__ import annotations

from typing import Any, cast

import faust
from faust.types.auth import CredentialsT

from core.settings import get_settings
from hub.alerting import agents as alerting_agents
from hub.config import HubConfig
from hub.context import Hub
from hub.delivery import agents as delivery_agents
from hub.dispatching import agents as dispatching_agents
from hub.dispatching.outlet import AlertOutlet
from hub.edge import CatalogTopics
from hub.gaps import GapGuard
from hub.health import agents as health_agents
from hub.registry_view import RegistryView
from hub.rules import RuleEngine
from topics import kafka_workarounds
from topics.connection import connection_config


def broker_credentials(options: dict[str, Any]) -> CredentialsT | None:
    """Faust's form of the principal every Tilik client connects as (``topics.connection``)."""
    protocol = options.get("security_protocol", "PLAINTEXT")
    if protocol.startswith("SASL_"):
        return faust.SASLCredentials(
            username=options["sasl_plain_username"],
            password=options["sasl_plain_password"],
            mechanism=options["sasl_mechanism"],
            # With a context Faust uses SASL_SSL, without one SASL_PLAINTEXT.
            ssl_context=options.get("ssl_context") if protocol == "SASL_SSL" else None,
        )
    if protocol == "SSL":
        return faust.SSLCredentials(options["ssl_context"])
    return None


def create_hub(config: HubConfig) -> Hub:
    # Faust builds its consumer itself, not through topics.connection: its fetches need the
    # workarounds of the Kafka client too (a header name that is not UTF-8 must not kill it).
    kafka_workarounds.install()
    app = faust.App(
        config.app_id,
        broker=config.broker_urls(),
        broker_credentials=broker_credentials(connection_config(config.bootstrap)),
        store="memory://",
        autodiscover=False,
        web_enabled=True,
        web_host=config.web_host,
        web_port=config.web_port,
        web_bind=config.web_host,
        datadir=str(config.data_dir),
        processing_guarantee="at_least_once",
        # Timers scan the local table; a standby copy would make two workers act on one key.
        table_standby_replicas=0,
        topic_replication_factor=config.replication_factor,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=config.commit_every_s,
        producer_acks=-1,
        # Lets one produce request carry many agents' outputs; agents rarely wait on a send.
        producer_linger=config.producer_linger_ms / 1000,
        # A crashed worker's partitions move to the survivors within this time.
        broker_session_timeout=config.session_timeout_s,
        broker_heartbeat_interval=config.session_timeout_s / 4,
    )
    hub = Hub(
        config=config,
        app=app,
        catalog=CatalogTopics(app),
        registry=RegistryView(config.bootstrap, settings=get_settings()),
        gaps=GapGuard(config.bootstrap, config.app_id),
    )

    async def forget_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        hub.gaps.forget(revoked)

    app.on_partitions_revoked.connect(cast(Any, forget_revoked))

    @app.task
    async def load_registry() -> None:
        await hub.registry.start()

    engine = RuleEngine(config.ruleset())
    # Alerts are routed where they are raised: without routes they are only published.
    outlet = AlertOutlet(hub.catalog)
    if config.routes_path is not None and not config.health_only:
        outlet = dispatching_agents.install(hub)
        delivery_agents.install(hub)
    health_agents.install(hub, outlet, engine)
    if config.rules_path is not None and not config.health_only:
        alerting_agents.install(hub, outlet, engine)
    return hub

"""The hub's Faust app: one worker process runs health, rules, routing, delivery and ingest agents.

Several workers with the same ``app_id`` form one consumer group and split the partitions. Tables
live in memory and are rebuilt from their changelog topics when a worker (re)starts. Each domain
(``hub.health``, ``hub.alerting``, ``hub.dispatching``, ``hub.delivery``, ``hub.ingest``) declares its topics,
tables, agents and timers on the app; this module builds them for one worker's configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import faust
from faust.types.auth import CredentialsT

from core.settings import get_settings
from hub import faust_workarounds
from hub.alerting.agents import Alerting
from hub.config import HubConfig
from hub.delivery.agents import Delivery
from hub.dispatching.agents import Dispatching
from hub.dispatching.outlet import AlertOutlet
from hub.edge import Edges
from hub.gaps import GapGuard
from hub.health.agents import Health
from hub.ingest.agents import Ingest
from hub.ingest.choices import ChoicesView
from hub.ingest.discovery import readable_tenants
from hub.metrics import metrics_page
from hub.registry_view import RegistryView
from hub.routing import RoutingTable, load_routes
from hub.rules import RuleEngine
from topics.connection import connection_config


@dataclass
class Hub:
    """One worker's app and its domains (``None``: not run by this worker's configuration)."""

    config: HubConfig
    app: faust.App
    edges: Edges
    registry: RegistryView
    gaps: GapGuard
    engine: RuleEngine
    routing: RoutingTable | None
    health: Health
    alerting: Alerting | None
    dispatching: Dispatching | None
    delivery: Delivery | None
    ingest: Ingest | None = None


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


def faust_app(config: HubConfig) -> faust.App:
    # Faust builds its consumer itself, not through topics.connection: its fetches need the
    # workarounds of the Kafka client too (a header name that is not UTF-8 must not kill it).
    faust_workarounds.install(config)
    return faust.App(
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


def create_hub(config: HubConfig) -> Hub:
    app = faust_app(config)
    edges = Edges(app, config.app_id)
    registry = RegistryView(config.bootstrap, settings=get_settings())
    gaps = GapGuard(
        app, config.bootstrap, config.app_id, on_recovered=edges.metrics.record_recovered
    )
    engine = RuleEngine(config.ruleset())
    routing = load_routes(config.routes_path) if config.routes_path is not None else None
    judging = not config.health_only

    app.task(registry.start)
    app.page("/metrics")(metrics_page(edges.metrics, app, gaps))

    # Alerts are routed where they are raised: without routes they are only published.
    dispatching = delivery = None
    outlet = AlertOutlet(edges)
    if routing is not None and judging:
        dispatching = Dispatching(
            app, edges, routing, gaps, check_every_s=config.escalation_check_every_s
        )
        outlet = dispatching.outlet
        delivery = Delivery(app, edges, routing, gaps, config.webhook_policy)
    health = Health(
        app,
        edges,
        engine,
        outlet,
        gaps,
        check_every_s=config.health_check_every_s,
        silence_s=config.silence_s(engine.ruleset),
    )
    alerting = None
    if config.rules_path is not None and judging:
        alerting = Alerting(
            app, edges, engine, outlet, registry, gaps, tick_every_s=config.rules_tick_every_s
        )
    # Tenants' records reach the shared topics through every worker, whatever it judges.
    # Tenants added while it runs join (hub.ingest.discovery).
    ingest = None
    if config.tenants or config.tenant_check_every_s:
        choices = ChoicesView(config.bootstrap, settings=get_settings())
        app.task(choices.start)
        ingest = Ingest(
            app,
            edges,
            registry,
            choices,
            gaps,
            config.tenants,
            find_tenants=(
                partial(readable_tenants, config.bootstrap) if config.tenant_check_every_s else None
            ),
            check_every_s=config.tenant_check_every_s,
        )
    return Hub(
        config,
        app,
        edges,
        registry,
        gaps,
        engine,
        routing,
        health,
        alerting,
        dispatching,
        delivery,
        ingest,
    )

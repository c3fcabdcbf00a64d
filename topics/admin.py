"""Creating and reconciling catalog topics on a broker: the engine behind ``tilik topics apply``.

A plan compares each declaration with the broker (missing topic, configs that differ, partitions
that grew) and is then applied. Partitions are never shrunk: Kafka cannot, and re-keying a live
topic would break per-key ordering, so a declaration with fewer partitions than the broker is
refused before anything changes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.errors import KafkaError

from core.settings import Settings, get_settings
from topics.catalog import TopicSpec, agency_of_topic, all_topics, dispatch_topic_name
from topics.connection import (
    KafkaSetupError,
    connection_config,
    diagnose_refusal_sync,
    principal_of,
    refused_operation,
)

UNKNOWN_TOPIC_OR_PARTITION = 3
TOPIC_AUTHORIZATION_FAILED = 29
TOPIC_ALREADY_EXISTS = 36


class AdminError(KafkaSetupError, RuntimeError):
    """Root of topic administration errors; the message says what to do."""


class BrokerUnreachable(AdminError):
    """No broker answered at the bootstrap address within the timeout."""


class PartitionShrinkRefused(AdminError):
    """A declaration has fewer partitions than the topic on the broker."""


class MissingTopics(AdminError):
    """Topics a process needs do not exist; the operator creates them."""


class Action(StrEnum):
    CREATE = "create"
    ALTER_CONFIGS = "alter-configs"
    ADD_PARTITIONS = "add-partitions"


@dataclass(frozen=True)
class TopicState:
    """A topic as the broker has it: partition count and the configs the catalog owns."""

    name: str
    partitions: int
    configs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    topic: str
    action: Action
    details: str
    configs: dict[str, str] = field(default_factory=dict)
    partitions: int | None = None


@dataclass(frozen=True)
class Plan:
    changes: list[Change]
    refusals: list[str]

    @property
    def empty(self) -> bool:
        return not self.changes and not self.refusals


@contextmanager
def admin_client(
    bootstrap: str | None = None, *, settings: Settings | None = None, timeout_s: float = 10.0
) -> Iterator[KafkaAdminClient]:
    """A kafka-python admin client; an unreachable broker is a ``BrokerUnreachable`` after ``timeout_s``."""
    config = connection_config(bootstrap, settings=settings)
    timeout_ms = int(timeout_s * 1000)
    try:
        client = KafkaAdminClient(
            **config,
            client_id="tilik-admin",
            bootstrap_timeout_ms=timeout_ms,
            request_timeout_ms=max(timeout_ms, 5000),
        )
    except KafkaError as exc:
        refusal = diagnose_refusal_sync(config)
        if refusal is not None:
            raise refusal from None
        raise BrokerUnreachable(
            f"no Kafka broker answered at {config['bootstrap_servers']} ({type(exc).__name__})"
        ) from exc
    try:
        yield client
    finally:
        client.close()


def describe(client: KafkaAdminClient, specs: Sequence[TopicSpec]) -> dict[str, TopicState]:
    """The broker's state of every declared topic that exists there."""
    names = [spec.name for spec in specs]
    existing: dict[str, int] = {}
    for topic in client.describe_topics(names):
        if topic.get("error_code", 0) == UNKNOWN_TOPIC_OR_PARTITION:
            continue
        if topic.get("error_code", 0):
            raise AdminError(f"cannot describe {topic['name']}: error code {topic['error_code']}")
        existing[topic["name"]] = len(topic["partitions"])
    if not existing:
        return {}
    owned = {spec.name: set(spec.configs()) for spec in specs}
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in existing]
    described: dict[str, dict[str, dict[str, Any]]] = client.describe_configs(
        resources, config_filter="all"
    ).get("topic", {})
    states = {}
    for name, partitions in existing.items():
        entries = described.get(name, {})
        configs = {key: str(entries[key]["value"]) for key in owned[name] if key in entries}
        states[name] = TopicState(name=name, partitions=partitions, configs=configs)
    return states


def plan(specs: Sequence[TopicSpec], states: dict[str, TopicState]) -> Plan:
    """What applying ``specs`` would change, and what it refuses to change."""
    changes: list[Change] = []
    refusals: list[str] = []
    for spec in specs:
        wanted = spec.configs()
        state = states.get(spec.name)
        if state is None:
            changes.append(
                Change(
                    spec.name,
                    Action.CREATE,
                    f"{spec.partitions} partitions, "
                    + ", ".join(f"{k}={v}" for k, v in sorted(wanted.items())),
                    configs=wanted,
                    partitions=spec.partitions,
                )
            )
            continue
        if spec.partitions < state.partitions:
            refusals.append(
                f"{spec.name}: declared {spec.partitions} partitions but the broker has "
                f"{state.partitions}; partitions cannot shrink (declare a new topic version instead)"
            )
        elif spec.partitions > state.partitions:
            changes.append(
                Change(
                    spec.name,
                    Action.ADD_PARTITIONS,
                    f"{state.partitions} -> {spec.partitions} partitions",
                    partitions=spec.partitions,
                )
            )
        differing = {k: v for k, v in wanted.items() if state.configs.get(k) != v}
        if differing:
            changes.append(
                Change(
                    spec.name,
                    Action.ALTER_CONFIGS,
                    ", ".join(
                        f"{k}: {state.configs.get(k, '(unset)')} -> {v}"
                        for k, v in sorted(differing.items())
                    ),
                    configs=differing,
                )
            )
    return Plan(changes=changes, refusals=refusals)


def execute(client: KafkaAdminClient, changes: Sequence[Change], replication_factor: int) -> None:
    creates = {
        c.topic: {
            "num_partitions": c.partitions,
            "replication_factor": replication_factor,
            "configs": c.configs,
        }
        for c in changes
        if c.action is Action.CREATE
    }
    if creates:
        response = client.create_topics(creates, raise_errors=False)
        # Another process applying the same catalog at the same time is not an error.
        failed = {
            t["name"]: t.get("error_message") or f"error code {t['error_code']}"
            for t in response.get("topics", [])
            if t.get("error_code") not in (0, TOPIC_ALREADY_EXISTS)
        }
        if failed:
            raise AdminError(f"creating topics failed: {failed}")
    grow = {c.topic: c.partitions for c in changes if c.action is Action.ADD_PARTITIONS}
    if grow:
        client.create_partitions(grow)
    alters = [
        ConfigResource(ConfigResourceType.TOPIC, c.topic, configs=c.configs)
        for c in changes
        if c.action is Action.ALTER_CONFIGS
    ]
    if alters:
        # Incremental (SET per key) on Kafka >= 2.3: configs the catalog does not own are kept.
        # The client's own pre-check lists the topic's dynamic configs, which lag just after a
        # topic is created; the broker validates the keys itself.
        result = client.alter_configs(alters, incremental=True, raise_on_unknown=False)
        failed = {
            name: outcome
            for name, outcome in result.get("topic", {}).items()
            if str(outcome) != "OK"
        }
        if failed:
            raise AdminError(f"altering topic configs failed: {failed}")


def apply_catalog(
    specs: Sequence[TopicSpec] | None = None,
    *,
    bootstrap: str | None = None,
    replication_factor: int | None = None,
    dry_run: bool = False,
    settings: Settings | None = None,
    timeout_s: float = 10.0,
) -> Plan:
    """Create missing topics, grow partitions and reconcile configs; returns what was (or would be) done.

    Raises ``PartitionShrinkRefused`` before changing anything when a declaration shrank.
    """
    settings = settings or get_settings()
    specs = list(specs) if specs is not None else all_topics()
    rf = replication_factor or settings.replication_factor
    with admin_client(bootstrap, settings=settings, timeout_s=timeout_s) as client:
        try:
            result = plan(specs, describe(client, specs))
            if result.refusals:
                raise PartitionShrinkRefused("; ".join(result.refusals))
            if not dry_run:
                execute(client, result.changes, rf)
        except KafkaError as exc:
            refused = refused_operation(exc, client.config, "create or reconfigure catalog topics")
            if refused is not None:
                raise refused from None
            raise AdminError(f"topic administration failed: {exc}") from exc
    return result


def require_topics(
    specs: Sequence[TopicSpec],
    *,
    bootstrap: str | None = None,
    settings: Settings | None = None,
    timeout_s: float = 10.0,
) -> None:
    """Raise ``MissingTopics`` unless every topic exists; needs only DESCRIBE on them.

    For processes that use the catalog without administering it (hub workers): creating and
    reconciling topics is the operator's, with ``tilik topics apply`` and ``tilik access``.
    """
    names = [spec.name for spec in specs]
    with admin_client(bootstrap, settings=settings, timeout_s=timeout_s) as client:
        try:
            described = client.describe_topics(names)
        except KafkaError as exc:
            raise AdminError(f"describing topics failed: {exc}") from exc
        principal = principal_of(client.config)
    missing = sorted(
        t["name"] for t in described if t.get("error_code") == UNKNOWN_TOPIC_OR_PARTITION
    )
    hidden = sorted(
        t["name"] for t in described if t.get("error_code") == TOPIC_AUTHORIZATION_FAILED
    )
    if hidden:
        raise AdminError(f"{principal} may not see topics {', '.join(hidden)}: check its ACLs")
    if missing:
        raise MissingTopics(
            f"topics {', '.join(missing)} do not exist; the operator creates them with "
            "`tilik topics apply` (an agency's with `tilik access agency add <id>`)"
        )


def broker_state(
    specs: Sequence[TopicSpec] | None = None,
    *,
    bootstrap: str | None = None,
    settings: Settings | None = None,
    timeout_s: float = 3.0,
) -> dict[str, TopicState]:
    """The broker's view of the catalog topics (raises ``BrokerUnreachable`` quickly when down)."""
    specs = list(specs) if specs is not None else all_topics()
    with admin_client(bootstrap, settings=settings, timeout_s=timeout_s) as client:
        try:
            return describe(client, specs)
        except KafkaError as exc:
            raise AdminError(f"describing topics failed: {exc}") from exc


def agencies_on_broker(bootstrap: str | None, settings: Settings | None = None) -> list[str]:
    """Agencies with a dispatch topic on the broker (the routes of every worker together)."""
    with admin_client(bootstrap, settings=settings) as client:
        names = client.list_topics()
    return sorted(
        {
            agency
            for name in names
            if name == dispatch_topic_name(agency := agency_of_topic(name) or "")
        }
    )

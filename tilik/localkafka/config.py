"""Renders a node's ``server.properties`` and logging configuration for a loopback KRaft cluster.

A ``scram`` cluster (the default) has, per node:

- ``BROKER``: SASL_PLAINTEXT with SCRAM-SHA-512 on loopback, for this host's clients and between
  brokers (as the admin principal);
- ``TLS`` (with ``--tls``): SASL_SSL with SCRAM-SHA-512, the way in for edge agents and agencies;
- ``CONTROLLER``: the KRaft quorum, on loopback only, authenticated with SASL/PLAIN as the admin.
  SCRAM credentials live in the metadata log the controllers serve, so the controllers cannot
  use them to authenticate each other; PLAIN with the admin password is Kafka's documented way.

``StandardAuthorizer`` refuses whatever no ACL allows; the admin is the only super user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tilik.localkafka.layout import LOOPBACK, ClusterLayout, NodeLayout

SCRAM = "SCRAM-SHA-512"
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
_SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule"
_PLAIN_LOGIN = "org.apache.kafka.common.security.plain.PlainLoginModule"


@dataclass(frozen=True)
class BrokerSecrets:
    """What a ``scram`` node's configuration needs besides the layout; the password stays out of repr."""

    admin_user: str
    admin_password: str = field(repr=False)
    keystore: Path | None = None


def render_server_properties(
    layout: ClusterLayout,
    node: NodeLayout,
    data_dir: Path,
    secrets: BrokerSecrets | None = None,
) -> str:
    """Combined broker+controller settings; replication follows the cluster size (at most 3)."""
    size = len(layout.nodes)
    replication = min(3, size)
    min_isr = min(2, size)
    if layout.security == "scram":
        if secrets is None:
            raise ValueError("a scram cluster's configuration needs the admin credentials")
        listeners = _secure_listeners(layout, node, secrets)
    else:
        listeners = {
            "listeners": f"PLAINTEXT://{LOOPBACK}:{node.broker_port},CONTROLLER://{LOOPBACK}:{node.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{node.broker_port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        }
    properties: dict[str, str | int] = {
        "process.roles": "broker,controller",
        "node.id": node.node_id,
        "controller.quorum.voters": layout.quorum_voters,
        **listeners,
        "log.dirs": str(data_dir),
        "num.partitions": 1,
        "default.replication.factor": replication,
        "min.insync.replicas": min_isr,
        "offsets.topic.replication.factor": replication,
        "transaction.state.log.replication.factor": replication,
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.replication.factor": replication,
        "share.coordinator.state.topic.min.isr": min_isr,
        # A laptop or CI runner, not a data centre: fewer internal partitions start faster,
        # and no rebalance delay keeps a test's first consumer group quick.
        "offsets.topic.num.partitions": 4,
        "transaction.state.log.num.partitions": 4,
        "group.initial.rebalance.delay.ms": 0,
        # Topics are declared in the catalog and created by `tilik topics apply`, never on a
        # client's first mention of a name (with the broker's default partitions).
        "auto.create.topics.enable": "false",
        "log.retention.hours": 24,
        "log.segment.bytes": 64 * 1024 * 1024,
    }
    return "".join(f"{key}={value}\n" for key, value in properties.items())


def _secure_listeners(
    layout: ClusterLayout, node: NodeLayout, secrets: BrokerSecrets
) -> dict[str, str | int]:
    user, password = secrets.admin_user, secrets.admin_password
    listeners = [
        f"BROKER://{LOOPBACK}:{node.broker_port}",
        f"CONTROLLER://{LOOPBACK}:{node.controller_port}",
    ]
    advertised = [f"BROKER://{LOOPBACK}:{node.broker_port}"]
    protocols = ["BROKER:SASL_PLAINTEXT", "CONTROLLER:SASL_PLAINTEXT"]
    properties: dict[str, str | int] = {}
    if layout.tls_host is not None:
        if node.tls_port is None or secrets.keystore is None:
            raise ValueError("a TLS listener needs a TLS port and a keystore")
        bind = LOOPBACK if layout.tls_host in ("127.0.0.1", "localhost") else "0.0.0.0"
        listeners.append(f"TLS://{bind}:{node.tls_port}")
        advertised.append(f"TLS://{layout.tls_host}:{node.tls_port}")
        protocols.append("TLS:SASL_SSL")
        properties.update(
            {
                "listener.name.tls.sasl.enabled.mechanisms": SCRAM,
                f"listener.name.tls.{SCRAM.lower()}.sasl.jaas.config": f"{_SCRAM_LOGIN} required;",
                "listener.name.tls.ssl.keystore.type": "PEM",
                "listener.name.tls.ssl.keystore.location": str(secrets.keystore),
            }
        )
    return {
        "listeners": ",".join(listeners),
        "advertised.listeners": ",".join(advertised),
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "BROKER",
        "listener.security.protocol.map": ",".join(protocols),
        "sasl.enabled.mechanisms": SCRAM,
        "sasl.mechanism.inter.broker.protocol": SCRAM,
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.broker.sasl.enabled.mechanisms": SCRAM,
        # The username and password here are what this broker presents to the other brokers.
        f"listener.name.broker.{SCRAM.lower()}.sasl.jaas.config": (
            f'{_SCRAM_LOGIN} required username="{user}" password="{password}";'
        ),
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": (
            f'{_PLAIN_LOGIN} required username="{user}" password="{password}" '
            f'user_{user}="{password}";'
        ),
        **properties,
        "authorizer.class.name": AUTHORIZER,
        "allow.everyone.if.no.acl.found": "false",
        "super.users": f"User:{user}",
        "connections.max.reauth.ms": layout.reauth_ms,
    }


def render_log4j2(log_file: Path) -> str:
    """Broker logs to a size-capped rolling file, so a long-lived dev broker cannot fill the disk."""
    return (
        "Configuration:\n"
        "  Appenders:\n"
        "    RollingFile:\n"
        "      name: server\n"
        f'      fileName: "{log_file}"\n'
        f'      filePattern: "{log_file}.%i"\n'
        '      PatternLayout: {pattern: "[%d] %p %m (%c)%n"}\n'
        "      Policies:\n"
        "        SizeBasedTriggeringPolicy: {size: 20 MB}\n"
        "      DefaultRolloverStrategy: {max: 3}\n"
        "  Loggers:\n"
        "    Root: {level: INFO, AppenderRef: [{ref: server}]}\n"
    )

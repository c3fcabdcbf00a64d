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

from core.localkafka.layout import LOOPBACK, ClusterLayout, NodeLayout

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


@dataclass(frozen=True)
class Listener:
    """One SASL listener of a node: where it binds, what clients are told, whether it is TLS.

    ``advertised=None`` is the controller listener (never given to clients).
    """

    name: str
    bind: str
    advertised: str | None
    tls: bool = False


@dataclass(frozen=True)
class NodeConfig:
    """What one node's ``server.properties`` says, wherever the node runs (loopback or compose)."""

    node_id: int
    quorum_voters: str
    cluster_size: int
    data_dir: str
    reauth_ms: int


def render_server_properties(
    layout: ClusterLayout,
    node: NodeLayout,
    data_dir: Path,
    secrets: BrokerSecrets | None = None,
) -> str:
    """A loopback node's settings; replication follows the cluster size (at most 3)."""
    config = NodeConfig(
        node.node_id, layout.quorum_voters, len(layout.nodes), str(data_dir), layout.reauth_ms
    )
    if layout.security == "insecure":
        return render_properties(
            config,
            {
                "listeners": f"PLAINTEXT://{LOOPBACK}:{node.broker_port},CONTROLLER://{LOOPBACK}:{node.controller_port}",
                "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{node.broker_port}",
                "controller.listener.names": "CONTROLLER",
                "inter.broker.listener.name": "PLAINTEXT",
                "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            },
        )
    if secrets is None:
        raise ValueError("a scram cluster's configuration needs the admin credentials")
    listeners = [
        Listener("BROKER", f"{LOOPBACK}:{node.broker_port}", f"{LOOPBACK}:{node.broker_port}"),
        Listener("CONTROLLER", f"{LOOPBACK}:{node.controller_port}", None),
    ]
    if layout.tls_host is not None:
        if node.tls_port is None:
            raise ValueError("a TLS listener needs a TLS port")
        bind = LOOPBACK if layout.tls_host in ("127.0.0.1", "localhost") else "0.0.0.0"
        listeners.append(
            Listener(
                "TLS", f"{bind}:{node.tls_port}", f"{layout.tls_host}:{node.tls_client_port}", True
            )
        )
    return render_properties(config, secure_listeners(listeners, secrets, config.reauth_ms))


def render_properties(config: NodeConfig, listeners: dict[str, str | int]) -> str:
    """A combined broker+controller node: ``listeners`` (see ``secure_listeners``) and the rest."""
    replication = min(3, config.cluster_size)
    min_isr = min(2, config.cluster_size)
    properties: dict[str, str | int] = {
        "process.roles": "broker,controller",
        "node.id": config.node_id,
        "controller.quorum.voters": config.quorum_voters,
        **listeners,
        "log.dirs": config.data_dir,
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


def secure_listeners(
    listeners: list[Listener], secrets: BrokerSecrets, reauth_ms: int
) -> dict[str, str | int]:
    """SCRAM-SHA-512 on every client listener (TLS ones with the keystore), SASL/PLAIN on the
    controller's, ``BROKER`` between brokers, the authorizer with the admin as only super user."""
    user, password = secrets.admin_user, secrets.admin_password
    properties: dict[str, str | int] = {}
    protocols = []
    for listener in listeners:
        prefix = f"listener.name.{listener.name.lower()}"
        if listener.advertised is None:
            protocols.append(f"{listener.name}:SASL_PLAINTEXT")
            properties[f"{prefix}.sasl.enabled.mechanisms"] = "PLAIN"
            properties[f"{prefix}.plain.sasl.jaas.config"] = (
                f'{_PLAIN_LOGIN} required username="{user}" password="{password}" '
                f'user_{user}="{password}";'
            )
            continue
        protocols.append(f"{listener.name}:{'SASL_SSL' if listener.tls else 'SASL_PLAINTEXT'}")
        properties[f"{prefix}.sasl.enabled.mechanisms"] = SCRAM
        # The username and password are what this broker presents to the other brokers.
        properties[f"{prefix}.{SCRAM.lower()}.sasl.jaas.config"] = (
            f'{_SCRAM_LOGIN} required username="{user}" password="{password}";'
        )
        if listener.tls:
            if secrets.keystore is None:
                raise ValueError("a TLS listener needs a keystore")
            properties[f"{prefix}.ssl.keystore.type"] = "PEM"
            properties[f"{prefix}.ssl.keystore.location"] = str(secrets.keystore)
    return {
        "listeners": ",".join(f"{li.name}://{li.bind}" for li in listeners),
        "advertised.listeners": ",".join(
            f"{li.name}://{li.advertised}" for li in listeners if li.advertised is not None
        ),
        "controller.listener.names": ",".join(li.name for li in listeners if li.advertised is None),
        "inter.broker.listener.name": "BROKER",
        "listener.security.protocol.map": ",".join(protocols),
        "sasl.enabled.mechanisms": SCRAM,
        "sasl.mechanism.inter.broker.protocol": SCRAM,
        "sasl.mechanism.controller.protocol": "PLAIN",
        **properties,
        "authorizer.class.name": AUTHORIZER,
        "allow.everyone.if.no.acl.found": "false",
        "super.users": f"User:{user}",
        "connections.max.reauth.ms": reauth_ms,
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

"""Renders a node's ``server.properties`` and logging configuration for a loopback KRaft cluster."""

from __future__ import annotations

from pathlib import Path

from tilik.localkafka.layout import LOOPBACK, ClusterLayout, NodeLayout


def render_server_properties(layout: ClusterLayout, node: NodeLayout, data_dir: Path) -> str:
    """Combined broker+controller settings; replication follows the cluster size (at most 3)."""
    size = len(layout.nodes)
    replication = min(3, size)
    min_isr = min(2, size)
    properties: dict[str, str | int] = {
        "process.roles": "broker,controller",
        "node.id": node.node_id,
        "controller.quorum.voters": layout.quorum_voters,
        "listeners": f"PLAINTEXT://{LOOPBACK}:{node.broker_port},CONTROLLER://{LOOPBACK}:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{node.broker_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
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
        "log.retention.hours": 24,
        "log.segment.bytes": 64 * 1024 * 1024,
    }
    return "".join(f"{key}={value}\n" for key, value in properties.items())


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

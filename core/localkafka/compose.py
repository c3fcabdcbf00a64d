"""Broker configuration for the ``compose/`` clusters, rendered by the same code as the local one.

``tilik kafka render`` (the one-shot ``kafka-config`` service) writes into a volume::

    <out>/kafka/cluster.id             the KRaft cluster id (kept across renders)
    <out>/kafka/admin.scram            the admin's salted SCRAM credential, for `kafka-storage format`
    <out>/kafka/<host>/server.properties   each node (0600: it holds the admin password)
    <out>/kafka/start.sh               formats a node's storage once, then runs Kafka
    <out>/tls/                         CA and broker certificate (see ``tls``)
    <out>/clients/admin/client.properties   the admin's client config (0600)

Each node has ``BROKER`` (SASL_PLAINTEXT on the compose network: containers and other brokers),
``EXTERNAL`` (SASL_PLAINTEXT, published on the host's loopback for the operator), ``TLS``
(SASL_SSL: edge agents and agencies) and ``CONTROLLER`` (the quorum, never published). A second
render keeps the admin password, the cluster id and the CA.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.clientconfig import SCRAM_MECHANISM, ClientConfig, ClientConfigError, write_secret_file
from core.localkafka.config import (
    BrokerSecrets,
    Listener,
    NodeConfig,
    render_properties,
    secure_listeners,
)
from core.localkafka.errors import LocalKafkaError
from core.localkafka.layout import DEFAULT_REAUTH_MS, new_cluster_id
from core.localkafka.security import ADMIN_USER, new_password, salted_scram_credential
from core.localkafka.tls import TlsFiles, ensure_tls

BROKER_PORT = 19092
CONTROLLER_PORT = 9093
DATA_DIR = "/var/lib/kafka/data"
START_SCRIPT = """#!/bin/bash
# Formats this node's storage once, with the admin's salted SCRAM credential, then runs Kafka.
set -euo pipefail
node="$1"
here="$(cd "$(dirname "$0")" && pwd)"
config="$here/$node/server.properties"
if [ ! -f {data}/meta.properties ]; then
    /opt/kafka/bin/kafka-storage.sh format --cluster-id "$(cat "$here/cluster.id")" \\
        --config "$config" --add-scram "$(cat "$here/admin.scram")"
fi
exec /opt/kafka/bin/kafka-server-start.sh "$config"
"""


@dataclass(frozen=True)
class ComposeNode:
    """A node's host name on the compose network and the host ports it is published on."""

    host: str
    external_port: int
    tls_port: int

    @classmethod
    def parse(cls, text: str) -> ComposeNode:
        try:
            host, external, tls = text.split(":")
            return cls(host, int(external), int(tls))
        except ValueError:
            raise ValueError(f"{text!r} is not HOST:EXTERNAL_PORT:TLS_PORT") from None


def render_compose(
    out: Path,
    nodes: list[ComposeNode],
    *,
    tls_host: str = "127.0.0.1",
    reauth_ms: int = DEFAULT_REAUTH_MS,
) -> list[Path]:
    """Write every node's configuration and the admin's client config; returns the files."""
    kafka = out / "kafka"
    kafka.mkdir(parents=True, exist_ok=True)
    admin = _admin(out, nodes)
    cluster_id_file = kafka / "cluster.id"
    if not cluster_id_file.is_file():
        cluster_id_file.write_text(new_cluster_id() + "\n", encoding="ascii")
    assert admin.username is not None and admin.password is not None
    write_secret_file(
        kafka / "admin.scram",
        salted_scram_credential(admin.username, admin.password) + "\n",
        replace=True,
    )
    tls = TlsFiles(out / "tls")
    ensure_tls(tls, tls_host)
    secrets = BrokerSecrets(admin.username, admin.password, tls.keystore)
    voters = ",".join(f"{i}@{node.host}:{CONTROLLER_PORT}" for i, node in enumerate(nodes, 1))
    written = [cluster_id_file]
    for node_id, node in enumerate(nodes, 1):
        listeners = [
            Listener("BROKER", f"0.0.0.0:{BROKER_PORT}", f"{node.host}:{BROKER_PORT}"),
            Listener(
                "EXTERNAL", f"0.0.0.0:{node.external_port}", f"127.0.0.1:{node.external_port}"
            ),
            Listener("TLS", f"0.0.0.0:{node.tls_port}", f"{tls_host}:{node.tls_port}", tls=True),
            Listener("CONTROLLER", f"0.0.0.0:{CONTROLLER_PORT}", None),
        ]
        config = NodeConfig(node_id, voters, len(nodes), DATA_DIR, reauth_ms)
        path = kafka / node.host / "server.properties"
        write_secret_file(
            path,
            render_properties(config, secure_listeners(listeners, secrets, reauth_ms)),
            replace=True,
        )
        written.append(path)
    script = kafka / "start.sh"
    script.write_text(START_SCRIPT.format(data=DATA_DIR), encoding="utf-8")
    script.chmod(0o755)
    return [*written, script, admin_path(out), tls.ca]


def admin_path(out: Path) -> Path:
    return out / "clients" / "admin" / "client.properties"


def _admin(out: Path, nodes: list[ComposeNode]) -> ClientConfig:
    """The admin's client config: made once, then kept (the cluster knows its password)."""
    path = admin_path(out)
    bootstrap = ",".join(f"{node.host}:{BROKER_PORT}" for node in nodes)
    if path.is_file():
        try:
            return ClientConfig.load(path)
        except ClientConfigError as exc:
            raise LocalKafkaError(str(exc)) from None
    admin = ClientConfig(
        bootstrap=bootstrap,
        security_protocol="SASL_PLAINTEXT",
        mechanism=SCRAM_MECHANISM,
        username=ADMIN_USER,
        password=new_password(),
    )
    write_secret_file(
        path,
        admin.render(
            "The compose cluster's admin, its only super user (written by `tilik kafka render`).\n"
            "Keep it secret: it holds the password."
        ),
    )
    return admin

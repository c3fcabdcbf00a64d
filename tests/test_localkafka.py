"""The local Kafka runner: lifecycle idempotency, stale pid files, metadata readiness, 3-node quorum."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from core.localkafka import LocalKafka, LocalKafkaError
from core.localkafka.config import BrokerSecrets, render_server_properties
from core.localkafka.layout import DEFAULT_REAUTH_MS, ClusterLayout, any_free_ports, save_layout
from core.localkafka.ready import brokers_seen_by_every_node, registered_brokers, wait_until_ready
from core.localkafka.resolve import KAFKA_VERSION, render_pom, runtime_cache_dir
from core.settings import Settings
from tilik.cli import cli

TEST_HEAP_MB = 384
SECRETS = BrokerSecrets("tilik-admin", "admin-password-for-rendering")


def _properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def _pid_file(state_dir: Path, node_id: int = 1) -> Path:
    return state_dir / "kafka" / f"node-{node_id}" / "kafka.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/cmdline").read_bytes() != b""


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def _plan_only(state_dir: Path, nodes: int = 1) -> ClusterLayout:
    layout = ClusterLayout.plan(nodes, any_free_ports(nodes))
    save_layout(state_dir / "kafka" / "cluster.json", layout)
    return layout


def test_server_properties_follow_cluster_size() -> None:
    single = ClusterLayout.plan(1, [(9092, 9093)])
    trio = ClusterLayout.plan(3, [(9092, 9093), (9094, 9095), (9096, 9097)])
    one = _properties(render_server_properties(single, single.nodes[0], Path("/d"), SECRETS))
    three = _properties(render_server_properties(trio, trio.nodes[2], Path("/d"), SECRETS))
    assert one["offsets.topic.replication.factor"] == "1"
    assert one["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert three["node.id"] == "3"
    assert three["controller.quorum.voters"] == "1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097"
    assert three["default.replication.factor"] == "3"
    assert three["transaction.state.log.min.isr"] == "2"
    assert three["advertised.listeners"] == "BROKER://127.0.0.1:9096"


def test_a_new_cluster_authenticates_with_scram_and_allows_only_what_acls_allow() -> None:
    layout = ClusterLayout.plan(1, [(9092, 9093, 9094)], tls_host="127.0.0.1")
    secrets = BrokerSecrets("tilik-admin", "pw", keystore=Path("/s/broker.pem"))
    props = _properties(render_server_properties(layout, layout.nodes[0], Path("/d"), secrets))
    assert props["listener.security.protocol.map"] == (
        "BROKER:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT,TLS:SASL_SSL"
    )
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["listener.name.tls.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["authorizer.class.name"] == (
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    )
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:tilik-admin"
    assert props["connections.max.reauth.ms"] == str(DEFAULT_REAUTH_MS) == "60000"
    # The quorum stays on loopback; only the TLS listener may face other hosts.
    assert "CONTROLLER://127.0.0.1:9093" in props["listeners"]
    assert "TLS://127.0.0.1:9094" in props["advertised.listeners"]
    assert props["listener.name.tls.ssl.keystore.location"] == "/s/broker.pem"


def test_a_relayed_tls_listener_tells_clients_the_relays_port_and_keeps_its_own_layout(
    tmp_path: Path,
) -> None:
    layout = ClusterLayout.plan(1, [(9092, 9093, 9094)], tls_host="127.0.0.1")
    relayed = layout.with_tls_advertised([19094])
    secrets = BrokerSecrets("tilik-admin", "pw", keystore=Path("/s/broker.pem"))
    props = _properties(render_server_properties(relayed, relayed.nodes[0], Path("/d"), secrets))
    # It binds its own port; clients are told the relay's, and issued configs name the relay.
    assert "TLS://127.0.0.1:9094" in props["listeners"]
    assert "TLS://127.0.0.1:19094" in props["advertised.listeners"]
    assert relayed.tls_bootstrap == "127.0.0.1:19094"
    assert layout.tls_bootstrap == "127.0.0.1:9094"
    save_layout(tmp_path / "cluster.json", relayed)
    assert ClusterLayout.from_json((tmp_path / "cluster.json").read_text()) == relayed


def test_insecure_mode_is_plaintext_without_an_authorizer() -> None:
    layout = ClusterLayout.plan(1, [(9092, 9093)], security="insecure")
    props = _properties(render_server_properties(layout, layout.nodes[0], Path("/d")))
    assert props["listener.security.protocol.map"] == "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    assert "authorizer.class.name" not in props


def test_a_cluster_keeps_the_security_it_was_created_with(tmp_path: Path) -> None:
    save_layout(
        tmp_path / "kafka" / "cluster.json",
        ClusterLayout.plan(1, any_free_ports(1), security="insecure"),
    )
    with pytest.raises(LocalKafkaError, match="created insecure"):
        LocalKafka(tmp_path).start()
    # A layout written before clusters had security was a PLAINTEXT one.
    legacy = ClusterLayout.from_json('{"cluster_id": "x", "nodes": []}')
    assert legacy.security == "insecure"


def test_runtime_is_pinned_and_its_cache_is_overridable(tmp_path: Path) -> None:
    assert f"<artifactId>kafka_2.13</artifactId><version>{KAFKA_VERSION}</version>" in render_pom()
    assert runtime_cache_dir(Settings.from_env({"TILIK_KAFKA_CACHE": str(tmp_path)})) == tmp_path
    assert runtime_cache_dir(Settings.from_env({"HOME": "/h", "XDG_CACHE_HOME": "/c"})) == Path(
        f"/c/tilik/kafka/{KAFKA_VERSION}"
    )
    assert runtime_cache_dir(Settings.from_env({"HOME": "/h"})) == Path(
        f"/h/.cache/tilik/kafka/{KAFKA_VERSION}"
    )


def test_status_of_a_state_dir_without_a_cluster_is_stopped(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["kafka", "status", "--state-dir", str(tmp_path)])
    assert result.exit_code == 3, result.output
    assert result.output.splitlines()[0] == "stopped"
    stop = CliRunner().invoke(cli, ["kafka", "stop", "--state-dir", str(tmp_path)])
    assert stop.exit_code == 0 and "not running" in stop.output


def test_pid_file_of_a_dead_process_is_discarded(tmp_path: Path) -> None:
    _plan_only(tmp_path)
    pid_file = _pid_file(tmp_path)
    pid_file.parent.mkdir(parents=True)
    pid_file.write_text(f"{_dead_pid()}\n")
    assert LocalKafka(tmp_path).status().state == "stopped"
    assert not pid_file.exists()


def test_pid_file_naming_an_unrelated_live_process_is_never_signalled(tmp_path: Path) -> None:
    _plan_only(tmp_path)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        pid_file = _pid_file(tmp_path)
        pid_file.parent.mkdir(parents=True)
        pid_file.write_text(f"{bystander.pid}\n")
        assert LocalKafka(tmp_path).stop(timeout=1.0) == []
        assert bystander.poll() is None
        assert not pid_file.exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_state_dir_of_another_cluster_size_is_refused(tmp_path: Path) -> None:
    _plan_only(tmp_path, nodes=1)
    with pytest.raises(LocalKafkaError, match="1-node cluster"):
        LocalKafka(tmp_path, nodes=3).start()


def test_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(LocalKafkaError, match=rf"ports \[{port}.*in use"):
            LocalKafka(tmp_path, port=port).start()


def test_an_open_port_that_is_not_kafka_is_not_ready() -> None:
    with socket.socket() as impostor:
        impostor.bind(("127.0.0.1", 0))
        impostor.listen()
        bootstrap = f"127.0.0.1:{impostor.getsockname()[1]}"
        with pytest.raises(LocalKafkaError, match="not ready"):
            wait_until_ready(bootstrap, expected_brokers=1, timeout=1.5)


def test_start_and_stop_are_idempotent_and_survive_a_stale_pid_file(tmp_path: Path) -> None:
    broker = LocalKafka(tmp_path, port=0, heap_mb=TEST_HEAP_MB)
    try:
        bootstrap = broker.start()
        assert registered_brokers(bootstrap, broker.client_options()) == 1
        # The admin's credentials: in the state dir, for its owner only.
        assert broker.admin_file.stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "kafka" / "node-1" / "server.properties").stat().st_mode & 0o777 == 0o600
        first = broker.status()
        assert first.state == "running"
        (pid,) = [node.pid for node in first.nodes]
        assert pid is not None and _alive(pid)

        assert LocalKafka(tmp_path).start() == bootstrap
        assert [node.pid for node in broker.status().nodes] == [pid]

        status = CliRunner().invoke(cli, ["kafka", "status", "--state-dir", str(tmp_path)])
        assert status.exit_code == 0
        assert status.output.splitlines()[0] == "running"
        assert f"pid {pid}" in status.output and f"bootstrap {bootstrap}" in status.output

        assert broker.stop() == [pid]
        assert not _alive(pid)
        assert broker.stop() == []
        assert broker.status().state == "stopped"

        # A pid file left behind by a crash, now naming some other process, must not block a start.
        _pid_file(tmp_path).write_text(f"{os.getpid()}\n")
        assert broker.start() == bootstrap
        (restarted,) = [node.pid for node in broker.status().nodes]
        assert restarted not in (None, os.getpid(), pid)
        assert registered_brokers(bootstrap, broker.client_options()) == 1

        # Stopped, its old port taken by someone else: an any-port cluster moves, data intact.
        broker.stop()
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", int(bootstrap.rsplit(":", 1)[1])))
            squatter.listen()
            moved = broker.start()
        assert moved != bootstrap
        # The admin file follows the move, so `tilik` commands find the cluster at its new ports.
        admin = broker.admin_config()
        assert admin is not None and admin.bootstrap == moved
        assert registered_brokers(moved, broker.client_options()) == 1
    finally:
        broker.stop()


def test_session_broker_is_exported_to_subprocesses(kafka_bootstrap: str) -> None:
    from topics.connection import connection_config

    assert os.environ["TILIK_BOOTSTRAP"] == kafka_bootstrap
    assert os.environ["TILIK_CLIENT_CONFIG"]
    assert registered_brokers(kafka_bootstrap, connection_config()) >= 1


@pytest.mark.slow
def test_three_node_cluster_replicates_and_restarts_a_lost_node(tmp_path: Path) -> None:
    cluster = LocalKafka(tmp_path, nodes=3, port=0, heap_mb=TEST_HEAP_MB)
    try:
        bootstrap = cluster.start()
        options = cluster.client_options()
        assert registered_brokers(bootstrap, options) == 3
        admin = KafkaAdminClient(**options)
        try:
            admin.create_topics([NewTopic("localkafka.replicated", 3, 3)])
            (described,) = admin.describe_topics(["localkafka.replicated"])
        finally:
            admin.close()
        assert all(len(p["isr_nodes"]) == 3 for p in described["partitions"])

        pids = {node.node_id: node.pid for node in cluster.status().nodes}
        lost = pids[2]
        assert lost is not None
        os.kill(lost, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while cluster.status().state != "degraded" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert cluster.status().state == "degraded"

        assert cluster.start() == bootstrap
        after = {node.node_id: node.pid for node in cluster.status().nodes}
        assert after[1] == pids[1] and after[3] == pids[3]
        assert after[2] not in (None, lost)
        assert brokers_seen_by_every_node(bootstrap, options) == 3
        # Without a node count, a start means "the cluster that is there": a no-op here.
        assert LocalKafka(tmp_path).start() == bootstrap
    finally:
        cluster.stop()


@pytest.mark.slow
def test_foreground_start_runs_until_sigterm_and_then_stops_the_broker(tmp_path: Path) -> None:
    tilik = Path(sys.executable).with_name("tilik")
    environment = {**os.environ, "TILIK_STATE_DIR": str(tmp_path)}
    attached = subprocess.Popen(
        [
            str(tilik),
            "kafka",
            "start",
            "--port",
            "0",
            "--heap-mb",
            str(TEST_HEAP_MB),
            "--foreground",
        ],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert attached.stdout is not None
        bootstrap = attached.stdout.readline().strip()
        assert registered_brokers(bootstrap, LocalKafka(tmp_path).client_options()) == 1
        (pid,) = [node.pid for node in LocalKafka(tmp_path).status().nodes]
        assert pid is not None
        attached.send_signal(signal.SIGTERM)
        assert attached.wait(timeout=60) == 0
        assert not _alive(pid)
        assert LocalKafka(tmp_path).status().state == "stopped"
    finally:
        if attached.poll() is None:
            attached.kill()
        LocalKafka(tmp_path).stop()


@pytest.mark.slow
def test_broker_tied_to_its_process_stops_when_that_process_dies(tmp_path: Path) -> None:
    owner_script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from core.localkafka import LocalKafka\n"
        f"kafka = LocalKafka(Path(sys.argv[1]), port=0, heap_mb={TEST_HEAP_MB}, stop_with_this_process=True)\n"
        "print(kafka.start(), flush=True)\n"
        "os._exit(9)  # no cleanup, as when a test session is killed\n"
    )
    owner = subprocess.run(
        [sys.executable, "-c", owner_script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    broker = LocalKafka(tmp_path)
    try:
        assert owner.returncode == 9, owner.stderr
        deadline = time.monotonic() + 30
        while broker.status().state != "stopped" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert broker.status().state == "stopped"
    finally:
        broker.stop()

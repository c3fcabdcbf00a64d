"""The compose files: each tilik service runs a command the real CLI has, with settings it knows."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from core.clientconfig import parse_properties
from core.localkafka import KAFKA_VERSION
from core.localkafka.compose import ComposeNode
from core.settings import Settings
from tilik.cli import cli

COMPOSE_DIR = Path(__file__).resolve().parent.parent / "compose"
COMPOSE_FILES = sorted(COMPOSE_DIR.glob("docker-compose*.yml"))
TILIK_IMAGE = "tilik:local"


def _load(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict) and isinstance(loaded.get("services"), dict), path
    return loaded


def _environment(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        return dict(entry.split("=", 1) if "=" in entry else (entry, "") for entry in raw)
    return {str(key): str(value) for key, value in raw.items()}


def _tilik_services() -> list[Any]:
    params = []
    for path in COMPOSE_FILES:
        for name, service in _load(path)["services"].items():
            if service.get("image") != TILIK_IMAGE:
                continue
            command = [str(part) for part in service.get("command", [])]
            params.append(pytest.param(command, id=f"{path.name}:{name}"))
    return params


def _parse_with_cli(arguments: list[str]) -> click.Command:
    """Resolves ``tilik <arguments>`` through the real command tree and parses its options."""
    command: click.Command = cli
    context = click.Context(cli, info_name="tilik")
    remaining = list(arguments)
    path = ["tilik"]
    while isinstance(command, click.Group):
        assert remaining, f"`{' '.join(path)}` needs a subcommand"
        name, remaining = remaining[0], remaining[1:]
        try:
            subcommand = command.get_command(context, name)
        except (ImportError, AttributeError, TypeError) as exc:
            pytest.fail(f"`{' '.join([*path, name])}` cannot be loaded: {exc}")
        if subcommand is None:
            pytest.fail(f"`{' '.join(path)}` has no subcommand {name!r}")
        path.append(name)
        command = subcommand
        if isinstance(command, click.Group):
            context = click.Context(command, info_name=name, parent=context)
    try:
        command.make_context(path[-1], remaining, parent=context)
    except click.UsageError as exc:
        pytest.fail(f"`{' '.join(path)}` rejects {remaining}: {exc.format_message()}")
    return command


def test_compose_files_exist() -> None:
    names = {path.name for path in COMPOSE_FILES}
    assert {"docker-compose.yml", "docker-compose.cluster.yml"} <= names


@pytest.mark.parametrize("command", _tilik_services())
def test_tilik_service_command_exists_in_the_cli(command: list[str]) -> None:
    assert command, "a tilik service needs an explicit command"
    _parse_with_cli(command)


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda path: path.name)
def test_every_tilik_variable_is_a_known_setting(path: Path) -> None:
    known = Settings.env_names()
    for name, service in _load(path)["services"].items():
        unknown = {key for key in _environment(service) if key.startswith("TILIK_")} - known
        assert not unknown, (
            f"{path.name}:{name} sets {sorted(unknown)}; settings know {sorted(known)}"
        )


def test_dockerfile_sets_only_known_settings() -> None:
    used = set(re.findall(r"\bTILIK_[A-Z_]+\b", (COMPOSE_DIR / "Dockerfile").read_text()))
    assert used and used <= Settings.env_names(), used - Settings.env_names()


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda path: path.name)
def test_kafka_image_matches_the_local_broker_version(path: Path) -> None:
    images = {
        service["image"]
        for service in _load(path)["services"].values()
        if str(service.get("image", "")).startswith("apache/kafka")
    }
    assert images == {f"apache/kafka:{KAFKA_VERSION}"}


def _rendered(path: Path, out: Path) -> dict[str, dict[str, str]]:
    """What the file's `kafka-config` service renders: each node's server.properties by host."""
    from core.localkafka.compose import render_compose

    services = _load(path)["services"]
    command = [str(part) for part in services["kafka-config"]["command"]]
    assert command[:2] == ["kafka", "render"]
    nodes = [
        ComposeNode.parse(command[i + 1]) for i, part in enumerate(command) if part == "--node"
    ]
    render_compose(out, nodes)
    return {
        node.host: parse_properties((out / "kafka" / node.host / "server.properties").read_text())
        for node in nodes
    }


def test_cluster_file_has_a_three_node_quorum(tmp_path: Path) -> None:
    path = COMPOSE_DIR / "docker-compose.cluster.yml"
    services = _load(path)["services"]
    nodes = _rendered(path, tmp_path)
    assert set(nodes) == {"kafka-1", "kafka-2", "kafka-3"} <= set(services)
    assert {props["node.id"] for props in nodes.values()} == {"1", "2", "3"}
    voters = {props["controller.quorum.voters"] for props in nodes.values()}
    assert voters == {"1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"}
    assert {props["default.replication.factor"] for props in nodes.values()} == {"3"}
    hubs = [
        name
        for name, service in services.items()
        if service.get("command", [])[:2] == ["hub", "worker"]
    ]
    assert len(hubs) == 2
    assert _environment(services["access"])["TILIK_REPLICATION_FACTOR"] == "3"


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda path: path.name)
def test_brokers_run_secure_with_the_configuration_tilik_renders(
    path: Path, tmp_path: Path
) -> None:
    services = _load(path)["services"]
    for host, props in _rendered(path, tmp_path).items():
        assert set(props["listener.security.protocol.map"].split(",")) == {
            "BROKER:SASL_PLAINTEXT",
            "EXTERNAL:SASL_PLAINTEXT",
            "TLS:SASL_SSL",
            "CONTROLLER:SASL_PLAINTEXT",
        }
        assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
        assert props["authorizer.class.name"].endswith("StandardAuthorizer")
        assert props["allow.everyone.if.no.acl.found"] == "false"
        assert props["super.users"] == "User:tilik-admin"
        assert props["connections.max.reauth.ms"] == "60000"
        broker = services[host]
        # The node runs the rendered configuration of its own name...
        assert broker["entrypoint"][-2:] == ["/etc/tilik/kafka/start.sh", host]
        # ...and publishes exactly its operator and TLS listeners, never the controller.
        published = {str(port).rsplit(":", 1)[1] for port in broker["ports"]}
        advertised = props["advertised.listeners"]
        assert published == {
            a.rsplit(":", 1)[1] for a in advertised.split(",") if not a.startswith("BROKER")
        }
        assert "9093" not in published


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda path: path.name)
def test_each_service_connects_as_its_own_principal_and_no_password_is_written(
    path: Path,
) -> None:
    settings = [line for line in path.read_text(encoding="utf-8").splitlines() if "#" not in line]
    assert not [line for line in settings if "password" in line.lower()]
    for name, service in _load(path)["services"].items():
        if service.get("image") != TILIK_IMAGE or name == "kafka-config":
            continue
        config = _environment(service).get("TILIK_CLIENT_CONFIG")
        assert config, f"{path.name}:{name} sets no TILIK_CLIENT_CONFIG"
        command = service["command"]
        if command[:2] == ["access", "provision"]:
            assert config == "/etc/tilik/clients/admin/client.properties"
            continue
        # A service sees its own client config only, not the admin's.
        mounts = [m for m in service.get("volumes", []) if isinstance(m, dict)]
        subpaths = {m["volume"]["subpath"] for m in mounts if m.get("source") == "tilik-etc"}
        role = "hub" if command[:2] == ["hub", "worker"] else "connector"
        assert subpaths == {f"clients/{role}"}, f"{path.name}:{name}"
        assert not any(str(m).startswith("tilik-etc:") for m in service.get("volumes", []))


def test_parse_with_cli_rejects_an_unknown_command() -> None:
    with pytest.raises(pytest.fail.Exception, match="has no subcommand 'nonexistent'"):
        _parse_with_cli(["kafka", "nonexistent"])
    with pytest.raises(pytest.fail.Exception, match="rejects"):
        _parse_with_cli(["kafka", "start", "--no-such-option"])


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda path: path.name)
def test_services_depend_only_on_services_that_exist(path: Path) -> None:
    services = _load(path)["services"]
    for name, service in services.items():
        missing = set(service.get("depends_on") or {}) - set(services)
        assert not missing, f"{path.name}:{name} depends on unknown {sorted(missing)}"


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda path: path.name)
def test_published_ports_bind_loopback_only(path: Path) -> None:
    for name, service in _load(path)["services"].items():
        for mapping in service.get("ports") or []:
            assert str(mapping).startswith("127.0.0.1:"), f"{path.name}:{name} publishes {mapping}"

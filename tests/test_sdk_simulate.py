"""``tilik simulate <connector>``: every installed connector's class names its simulator, which
serves devices with a password given on the command line and generates events by itself."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from connectors.cli import simulator_of
from connectors.sdk.conformance import collect_events
from connectors.sdk.example.connector import ExampleConfig, ExampleConnector
from connectors.sdk.registry import available_connectors
from connectors.sdk.secrets import camera_secret_env
from tilik.cli import cli
from topics.models import DeviceEvent

TILIK = Path(sys.executable).parent / "tilik"
PASSWORD = "Sandi-Simulasi-7"


@pytest.fixture
def example_simulator() -> Iterator[tuple[subprocess.Popen[bytes], list[str]]]:
    process = subprocess.Popen(
        [TILIK, "simulate", "example", "--devices", "2", "--password", PASSWORD,
         "--event-rate", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        addresses = [process.stdout.readline().decode().strip() for _ in range(2)]
        yield process, addresses
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("name", sorted(available_connectors()))
def test_every_installed_connector_names_a_simulator_taking_a_password(name: str) -> None:
    info = available_connectors()[name]
    assert info.connector_cls is not None, info.error
    command = simulator_of(info.connector_cls)
    options = {param.name for param in command.params}
    assert {"password", "event_rate"} <= options, options


async def test_the_simulator_serves_with_the_given_password_and_generates_events(
    example_simulator: tuple[subprocess.Popen[bytes], list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    process, addresses = example_simulator
    assert len(set(addresses)) == 2 and all(a.startswith("127.0.0.1:") for a in addresses)
    variable = camera_secret_env("SIMULATE_TEST")
    monkeypatch.setenv(variable, PASSWORD)
    for address in addresses:
        connector = ExampleConnector(
            ExampleConfig(address=address, credential_ref=f"admin@env:{variable}")
        )
        try:
            assert (await connector.check()).ok
            # No trigger: the simulated device generates its events on its own.
            items, raised = await collect_events(
                connector,
                want=lambda got: sum(isinstance(i, DeviceEvent) for i in got) >= 3,
                timeout_s=15,
            )
        finally:
            await connector.close()
        assert raised is None
        assert sum(isinstance(i, DeviceEvent) for i in items) >= 3
    process.terminate()
    assert process.wait(timeout=15) == 0
    assert process.stderr is not None and PASSWORD.encode() not in process.stderr.read()


def test_an_unknown_connector_is_an_error_listing_the_installed_ones() -> None:
    result = CliRunner().invoke(cli, ["simulate", "no-such-connector"])
    assert result.exit_code == 2
    assert "no connector named 'no-such-connector'" in result.output
    assert "installed: " in result.output and "onvif" in result.output


def test_a_connector_without_a_simulator_says_how_to_name_one() -> None:
    bare = type("BareConnector", (ExampleConnector,), {"name": "bare", "simulator": None})
    with pytest.raises(click.UsageError, match="names no simulator: set `simulator = "):
        simulator_of(bare)


def test_simulate_lists_every_installed_connector() -> None:
    result = CliRunner().invoke(cli, ["simulate", "--help"])
    assert result.exit_code == 0
    for name in available_connectors():
        assert f"  {name} " in result.output

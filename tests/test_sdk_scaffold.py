"""``tilik connectors new`` generates a package built on the SDK's pieces that installs, registers
its entry point and passes the conformance kit unchanged."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors.sdk import EventMapper, EventRule, VendorConfig, VendorConnector
from connectors.sdk.cli import connectors
from connectors.sdk.conformance import checks
from connectors.sdk.scaffold import create_package
from connectors.sdk.simulation.device import StreamingDevice

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

TILIK = Path(sys.executable).parent / "tilik"


@pytest.fixture(scope="module")
def installed_package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp_path = tmp_path_factory.mktemp("scaffold")
    name = f"acme{uuid.uuid4().hex[:6]}"
    result = CliRunner().invoke(connectors, ["new", name, "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    root = tmp_path / f"tilik-{name}-connector"
    dist = f"tilik-{name}-connector"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-e",
            str(root),
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield name, root
    finally:
        subprocess.run(
            [sys.executable, "-m", "pip", "uninstall", "-q", "-y", dist],
            check=False,
            capture_output=True,
        )


def test_generated_package_passes_conformance_and_is_listed(
    installed_package: tuple[str, Path],
) -> None:
    name, root = installed_package
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    # Every check of the kit runs and passes: none is failed, skipped or declared away.
    assert f"{len(checks())} passed" in tests.stdout, tests.stdout[-3000:]
    assert "skipped" not in tests.stdout

    listing = subprocess.run(
        [str(TILIK), "connectors", "list", "--json"], capture_output=True, text=True, timeout=60
    )
    assert listing.returncode == 0, listing.stderr
    entries = {entry["name"]: entry for entry in json.loads(listing.stdout)}
    assert entries[name]["loaded"] is True
    assert entries[name]["source"] == f"tilik-{name}-connector"
    assert entries[name]["version"] == "0.1.0"


def test_generated_package_simulator_runs_on_its_own_with_a_fixed_password_and_events(
    installed_package: tuple[str, Path],
) -> None:
    name, _ = installed_package
    password = "Sandi-Integrator-3"
    simulator = subprocess.Popen(
        [TILIK, "simulate", name, "--password", password, "--event-rate", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert simulator.stdout is not None
        address = simulator.stdout.readline().decode().strip()
        assert address.startswith("127.0.0.1:"), address
        camel = name.capitalize()
        # The generated connector, untouched, against its own simulator: no glue, no trigger.
        script = f"""
import asyncio
from {name}_connector.connector import {camel}Config, {camel}Connector
from connectors.sdk.conformance import collect_events
from topics.models import DeviceEvent

async def main():
    connector = {camel}Connector({camel}Config(
        address="{address}", credential_ref="admin@env:TILIK_CAMERA_SECRET_SCAFFOLD"))
    assert (await connector.check()).ok
    items, _ = await collect_events(
        connector, want=lambda got: any(isinstance(i, DeviceEvent) for i in got), timeout_s=15)
    await connector.close()
    print(sum(isinstance(i, DeviceEvent) for i in items))

asyncio.run(main())
"""
        probe = subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "TILIK_CAMERA_SECRET_SCAFFOLD": password},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert probe.returncode == 0, probe.stderr[-3000:]
        assert int(probe.stdout.strip()) >= 1
        simulator.terminate()
        assert simulator.wait(timeout=15) == 0
    finally:
        if simulator.poll() is None:
            simulator.kill()
            simulator.wait()


def test_generated_package_layout(tmp_path: Path) -> None:
    root = create_package("river_gauge", tmp_path)
    pyproject = (root / "pyproject.toml").read_text()
    assert 'river_gauge = "river_gauge_connector.connector:RiverGaugeConnector"' in pyproject
    connector = (root / "river_gauge_connector" / "connector.py").read_text()
    assert 'name = "river_gauge"' in connector
    assert "class RiverGaugeConnector(VendorConnector[RiverGaugeConfig])" in connector
    assert "connectors.sdk.example" not in connector
    assert (
        "make_conformance_suite(RiverGaugeConnector"
        in (root / "tests" / "test_conformance.py").read_text()
    )


def test_generated_package_is_built_on_the_sdk_pieces(tmp_path: Path) -> None:
    """The generated connector writes only its device's wire format; identity, records, health,
    the event stream, its framing and the event mapping are the SDK's own."""
    root = create_package("river_gauge", tmp_path)
    sys.path.insert(0, str(root))
    try:
        connector = importlib.import_module("river_gauge_connector.connector")
        simulator = importlib.import_module("river_gauge_connector.simulator")
    finally:
        sys.path.remove(str(root))
        for module in [m for m in sys.modules if m.startswith("river_gauge_connector")]:
            del sys.modules[module]
    cls = connector.RiverGaugeConnector
    assert issubclass(cls, VendorConnector)
    assert issubclass(cls.config_model, VendorConfig)
    own = {name for name, value in vars(cls).items() if inspect.isfunction(value)}
    assert own == {
        "read_identity",
        "read_channels",
        "event_stream_request",
        "parse_part",
    }
    assert all(isinstance(rule, EventRule) for rule in cls.event_table.values())
    instance = cls(cls.config_model(address="127.0.0.1:1"))
    assert type(instance.mapper) is EventMapper
    assert issubclass(simulator.RiverGaugeSimulator.device_class, StreamingDevice)
    assert "RIVER_GAUGE_KIT" in vars(simulator)


@pytest.mark.parametrize("bad", ["Acme", "1acme", "a", "acme-cam", "acme cam"])
def test_invalid_names_are_refused(tmp_path: Path, bad: str) -> None:
    result = CliRunner().invoke(connectors, ["new", bad, "--dir", str(tmp_path)])
    assert result.exit_code != 0
    assert "must be lower-case letters" in result.output


def test_existing_directory_is_not_overwritten(tmp_path: Path) -> None:
    create_package("acme", tmp_path)
    result = CliRunner().invoke(connectors, ["new", "acme", "--dir", str(tmp_path)])
    assert result.exit_code != 0
    assert "already exists" in result.output

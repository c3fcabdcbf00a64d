"""Plugin registry: built-ins and entry points load; a broken plugin is listed with its error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.sdk.registry import (
    ConnectorLoadError,
    ConnectorNotFound,
    available_connectors,
    load_connector,
)

TILIK = Path(sys.executable).parent / "tilik"

BROKEN_ENTRY_POINTS = """\
[tilik.connectors]
missing_module = no_such_module_for_tilik:Thing
not_a_connector = json:dumps
misnamed = connectors.sdk.example.connector:ExampleConnector
"""


@pytest.fixture
def broken_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real installed-distribution layout (dist-info on sys.path) declaring broken plugins."""
    info = tmp_path / "tilik_broken_plugins-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: tilik-broken-plugins\nVersion: 1.2.3\n"
    )
    (info / "entry_points.txt").write_text(BROKEN_ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_builtin_connectors_load_with_versions() -> None:
    infos = available_connectors()
    for name in ("onvif", "hikvision", "dahua", "example"):
        assert infos[name].loaded, infos[name].error
        assert infos[name].builtin
        assert infos[name].version
    assert load_connector("example").name == "example"


def test_broken_plugins_are_listed_with_their_error(broken_plugins: Path) -> None:
    infos = available_connectors()
    assert "ModuleNotFoundError" in (infos["missing_module"].error or "")
    assert "not a subclass of connectors.sdk.Connector" in (infos["not_a_connector"].error or "")
    assert "must equal the entry-point name" in (infos["misnamed"].error or "")
    assert infos["missing_module"].as_dict()["source"] == "tilik-broken-plugins"
    assert infos["example"].loaded  # the others still load


def test_loading_reports_what_is_installed_or_what_failed(broken_plugins: Path) -> None:
    with pytest.raises(ConnectorNotFound, match=r"installed: .*example"):
        load_connector("nope")
    with pytest.raises(ConnectorLoadError, match="failed to load: ModuleNotFoundError"):
        load_connector("missing_module")


def test_cli_list_shows_broken_plugins_without_failing(broken_plugins: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(broken_plugins)}
    text = subprocess.run(
        [str(TILIK), "connectors", "list"], capture_output=True, text=True, env=env, timeout=60
    )
    assert text.returncode == 0, text.stderr
    line = next(row for row in text.stdout.splitlines() if row.startswith("missing_module"))
    assert "error: ModuleNotFoundError" in line
    listing = subprocess.run(
        [str(TILIK), "connectors", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    entries = {entry["name"]: entry for entry in json.loads(listing.stdout)}
    assert entries["onvif"]["loaded"] is True
    assert entries["misnamed"]["loaded"] is False

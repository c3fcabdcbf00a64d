"""``tilik demo``, the README's first command, at a small size: simulated cameras onboarded, the
hub and the connectors running as their own principals, and dispatches reaching the agencies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Principals

from topics.models import Agency

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(240)]

TILIK = Path(sys.executable).parent / "tilik"


def test_a_small_demo_delivers_dispatches_to_agencies(
    kafka_bootstrap: str, kafka_principals: Principals, tmp_path: Path
) -> None:
    # On a broker it did not start, the demo runs as the principals whose configs it is given;
    # it never rotates them (other tests' workers run as the same principals).
    result = subprocess.run(
        [TILIK, "demo", "--cameras", "4", "--nvr-channels", "2", "--duration", "90",
         "--until-dispatches", "1", "--bootstrap", kafka_bootstrap, "--state-dir", str(tmp_path),
         "--principals", str(kafka_principals.out)],
        capture_output=True,
        text=True,
        timeout=200,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    logs = "\n".join(
        f"--- {path.name}\n{path.read_text(errors='replace')[-1500:]}"
        for path in sorted((tmp_path / "demo").glob("*.log"))
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:] + logs
    agencies = {agency.value for agency in Agency}
    dispatched = [line for line in result.stdout.splitlines() if line.split(" ")[0] in agencies]
    assert dispatched, result.stdout
    summary = result.stdout.split("dispatches per agency: ", 1)[1].splitlines()[0]
    assert summary != "none" and summary.split(":")[0] in agencies
    # Everything the demo started is stopped at the end: its processes wrote their last lines.
    assert "stopping the demo's processes" in result.stderr

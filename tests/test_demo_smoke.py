"""``tilik demo``, the README's first command, at a small size: simulated cameras onboarded, the
hub and the connectors running as their own principals, and dispatches reaching the agencies;
with ``--map``, the command-center map answers while the demo runs, and once the demo ends no
process it started is left."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from conftest import Principals

from topics.access.roles import api_role
from topics.models import Agency

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(300)]

TILIK = Path(sys.executable).parent / "tilik"


def processes_of(state_dir: Path) -> list[int]:
    """Processes whose environment names ``state_dir``: every one the demo started."""
    mark = f"TILIK_STATE_DIR={state_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue  # gone, or not ours
        if mark in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


# A shell's background job starts with SIGINT ignored, and so would the demo if this suite runs
# as one (``make test &``): the demo is started with SIGINT at its default, as a terminal's
# foreground job has it, so that Ctrl-C reaches it wherever the suite runs.
AS_FROM_A_TERMINAL = [
    sys.executable,
    "-c",
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])",
]


def demo_command(
    kafka_bootstrap: str, principals: Principals, state_dir: Path, *options: str
) -> list[str | Path]:
    """``tilik demo --map`` on the session's broker, small. On a broker it did not start, the demo
    runs as the principals whose configs it is given; it never rotates them (other tests' workers
    run as the same principals)."""
    api_config = principals.out / "api" / "client.properties"
    if not api_config.exists():
        api_config.parent.mkdir(exist_ok=True)
        shutil.copy(principals.issue(api_role()), api_config)
    return [
        TILIK, "demo", "--cameras", "4", "--nvr-channels", "2", "--bootstrap", kafka_bootstrap,
        "--state-dir", str(state_dir), "--principals", str(principals.out), "--map", *options,
    ]  # fmt: skip


def test_a_small_demo_with_its_map_delivers_dispatches_and_leaves_nothing_running(
    kafka_bootstrap: str, kafka_principals: Principals, tmp_path: Path
) -> None:
    demo = subprocess.Popen(
        demo_command(
            kafka_bootstrap,
            kafka_principals,
            tmp_path,
            "--duration",
            "90",
            "--until-dispatches",
            "1",
            # Two simulator processes and two connector runtimes, as a big city has.
            "--cameras-per-process",
            "2",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert demo.stdout is not None and demo.stderr is not None
    stderr: list[str] = []
    reader = threading.Thread(target=lambda: stderr.extend(demo.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    lines: list[str] = []
    printed: dict[str, str] = {}
    for line in demo.stdout:
        lines.append(line)
        name, _, value = line.strip().partition(": ")
        if name in ("map", "operator key"):
            printed[name] = value.split()[0]
        if len(printed) == 2:
            break
    assert len(printed) == 2, "".join(lines) + "".join(stderr)

    # The map answers while the demo runs: the sign-in page, and the operator's view by key.
    map_url = printed["map"]
    page = httpx.get(map_url, timeout=60)
    assert page.status_code == 200 and "sign-in" in page.text
    view = httpx.get(
        map_url + "/view",
        headers={"Authorization": f"Bearer {printed['operator key']}"},
        timeout=60,
    )
    assert view.status_code == 200 and len(view.json()["coverage"]) == 16

    lines += demo.stdout.readlines()
    demo.wait(240)
    reader.join(10)
    output = "".join(lines)
    logs = "\n".join(
        f"--- {path.name}\n{path.read_text(errors='replace')[-1500:]}"
        for path in sorted((tmp_path / "demo").glob("*.log"))
    )
    assert demo.returncode == 0, output[-2000:] + "".join(stderr)[-3000:] + logs
    agencies = {agency.value for agency in Agency}
    dispatched = [line for line in output.splitlines() if line.split(" ")[0] in agencies]
    assert dispatched, output
    summary = output.split("dispatches per agency: ", 1)[1].splitlines()[0]
    assert summary != "none" and summary.split(":")[0] in agencies

    logs_of = {path.name for path in (tmp_path / "demo").glob("*.log")}
    assert {"sim-onvif.log", "sim-onvif-1.log"} <= logs_of
    assert {"connector-onvif-0.log", "connector-onvif-1.log"} <= logs_of

    # Everything the demo started is stopped: no process of it remains, the map is gone.
    assert "stopping the demo's processes" in "".join(stderr)
    assert not processes_of(tmp_path)
    with pytest.raises(httpx.ConnectError):
        httpx.get(map_url, timeout=5)


def test_a_demo_interrupted_with_ctrl_c_leaves_nothing_running(
    kafka_bootstrap: str, kafka_principals: Principals, tmp_path: Path
) -> None:
    with (tmp_path / "demo-stderr.txt").open("w") as stderr:
        demo = subprocess.Popen(
            [
                *AS_FROM_A_TERMINAL,
                *demo_command(kafka_bootstrap, kafka_principals, tmp_path, "--duration", "600"),
            ],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            stdin=subprocess.DEVNULL,
            # A terminal of its own: Ctrl-C signals the whole foreground group.
            start_new_session=True,
        )
        assert demo.stdout is not None
        for line in demo.stdout:
            if line.startswith("map: "):
                map_url = line.split()[1]
                break
        else:
            pytest.fail(
                "the demo never printed its map: " + (tmp_path / "demo-stderr.txt").read_text()
            )
        assert httpx.get(map_url, timeout=60).status_code == 200
        assert processes_of(tmp_path)
        os.killpg(demo.pid, signal.SIGINT)
        demo.stdout.read()
        demo.wait(120)
    assert "stopping the demo's processes" in (tmp_path / "demo-stderr.txt").read_text()
    assert not processes_of(tmp_path)
    with pytest.raises(httpx.ConnectError):
        httpx.get(map_url, timeout=5)

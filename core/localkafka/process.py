"""Starts, recognises and stops broker JVMs through pid files, surviving the CLI that started them."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from core.localkafka.errors import LocalKafkaError
from core.orphans import ends_with_parent

KAFKA_MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL_CLASS = "kafka.tools.StorageTool"

# Children of this process, kept so they can be reaped; a pid file alone cannot wait on a child.
_children: dict[int, tuple[subprocess.Popen[bytes], tuple[str, ...]]] = {}


def java_executable() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise LocalKafkaError(
            "Java 17 or newer ('java' on PATH or JAVA_HOME) is needed to run Kafka"
        )
    return java


def classpath(libs: Path) -> str:
    return str(libs / "*")


def broker_command(libs: Path, properties: Path, log4j2: Path, heap_mb: int) -> list[str]:
    return [
        java_executable(),
        f"-Xmx{heap_mb}m",
        f"-Xms{min(heap_mb, 256)}m",
        f"-Dlog4j2.configurationFile={log4j2}",
        "-Djava.awt.headless=true",
        "-cp",
        classpath(libs),
        KAFKA_MAIN_CLASS,
        str(properties),
    ]


def format_storage(
    libs: Path,
    properties_files: list[Path],
    cluster_id: str,
    timeout: float = 120.0,
    scram_credentials: tuple[str, ...] = (),
) -> None:
    """Formats each node's log dirs for the cluster id; the tools run side by side to save JVM starts.

    ``scram_credentials`` are ``--add-scram`` arguments (salted, see ``security``): users that
    exist from the cluster's first metadata record on, such as the admin.
    """
    extra = [
        argument for credential in scram_credentials for argument in ("--add-scram", credential)
    ]
    running = [
        (
            properties,
            subprocess.Popen(
                [
                    java_executable(),
                    "-cp",
                    classpath(libs),
                    STORAGE_TOOL_CLASS,
                    "format",
                    "-t",
                    cluster_id,
                    "-c",
                    str(properties),
                    *extra,
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            ),
        )
        for properties in properties_files
    ]
    failures: list[str] = []
    for properties, tool in running:
        try:
            output, _ = tool.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            tool.kill()
            output, _ = tool.communicate()
        if tool.returncode != 0:
            failures.append(f"{properties}: {output.decode(errors='replace').strip()[-1000:]}")
    if failures:
        raise LocalKafkaError("formatting KRaft storage failed:\n" + "\n".join(failures))


def spawn_detached(
    command: list[str], output_file: Path, cwd: Path, stop_with_parent: bool = False
) -> int:
    """Runs the command in its own session so a terminal's Ctrl-C or a closing CLI leaves it alone.

    ``stop_with_parent`` asks the kernel (Linux) to SIGTERM the child when this process dies,
    however it dies: a test session killed by a timeout must not leave a broker behind.
    """
    output_file.parent.mkdir(parents=True, exist_ok=True)
    with output_file.open("ab") as output:
        child = subprocess.Popen(
            command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=ends_with_parent() if stop_with_parent else None,
        )
    _children[child.pid] = (child, tuple(command))
    return child.pid


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text(encoding="ascii").strip())
    except (FileNotFoundError, ValueError):
        return None


def write_pid(pid_file: Path, pid: int) -> None:
    staged = pid_file.with_suffix(".tmp")
    staged.write_text(f"{pid}\n", encoding="ascii")
    staged.replace(pid_file)


def is_broker_process(pid: int, properties: Path) -> bool:
    """True when ``pid`` is alive and is the Kafka JVM started for exactly this node's properties.

    Checking the command line, not just the pid, is what makes a stale pid file safe: after a
    reboot the number may belong to an unrelated process that must never be signalled.
    """
    known = _children.get(pid)
    if known is not None:
        child, command = known
        # The pid is this process's own child: ask the kernel through wait(), since /proc shows an
        # empty command line while the JVM launcher is between fork and exec.
        if child.poll() is None:
            return str(properties) in command
        del _children[pid]
        return False
    arguments = _command_line(pid)
    return arguments is not None and KAFKA_MAIN_CLASS in arguments and str(properties) in arguments


def terminate(processes: list[tuple[int, Path]], timeout: float) -> None:
    """SIGTERM to every ``(pid, properties)`` at once, then SIGKILL to those alive after ``timeout`` s.

    All nodes are signalled together: stopped one by one, the last nodes of a quorum lose their
    controller majority and would wait out the whole timeout trying to shut down cleanly.
    """
    alive = [
        (pid, properties) for pid, properties in processes if is_broker_process(pid, properties)
    ]
    for pid, _ in alive:
        _signal(pid, signal.SIGTERM)
    alive = _wait_gone(alive, timeout)
    for pid, _ in alive:
        _signal(pid, signal.SIGKILL)
    survivors = _wait_gone(alive, 10.0)
    if survivors:
        raise LocalKafkaError(f"broker processes {[pid for pid, _ in survivors]} survived SIGKILL")


def _wait_gone(processes: list[tuple[int, Path]], timeout: float) -> list[tuple[int, Path]]:
    deadline = time.monotonic() + timeout
    while True:
        processes = [(pid, props) for pid, props in processes if is_broker_process(pid, props)]
        if not processes or time.monotonic() >= deadline:
            return processes
        time.sleep(0.1)


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _command_line(pid: int) -> list[str] | None:
    proc_cmdline = Path(f"/proc/{pid}/cmdline")
    if Path("/proc/self/cmdline").exists():
        try:
            raw = proc_cmdline.read_bytes()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            return None
        # A zombie has an empty command line: it is no longer a running broker.
        return raw.decode(errors="replace").split("\0") if raw else None
    result = subprocess.run(
        ["ps", "-ww", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False
    )
    text = result.stdout.strip()
    return text.split() if result.returncode == 0 and text else None

"""CPU caps for benchmarked processes: each one in a cgroup of its own, with a CFS quota.

Whether a second worker doubles the hub's capacity can only be read where each worker gets the
same CPU alone as beside the other. On a machine whose few cores the broker and the load
generator share, two uncapped workers get what is left, not a core each. Capped at ``cpus``
each (say 0.5 on two cores), one worker and two workers get the same CPU per worker, and what
the second adds is the hub's scaling, not the machine's spare capacity.

Linux only, and it needs write access to the ``cpu`` controller: cgroup v1 (a hierarchy mounted
with the ``cpu`` option) or v2 (the unified hierarchy with ``cpu`` among its controllers).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PERIOD_US = 100_000


class CpuCapError(RuntimeError):
    """No cgroup ``cpu`` controller this process may use."""


@dataclass(frozen=True)
class CpuCaps:
    """Where this process's cgroups live: the directory new ones go under, and the version."""

    parent: Path
    version: int

    @classmethod
    def find(
        cls, mounts: Path = Path("/proc/mounts"), own: Path = Path("/proc/self/cgroup")
    ) -> CpuCaps:
        """The ``cpu`` hierarchy, below the cgroup this process is in (v1 preferred)."""
        memberships = own.read_text().splitlines() if own.exists() else []
        v1: Path | None = None
        v2: Path | None = None
        for line in mounts.read_text().splitlines() if mounts.exists() else []:
            fields = line.split()
            if len(fields) < 4:
                continue
            where, kind, options = Path(fields[1]), fields[2], fields[3].split(",")
            if kind == "cgroup" and "cpu" in options and v1 is None:
                v1 = where / _own_path(memberships, lambda c: "cpu" in c.split(","))
            elif kind == "cgroup2" and v2 is None:
                controllers = where / "cgroup.controllers"
                if controllers.exists() and "cpu" in controllers.read_text().split():
                    v2 = where / _own_path(memberships, lambda c: c == "")
        if v1 is not None:
            return cls(v1, 1)
        if v2 is not None:
            return cls(v2, 2)
        raise CpuCapError("no cgroup hierarchy with the cpu controller is mounted")

    def cap(self, pid: int, cpus: float, name: str) -> Path:
        """Put ``pid`` (all its threads) into a new cgroup ``name`` limited to ``cpus`` cores."""
        if cpus <= 0:
            raise ValueError(f"a CPU cap must be positive, not {cpus}")
        group = self.parent / name
        quota = max(1000, round(cpus * PERIOD_US))
        try:
            if self.version == 2:
                control = self.parent / "cgroup.subtree_control"
                if "cpu" not in control.read_text().split():
                    control.write_text("+cpu")
            group.mkdir(exist_ok=True)
            if self.version == 1:
                (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (group / "cpu.cfs_quota_us").write_text(str(quota))
            else:
                (group / "cpu.max").write_text(f"{quota} {PERIOD_US}")
            (group / "cgroup.procs").write_text(str(pid))
        except OSError as exc:
            raise CpuCapError(f"cannot cap process {pid} in {group}: {exc}") from exc
        return group

    @staticmethod
    def release(group: Path) -> None:
        """Remove a cgroup whose processes have exited (left in place while any remain)."""
        with contextlib.suppress(OSError):
            group.rmdir()


def _own_path(memberships: list[str], controllers_match: Callable[[str], bool]) -> str:
    """This process's path in the hierarchy whose controllers match, relative ("" for the root)."""
    for line in memberships:
        _, controllers, path = line.split(":", 2)
        if controllers_match(controllers):
            return path.lstrip("/")
    return ""

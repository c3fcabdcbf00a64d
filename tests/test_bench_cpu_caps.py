"""The benchmark's CPU caps (bench/cpu_caps.py) find the cpu controller and write its files.

Run against a made-up cgroup tree: what a cap does to a real process is what the hub benchmark's
``--worker-cpus`` runs measure.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load_cpu_caps() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_cpu_caps", BENCH / "cpu_caps.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


cpu_caps = load_cpu_caps()


def unified_root(tmp_path: Path, controllers: str) -> Path:
    """A made-up cgroup v2 hierarchy offering ``controllers``."""
    root = tmp_path / "unified"
    root.mkdir()
    (root / "cgroup.controllers").write_text(f"{controllers}\n")
    return root


def proc_files(tmp_path: Path, mounts: str, own: str) -> tuple[Path, Path]:
    (tmp_path / "mounts").write_text(mounts)
    (tmp_path / "cgroup").write_text(own)
    return tmp_path / "mounts", tmp_path / "cgroup"


def test_a_v1_cpu_hierarchy_is_found_below_the_cgroup_this_process_is_in(tmp_path: Path) -> None:
    root = tmp_path / "fs" / "cpu,cpuacct"
    (root / "session").mkdir(parents=True)
    mounts, own = proc_files(
        tmp_path,
        f"proc /proc proc rw 0 0\ncgroup {root} cgroup rw,relatime,cpu,cpuacct 0 0\n",
        "4:memory:/other\n3:cpu,cpuacct:/session\n0::/\n",
    )
    caps = cpu_caps.CpuCaps.find(mounts, own)
    assert caps == cpu_caps.CpuCaps(root / "session", 1)


def test_a_v1_cap_sets_the_quota_and_moves_the_process(tmp_path: Path) -> None:
    caps = cpu_caps.CpuCaps(tmp_path, 1)
    group = caps.cap(4242, 0.5, "tilik-bench-w1")
    assert group == tmp_path / "tilik-bench-w1"
    assert (group / "cpu.cfs_period_us").read_text() == "100000"
    assert (group / "cpu.cfs_quota_us").read_text() == "50000"
    assert (group / "cgroup.procs").read_text() == "4242"


def test_v2_is_used_where_its_hierarchy_has_the_cpu_controller(tmp_path: Path) -> None:
    root = unified_root(tmp_path, "cpuset cpu io memory pids")
    (root / "cgroup.subtree_control").write_text("memory\n")
    mounts, own = proc_files(tmp_path, f"cgroup2 {root} cgroup2 rw 0 0\n", "0::/\n")
    caps = cpu_caps.CpuCaps.find(mounts, own)
    assert caps == cpu_caps.CpuCaps(root, 2)
    group = caps.cap(7, 1.5, "tilik-bench-w2")
    assert (root / "cgroup.subtree_control").read_text() == "+cpu"
    assert (group / "cpu.max").read_text() == "150000 100000"
    assert (group / "cgroup.procs").read_text() == "7"


def test_no_cpu_controller_is_a_clear_error(tmp_path: Path) -> None:
    root = unified_root(tmp_path, "memory pids")
    mounts, own = proc_files(
        tmp_path,
        f"cgroup2 {root} cgroup2 rw 0 0\ncgroup /x cgroup rw,memory 0 0\n",
        "0::/\n",
    )
    with pytest.raises(cpu_caps.CpuCapError, match="cpu controller"):
        cpu_caps.CpuCaps.find(mounts, own)


def test_a_cap_that_cannot_be_written_names_the_process_and_the_group(tmp_path: Path) -> None:
    caps = cpu_caps.CpuCaps(tmp_path / "absent" / "deeper", 1)
    with pytest.raises(cpu_caps.CpuCapError, match=r"cannot cap process 99 in .*tilik-bench-w3"):
        caps.cap(99, 0.5, "tilik-bench-w3")


def test_a_cap_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="positive"):
        cpu_caps.CpuCaps(tmp_path, 1).cap(1, 0, "tilik-bench-w4")


def test_release_removes_an_empty_group_and_leaves_a_busy_one(tmp_path: Path) -> None:
    empty, busy = tmp_path / "empty", tmp_path / "busy"
    empty.mkdir()
    busy.mkdir()
    (busy / "cgroup.procs").write_text("1")  # a real cgroup with processes refuses rmdir too
    cpu_caps.CpuCaps.release(empty)
    cpu_caps.CpuCaps.release(busy)
    assert not empty.exists()
    assert busy.exists()

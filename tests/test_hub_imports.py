"""The hub's parts import each other one way: no import cycle between its modules and packages.

A part is a top-level module of ``hub`` or one of its packages (``hub.rules`` with everything in
it); an import anywhere in a part, deferred ones included, is an edge to the part it names.
"""

from __future__ import annotations

import ast
from pathlib import Path

HUB = Path(__file__).resolve().parent.parent / "hub"


def part_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def module_name(path: Path, root: Path) -> str:
    name = ".".join(path.relative_to(root.parent).with_suffix("").parts)
    return name.removesuffix(".__init__")


def imported(tree: ast.AST, module: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the importing module's package
                base = ".".join([*module.split(".")[: -node.level], *([base] if base else [])])
            # ``from hub import config`` names the module hub.config.
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return found


def part_graph(root: Path = HUB) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        source = part_of(module)
        targets = graph.setdefault(source, set())
        for name in imported(ast.parse(path.read_text(encoding="utf-8")), module):
            if name == "hub" or name.startswith("hub."):
                target = part_of(name)
                if target not in (source, "hub"):
                    targets.add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one part (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_the_parts_of_the_hub() -> None:
    assert cycles(part_graph()) == []


def test_a_new_cycle_would_be_found(tmp_path: Path) -> None:
    """The check sees a cycle through a package and a deferred import, the kind the hub had."""
    root = tmp_path / "hub"
    (root / "delivery").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "delivery" / "__init__.py").write_text("")
    (root / "config.py").write_text("from hub.delivery.policy import RetryPolicy\n")
    (root / "delivery" / "policy.py").write_text("RetryPolicy = int\n")
    (root / "delivery" / "agents.py").write_text("def install():\n    from hub import config\n")
    assert cycles(part_graph(root)) == [["hub.config", "hub.delivery"]]

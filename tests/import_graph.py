"""The import graph of Tilik's own packages, read from the source (nothing is imported).

An import anywhere in a module counts: at the top, inside a function (a lazy import still
depends on its target) or under ``TYPE_CHECKING``. So do ``importlib.import_module("…")``
literals and ``"package.module:attribute"`` strings, which lazy command tables and plugin
targets use; those strings are marked ``named``: they are imported only when used, never when the
naming module is.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "topics", "connectors", "hub", "api", "tilik")


@dataclass(frozen=True)
class Import:
    """One dependency: ``source`` imports ``target`` at ``path:line``."""

    source: str
    target: str
    path: Path
    line: int
    #: named as a ``"module:attribute"`` string, imported only when used
    named: bool = False

    @property
    def source_package(self) -> str:
        return self.source.split(".")[0]

    @property
    def target_package(self) -> str:
        return self.target.split(".")[0]

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.source} -> {self.target}"


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(package: str, root: Path = ROOT) -> dict[str, Path]:
    """Every module of ``package`` by dotted name."""
    return {module_name(path, root): path for path in sorted((root / package).rglob("*.py"))}


def _absolute(module: str, path: Path, level: int, name: str | None) -> str:
    if not level:
        return name or ""
    base = module.split(".")
    if path.name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([name] if name else [])])


def _targets(node: ast.AST, module: str, path: Path, known: set[str]) -> Iterator[tuple[str, bool]]:
    if isinstance(node, ast.Import):
        yield from ((alias.name, False) for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = _absolute(module, path, node.level, node.module)
        for alias in node.names:
            # ``from package import submodule`` depends on the submodule itself.
            submodule = f"{base}.{alias.name}"
            yield (submodule if submodule in known else base), False
    elif isinstance(node, ast.Constant) and isinstance(node.value, str):
        module_part, colon, _ = node.value.partition(":")
        if colon and module_part in known:
            yield module_part, True
    elif (
        isinstance(node, ast.Call)
        and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        yield node.args[0].value, False


def imports(packages: Iterable[str] = PACKAGES, *, root: Path = ROOT) -> list[Import]:
    """Every import from a module of ``packages`` to a module of Tilik's packages (under ``root``)."""
    known = {name for package in PACKAGES for name in modules(package, root)}
    found = []
    for package in packages:
        for module, path in modules(package, root).items():
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                for target, named in _targets(node, module, path, known):
                    if target.split(".")[0] in PACKAGES:
                        line = getattr(node, "lineno", 0)
                        relative = path.relative_to(root)
                        found.append(Import(module, _nearest(target, known), relative, line, named))
    return found


def _nearest(target: str, known: set[str]) -> str:
    """The module an import names: itself, or the package whose attribute it is."""
    parts = target.split(".")
    while len(parts) > 1 and ".".join(parts) not in known:
        parts.pop()
    return ".".join(parts)


def cycles(edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (or a self loop), each sorted."""
    graph: dict[str, set[str]] = {}
    for source, target in edges:
        graph.setdefault(source, set()).add(target)
        graph.setdefault(target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        # Tarjan's algorithm, recursive: the graphs here are a few hundred modules.
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)

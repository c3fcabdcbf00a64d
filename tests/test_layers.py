"""Layers run one way: core at the base, the topic catalog on it, connectors and the hub above,
the CLI and demo on top; no import cycle between packages, nor between the modules of one.

docs/architecture.md draws the picture these tests hold the code to.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from import_graph import PACKAGES, Import, cycles, imports

#: what each package may import of Tilik's own (besides itself)
MAY_IMPORT: dict[str, set[str]] = {
    "core": set(),
    "topics": {"core"},
    "connectors": {"core", "topics"},
    "hub": {"core", "topics"},
    "api": {"core", "topics", "connectors"},
    "tilik": {"core", "topics", "connectors", "hub", "api"},
}
#: packages whose modules import each other without a cycle
ACYCLIC_MODULES = ["core", "topics", "connectors", "api", "tilik", "hub"]


def upward_imports(found: list[Import]) -> list[Import]:
    return [
        i
        for i in found
        if i.target_package != i.source_package
        and i.target_package not in MAY_IMPORT[i.source_package]
    ]


def module_cycles(found: list[Import], package: str) -> list[list[str]]:
    # A named target ("module:attribute") is imported only when used: no cycle at import time.
    return cycles(
        (i.source, i.target)
        for i in found
        if not i.named
        and i.source_package == package
        and i.target_package == package
        and i.source != i.target
    )


def describe(found: list[Import], component: list[str]) -> str:
    members = set(component)
    lines = [str(i) for i in found if i.source in members and i.target in members and not i.named]
    return " <-> ".join(component) + "\n    " + "\n    ".join(lines)


def test_every_package_has_a_layer() -> None:
    assert set(MAY_IMPORT) == set(PACKAGES)


def test_packages_import_only_the_layers_below_them() -> None:
    wrong = upward_imports(imports())
    assert not wrong, "imports against the layers (see docs/architecture.md):\n" + "\n".join(
        map(str, wrong)
    )


def test_no_import_cycle_between_packages() -> None:
    found = cycles(
        (i.source_package, i.target_package)
        for i in imports()
        if i.source_package != i.target_package
    )
    assert not found, f"packages importing each other: {found}"


@pytest.mark.parametrize("package", ACYCLIC_MODULES)
def test_no_import_cycle_between_the_modules_of(package: str) -> None:
    found = imports([package])
    assert not (components := module_cycles(found, package)), "\n".join(
        describe(found, component) for component in components
    )


# --- the checks themselves find what they look for --------------------------------------------


def write(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_a_lazy_upward_import_and_a_cycle_through_it_are_found(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "core/__init__.py": "",
            "core/base.py": "def late():\n    from topics import catalog\n    return catalog\n",
            "topics/__init__.py": "",
            "topics/catalog.py": "from core.base import late\n",
        },
    )
    found = imports(["core", "topics"], root=root)
    assert [str(i) for i in upward_imports(found)] == [
        "core/base.py:2: core.base -> topics.catalog"
    ]
    edges = {(i.source_package, i.target_package) for i in found}
    assert cycles(edges - {("core", "core"), ("topics", "topics")}) == [["core", "topics"]]


def test_a_cycle_between_modules_of_a_package_is_found_but_not_one_through_a_named_target(
    tmp_path: Path,
) -> None:
    root = write(
        tmp_path,
        {
            "connectors/__init__.py": "",
            "connectors/a.py": "from connectors import b\n",
            "connectors/b.py": "import importlib\nimportlib.import_module('connectors.c')\n",
            "connectors/c.py": "from connectors.a import thing\n",
            # A connector naming its simulator: imported only when used.
            "connectors/plugin.py": "simulator = 'connectors.sim:run'\n",
            "connectors/sim.py": "from connectors.plugin import simulator\n",
        },
    )
    found = imports(["connectors"], root=root)
    assert module_cycles(found, "connectors") == [["connectors.a", "connectors.b", "connectors.c"]]

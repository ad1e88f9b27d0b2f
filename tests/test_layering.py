"""The import graph of videozoo's own modules has no cycle (imports only point down).

Every ``import videozoo...`` / ``from videozoo... import ...`` of every module is an arrow,
wherever it is written (top level or inside a function: both are dependencies); an arrow to a
package ``__init__`` only when that module is named itself. Every module must also import.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import videozoo

ROOT = Path(videozoo.__file__).parent


def module_names() -> dict[str, Path]:
    """``{"videozoo.engine.train": path}`` for every .py file of the package."""
    names = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The videozoo modules ``name`` imports, resolved to the modules that exist."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            # `from pkg import mod` names a module; `from mod import name` names the module
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        found.update(target for target in targets if target in known and target != name)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_among_videozoo_modules():
    names = module_names()
    graph = {name: imported_modules(name, path, set(names)) for name, path in names.items()}
    assert len(graph) > 50
    assert "videozoo.serialization.checkpoint" in graph["videozoo.engine.train"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_serialization_sits_below_the_engine():
    names = module_names()
    upward = {
        (name, target)
        for name, path in names.items()
        if name.startswith("videozoo.serialization")
        for target in imported_modules(name, path, set(names))
        if target.startswith(("videozoo.engine", "videozoo.api", "videozoo.cli"))
    }
    assert upward == set()


# Modules that need an optional extra (or a server stack) to import at all.
OPTIONAL = {"videozoo.serve": "fastapi"}


@pytest.mark.parametrize(
    "name", sorted(n for n in module_names() if not n.endswith("__main__"))
)  # they run the CLI
def test_every_module_imports(name):
    if name in OPTIONAL:
        pytest.importorskip(OPTIONAL[name])
    importlib.import_module(name)

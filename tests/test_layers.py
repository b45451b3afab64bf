"""The package's layers, read from its imports with ``ast``: every import counts, those inside
functions and under ``TYPE_CHECKING`` included, because a function-level import is still a
dependency (it only hides a cycle from the interpreter, not from the reader)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "httpie_stytch_connected"

#: Bottom to top. A module may import its own package and anything in a lower layer, never a
#: sibling of its own layer nor anything above it. The adapters (``auth`` for requests,
#: ``httpx`` and ``httpx2``, whose one flow is ``httpx_flow``) and the helpers users test with
#: (``testing``) stand on the composition root; the package's facade re-exports the requests
#: adapter; HTTPie's plugin and the demo are built on it, and the command on all of them.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"errors", "messages", "waits"}),
    frozenset({"oauth"}),
    frozenset({"storage", "login"}),
    frozenset({"settings", "lifecycle"}),
    frozenset({"zero_config"}),
    frozenset({"managed", "warm"}),
    frozenset({"httpx_flow"}),
    frozenset({"auth", "httpx", "httpx2", "testing"}),
    frozenset({"__init__"}),
    frozenset({"httpie_plugin", "demo"}),
    frozenset({"cli"}),
    frozenset({"__main__"}),
)


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


MODULES = {_module(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str) -> set[str]:
    """The package's modules ``name`` imports, wherever in the file the import stands."""
    path = MODULES[name]
    base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - node.level + 1]
                target = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            candidates = [target, *(f"{target}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        found.update(c for c in candidates if c in MODULES and c != name)
    return found


GRAPH = {name: _imports(name) for name in MODULES}


def _unit(name: str) -> str:
    """The first name below the package: a subpackage, or a top-level module."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _layer(name: str) -> int:
    unit = _unit(name)
    for index, members in enumerate(LAYERS):
        if unit in members:
            return index
    raise AssertionError(f"{name} is in no layer: add its package to LAYERS")


def test_every_module_is_in_a_layer() -> None:
    for name in MODULES:
        _layer(name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_module_imports_only_its_own_package_and_lower_layers(name: str) -> None:
    wrong = sorted(
        target
        for target in GRAPH[name]
        if _unit(target) != _unit(name) and _layer(target) >= _layer(name)
    )
    assert not wrong, f"{name} (layer {_layer(name)}) imports {wrong}"


def test_no_import_cycle_between_modules() -> None:
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, path)
        path.pop()
        state[node] = 2

    for name in sorted(MODULES):
        if name not in state:
            visit(name, [])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_protocol_layer_imports_no_storage_settings_adapter_or_command() -> None:
    for name in MODULES:
        if _unit(name) == "oauth":
            assert all(_layer(t) <= _layer(name) for t in GRAPH[name]), name


def test_the_walk_sees_function_level_imports() -> None:
    """The walk itself: a function-level import in a known module is found (else the cycle
    test above would pass on a package that only hides its cycles)."""
    assert "httpie_stytch_connected.zero_config.chain" in GRAPH["httpie_stytch_connected.managed"]

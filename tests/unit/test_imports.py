"""The project's imports: no cycles, and the layers' direction (issue #16, STYLE.md §2).

Every ``import`` and ``from ... import`` of broker/, gateway/ and presence/ is read
from the source (function-local ones too: a cycle hidden in a function is still a
cycle), and the module graph must have no cycle, not even by name: the command
modules import ``broker.table`` (to register), ``broker.client`` (``Client``) and
``broker.results`` (``Blocked``, ``Replies`` ...), none of which imports them or the
core; the core runs ``broker.commands.load()``, which imports them.

Imports under ``if TYPE_CHECKING:`` name types only and never run. They count in
gateway/ and presence/, which have no cycle even so. In broker/ they count too but
for the type-only imports of its two hub types, ``Broker`` (``broker.core``) and
``Client`` (``broker.client``): every part the broker owns (keyspace, evictor,
tracking, monitors, pause, scripts ...) keeps a typed reference to that owner, and
a client's state names the parts it uses (its user, db, tracking mode, MULTI
queue of commands), so those two are named from below by design. Any other
type-only cycle (as ``stream`` <-> ``stream_groups`` was) fails.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("broker", "gateway", "presence")


def _modules(root: Path) -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _type_only(tree: ast.Module) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:``."""
    nodes: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            nodes.update(id(child) for statement in node.body for child in ast.walk(statement))
    return nodes


def _graph(with_type_only: bool, root: Path = ROOT) -> dict[str, set[str]]:
    modules = _modules(root)

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        skip = set() if with_type_only else _type_only(tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                targets.update(filter(None, (resolve(alias.name) for alias in node.names)))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:  # "from gateway import node" imports the module gateway.node
                    target = resolve(f"{base}.{alias.name}") if f"{base}.{alias.name}" in modules else resolve(base)
                    if target:
                        targets.add(target)
        targets.discard(name)
        graph[name] = targets
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


# The broker's hub types, which its parts may name for types only (see above).
HUBS = {"broker.core", "broker.client"}


def test_no_import_cycles():
    assert _cycles(_graph(with_type_only=False)) == []


def test_no_import_cycles_in_the_broker_for_types_but_its_hub_types():
    runtime, graph = _graph(with_type_only=False), _graph(with_type_only=True)
    ours = {module: {target for target in targets if target in runtime[module] or target not in HUBS}
            for module, targets in graph.items() if module.startswith("broker")}
    assert _cycles(ours) == []


def test_no_import_cycles_in_the_gateway_and_presence_even_for_types():
    graph = _graph(with_type_only=True)
    ours = {module: {target for target in targets if not target.startswith("broker")}
            for module, targets in graph.items() if not module.startswith("broker")}
    assert _cycles(ours) == []


def test_the_broker_never_imports_the_gateway_or_presence():
    graph = _graph(with_type_only=True)
    wrong = {module: sorted(target for target in targets if target.startswith(("gateway", "presence")))
             for module, targets in graph.items() if module.startswith("broker")}
    assert {module: targets for module, targets in wrong.items() if targets} == {}


def test_presence_never_imports_the_gateway():
    graph = _graph(with_type_only=True)
    assert {module: sorted(targets) for module, targets in graph.items()
            if module.startswith("presence") and any(t.startswith("gateway") for t in targets)} == {}


def test_the_check_finds_a_cycle_hidden_in_a_function(tmp_path):
    """The walker itself: a function-local import back is a cycle (as wsserver <-> app
    was); a relative import resolves; a type-only import counts only when asked."""
    package = tmp_path / "gateway"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from gateway import b\n")
    (package / "b.py").write_text("def f():\n    from .a import x\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from gateway.d import D\n")
    (package / "d.py").write_text("import gateway.c\n")
    assert _cycles(_graph(with_type_only=False, root=tmp_path)) == [["gateway.a", "gateway.b"]]
    assert _cycles(_graph(with_type_only=True, root=tmp_path)) == [["gateway.a", "gateway.b"],
                                                                    ["gateway.c", "gateway.d"]]

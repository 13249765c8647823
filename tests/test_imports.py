"""The package's import graph: imports flow one way, from adapters to the core.

The graph is read from the source with :mod:`ast`, without importing the
package. Every ``import`` and ``from ... import`` of a module of the package
is an edge, relative or absolute, at module level, inside a function or under
``if TYPE_CHECKING:``: a cycle that only type checkers follow is still a
cycle, and an import inside a function only hides one from the reader.

* ``from . import x`` and ``from .pkg import x``, where ``x`` is a submodule,
  import the submodule ``x``: Python imports the package first, but a
  submodule is always imported after its package, so this is no edge back to
  the package's ``__init__``.
* ``from .mod import name`` and ``from . import name``, where ``name`` is
  defined in ``mod`` or in the package's ``__init__``, import that module:
  the importer needs it to have run.
* A package's ``__init__`` importing its submodules imports them; a submodule
  is no importer of its package merely by being in it.

"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterable, Mapping
from pathlib import Path

PACKAGE = "websockets_routes"

SOURCE = Path(__file__).resolve().parents[1] / PACKAGE

CORE = [
    "table",
    "router",
    "views",
    "path",
    "urls",
    "converters",
    "options",
    "exceptions",
]

ADAPTERS = ["server", "legacy", "hub"]

# Importer -> imported module -> line of the first such import.
Graph = dict[str, dict[str, int]]


def find_modules(root: Path, package: str) -> dict[str, Path]:
    """Map the dotted name of every module under ``root`` to its file."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def import_graph(root: Path, package: str) -> Graph:
    """Read the imports between the modules of a package."""
    modules = find_modules(root, package)
    graph: Graph = {}
    for name, path in modules.items():
        edges = graph[name] = {}
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for target in _targets(node, name, path.name == "__init__.py", modules):
                # A module that imports itself (from . import x, inside x)
                # gets nothing it doesn't have: no edge.
                if target != name:
                    edges[target] = min(edges.get(target, node.lineno), node.lineno)
    return graph


def _targets(
    node: ast.Import | ast.ImportFrom,
    name: str,
    is_package: bool,
    modules: Mapping[str, Path],
) -> list[str]:
    if isinstance(node, ast.Import):
        targets = [_longest_module(alias.name, modules) for alias in node.names]
        return [target for target in targets if target is not None]
    if node.level == 0:
        base = node.module or ""
    else:
        parts = name.split(".") if is_package else name.split(".")[:-1]
        parts = parts[: len(parts) - node.level + 1]
        base = ".".join([*parts, node.module] if node.module else parts)
    if base not in modules:
        return []
    submodules = [f"{base}.{alias.name}" for alias in node.names]
    return [target if target in modules else base for target in submodules]


def _longest_module(dotted: str, modules: Mapping[str, Path]) -> str | None:
    # import a.b.c binds a but runs a.b.c: the edge goes to the deepest module.
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in modules:
            return ".".join(parts[:end])
    return None


def find_cycles(graph: Graph) -> list[list[str]]:
    """Return cycles of the graph, at least one in each group of modules that
    import one another, each starting and ending with the same module."""
    cycles: list[list[str]] = []
    done: set[str] = set()
    stack: list[str] = []

    def visit(module: str) -> None:
        stack.append(module)
        for target in graph.get(module, {}):
            if target in stack:
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in done:
                visit(target)
        stack.pop()
        done.add(module)

    for module in graph:
        if module not in done:
            visit(module)
    return cycles


def find_path(graph: Graph, source: str, targets: Iterable[str]) -> list[str] | None:
    """Return a chain of imports from ``source`` to one of ``targets``, if any."""
    wanted = set(targets)
    previous: dict[str, str] = {}
    queue, seen = [source], {source}
    for module in queue:
        if module in wanted:
            path = [module]
            while path[-1] != source:
                path.append(previous[path[-1]])
            return path[::-1]
        for target in graph.get(module, {}):
            if target not in seen:
                seen.add(target)
                previous[target] = module
                queue.append(target)
    return None


def describe(graph: Graph, chain: list[str]) -> str:
    """Show a chain of imports with the line of each import."""
    steps = [
        f"{importer} (line {graph[importer][imported]})"
        for importer, imported in itertools.pairwise(chain)
    ]
    return " -> ".join([*steps, chain[-1]])


def subgraph(graph: Graph, prefix: str) -> Graph:
    """Keep the modules of a subpackage and the imports among them."""

    def inside(module: str) -> bool:
        return module == prefix or module.startswith(f"{prefix}.")

    return {
        importer: {module: line for module, line in edges.items() if inside(module)}
        for importer, edges in graph.items()
        if inside(importer)
    }


def test_graph_has_every_kind_of_import(tmp_path: Path) -> None:
    """The graph has absolute, relative, nested and TYPE_CHECKING imports."""
    files = {
        "__init__.py": "from .sub import thing\nVERSION = 1\n",
        "app.py": "import os\nimport pkg.sub.deep\nfrom pkg import VERSION\n",
        "lazy.py": "def f():\n    from .app import x\n",
        "typed.py": "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from . import app, lazy\n",
        "sub/__init__.py": "from . import deep\nthing = 1\n",
        "sub/deep.py": "from ..sub import thing\nfrom . import deep\n",
        "sub/leaf.py": "import websockets\nfrom .. import VERSION, typed\n",
    }
    for name, code in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(code)
    edges = {
        (importer, module)
        for importer, modules in import_graph(tmp_path, "pkg").items()
        for module in modules
    }
    assert edges == {
        ("pkg", "pkg.sub"),
        ("pkg.app", "pkg.sub.deep"),
        ("pkg.app", "pkg"),
        ("pkg.lazy", "pkg.app"),
        ("pkg.typed", "pkg.app"),
        ("pkg.typed", "pkg.lazy"),
        ("pkg.sub", "pkg.sub.deep"),
        ("pkg.sub.deep", "pkg.sub"),
        ("pkg.sub.leaf", "pkg"),
        ("pkg.sub.leaf", "pkg.typed"),
    }
    assert find_cycles(import_graph(tmp_path, "pkg")) == [
        ["pkg.sub", "pkg.sub.deep", "pkg.sub"]
    ]


def test_hub_imports_flow_one_way() -> None:
    """The in-process hub imports nothing of the Redis hub, which imports it."""
    graph = import_graph(SOURCE, PACKAGE)
    memory, redis = f"{PACKAGE}.hub.memory", f"{PACKAGE}.hub.redis"
    assert memory in graph[redis]
    chain = find_path(graph, memory, [redis])
    assert chain is None, f"hub.memory imports hub.redis: {describe(graph, chain)}"


def test_hub_has_no_import_cycle() -> None:
    """No module of the hub imports, even indirectly, one that imports it."""
    graph = subgraph(import_graph(SOURCE, PACKAGE), f"{PACKAGE}.hub")
    assert f"{PACKAGE}.hub.memory" in graph
    cycles = [describe(graph, cycle) for cycle in find_cycles(graph)]
    assert not cycles, "import cycle:\n" + "\n".join(cycles)


def test_package_has_no_import_cycle() -> None:
    """No module of the package imports, even indirectly, one that imports it."""
    graph = import_graph(SOURCE, PACKAGE)
    cycles = [describe(graph, cycle) for cycle in find_cycles(graph)]
    assert not cycles, "import cycle:\n" + "\n".join(cycles)


def test_core_imports_no_adapter() -> None:
    """The core modules import, even indirectly, neither server, legacy nor hub."""
    graph = import_graph(SOURCE, PACKAGE)
    adapters = [
        module
        for module in graph
        for adapter in ADAPTERS
        if module == f"{PACKAGE}.{adapter}"
        or module.startswith(f"{PACKAGE}.{adapter}.")
    ]
    chains = []
    for name in CORE:
        assert f"{PACKAGE}.{name}" in graph, name
        chain = find_path(graph, f"{PACKAGE}.{name}", adapters)
        if chain is not None:
            chains.append(describe(graph, chain))
    assert not chains, "core imports an adapter:\n" + "\n".join(chains)

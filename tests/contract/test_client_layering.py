"""The client (``genops``) and the instrumentor (``opentelemetry.instrumentation.wandb``)
import each other in layers: no import cycle among their modules, and never the processor.

Every ``import`` counts, including those inside functions (a function-local import
that closes a cycle only moves the failure to run time); imports under
``if TYPE_CHECKING:`` do not, since they never run. ``from package import name``
is an edge to ``package.name`` when that is a module, else to ``package``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import ROOT

SRC = ROOT / "instrumentation" / "src"
PACKAGES = [SRC / "genops", SRC / "opentelemetry" / "instrumentation" / "wandb"]
FORBIDDEN = "genops_processor"


@dataclass(frozen=True)
class Import:
    target: str  # the dotted name imported (a module, or a package then its name)
    line: int
    type_checking: bool  # under ``if TYPE_CHECKING:``: never runs


def module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules_under(src: Path, packages: list[Path]) -> dict[str, Path]:
    return {module_name(p, src): p for package in packages for p in sorted(package.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(tree: ast.Module, module: str, is_package: bool) -> Iterator[Import]:
    """Every import statement of a module, at any depth (functions, classes, try...)."""

    def walk(node: ast.AST, type_checking: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for statement in child.body:
                    yield from walk_one(statement, True)
                for statement in child.orelse:
                    yield from walk_one(statement, type_checking)
            else:
                yield from walk_one(child, type_checking)

    def walk_one(node: ast.AST, type_checking: bool) -> Iterator[Import]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, node.lineno, type_checking)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            for alias in node.names:
                yield Import(f"{base}.{alias.name}", node.lineno, type_checking)
        yield from walk(node, type_checking)

    yield from walk(tree, False)


def resolve(target: str, modules: dict[str, Path]) -> str | None:
    """The module of ours an import loads: ``a.b.name`` -> ``a.b.name`` or ``a.b``."""
    if target in modules:
        return target
    parent = target.rpartition(".")[0]
    return parent if parent in modules else None


def import_graph(modules: dict[str, Path]) -> dict[str, dict[str, int]]:
    """module -> {imported module of ours -> line of the first such import}, run-time only."""
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        edges = graph.setdefault(name, {})
        for found in imports_of(tree, name, path.name == "__init__.py"):
            target = resolve(found.target, modules)
            if target and target != name and not found.type_checking:
                edges.setdefault(target, found.line)
    return graph


def _components(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _one_cycle(graph: dict[str, dict[str, int]], component: list[str]) -> list[str]:
    """A shortest cycle through the component's first module (breadth first)."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph[node]):
            if child == start:
                return [*paths[node], start]
            if child in members and child not in paths:
                paths[child] = [*paths[node], child]
                queue.append(child)
    raise AssertionError(f"no cycle through {start} in {component}")


def cycles(graph: dict[str, dict[str, int]]) -> list[str]:
    """Each import cycle as ``a:3 -> b:7 -> a``: each module with the line that imports
    the next one."""
    described = []
    for component in _components(graph):
        path = _one_cycle(graph, component)
        steps = [f"{a}:{graph[a][b]}" for a, b in zip(path[:-1], path[1:], strict=True)]
        described.append(" -> ".join([*steps, path[-1]]))
    return described


def _dynamic_imports(tree: ast.Module) -> Iterator[Import]:
    """``importlib.import_module("x")`` and ``__import__("x")`` with a literal name."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if called in ("import_module", "__import__") and isinstance(first, ast.Constant):
                if isinstance(first.value, str):
                    yield Import(first.value, node.lineno, False)


def processor_imports(modules: dict[str, Path]) -> list[str]:
    """Every import of the processor, even a type-only or dynamic one, as
    ``module:line imports target``."""
    found = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        statements = imports_of(tree, name, path.name == "__init__.py")
        for imported in [*statements, *_dynamic_imports(tree)]:
            if imported.target.split(".")[0] == FORBIDDEN:
                found.append(f"{name}:{imported.line} imports {imported.target}")
    return sorted(found)


def test_client_and_instrumentor_have_no_import_cycle():
    modules = modules_under(SRC, PACKAGES)
    assert "genops.adapter" in modules and "opentelemetry.instrumentation.wandb" in modules
    found = cycles(import_graph(modules))
    assert not found, "import cycles:\n" + "\n".join(found)


def test_instrumentation_never_imports_the_processor():
    found = processor_imports(modules_under(SRC, PACKAGES))
    assert not found, "the instrumentation imports the processor:\n" + "\n".join(found)


def test_the_checker_sees_function_local_imports_and_ignores_type_checking_ones(tmp_path):
    """The checks above are only as good as the graph: prove it on a package made here."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "low.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from pkg.high import High\n"  # type-only: no edge
        "def f():\n"
        "    from . import mid\n"  # function-local and relative: an edge
        "    import genops_processor.server\n"
        "    importlib.import_module('genops_processor.cli')\n"
    )
    (package / "mid.py").write_text("from pkg import low\n")
    (package / "high.py").write_text("from pkg.low import f\nclass High: ...\n")
    modules = modules_under(tmp_path, [package])
    graph = import_graph(modules)
    assert graph["pkg.low"] == {"pkg.mid": 5}
    assert cycles(graph) == ["pkg.low:5 -> pkg.mid:1 -> pkg.low"]
    assert processor_imports(modules) == [
        "pkg.low:6 imports genops_processor.server",
        "pkg.low:7 imports genops_processor.cli",
    ]

"""The processor's folder tree is its architecture: lower floors never import higher ones.

Read from the source with ``ast`` (every import, also those inside functions; not those
under ``if TYPE_CHECKING:``), so a violation fails here before anything runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PROCESSOR = Path(__file__).resolve().parents[2] / "processor" / "src" / "genops_processor"

# Low to high. A module may import its own package and anything below it. The plain
# modules at the top of the tree sit between: ``domain``, ``settings``, ``metrics`` and
# ``limits`` are the base every floor may use; ``service`` composes the floors below ``api``;
# ``server`` assembles everything below ``cli``.
LAYERS = (
    ("domain", "settings", "metrics", "limits"),
    ("auth",),
    ("storage",),
    ("record",),
    ("pricing",),
    ("budgets",),
    ("ingest",),
    ("alerts",),
    ("analytics",),
    ("service",),
    ("api",),
    ("server", "collector_pauses"),
    ("cli",),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
# What the processor may use of the instrumentation: its contract modules only
# (genops.transport: how every client connects and authenticates; the CLI uses it).
CONTRACT_MODULES = (
    "genops.attributes",
    "genops.catalog",
    "genops.governance",
    "genops.money",
    "genops.transport",
)


def _unit(root: Path, path: Path) -> str:
    """The layer a source file belongs to: its package, or its own name at the top."""
    parts = path.relative_to(root).parts
    return parts[0] if len(parts) > 1 else path.stem


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every import, skipping ``if TYPE_CHECKING:`` blocks."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module in ("genops", "genops_processor"):  # from genops_processor import api
                found.extend((node.lineno, f"{node.module}.{a.name}") for a in node.names)
            else:
                found.append((node.lineno, node.module))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _sources(root: Path) -> list[Path]:
    files = sorted(root.rglob("*.py"))
    assert len(files) > 40, f"expected the processor's modules under {root}"
    return files


def layering_violations(root: Path = PROCESSOR) -> list[str]:
    problems = []
    for path in _sources(root):
        unit = _unit(root, path)
        if unit == "__init__":
            continue
        rel = path.relative_to(root.parent)
        assert unit in RANK, f"{rel}: package {unit!r} is not in LAYERS; place it"
        for line, module in _imports(ast.parse(path.read_text(), str(path))):
            top = module.split(".")[0]
            if top == "duckdb" and unit != "storage":
                problems.append(f"{rel}:{line} imports duckdb; only storage/ may")
            if top == "genops" and not module.startswith(CONTRACT_MODULES):
                problems.append(f"{rel}:{line} imports {module}: not a contract module")
            if top != "genops_processor" or module == "genops_processor":
                continue
            target = module.split(".")[1]
            if target in RANK and RANK[target] > RANK[unit]:
                problems.append(
                    f"{rel}:{line} imports {module}: {unit!r} is below {target!r} "
                    f"({' < '.join('/'.join(names) for names in LAYERS)})"
                )
    return problems


def test_no_floor_imports_a_higher_one_and_only_storage_imports_duckdb():
    problems = layering_violations()
    assert not problems, "layering broken:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("where", "line", "expected"),
    [
        ("storage/writer.py", "import genops_processor.api", "'storage' is below 'api'"),
        ("budgets/spend.py", "from genops_processor import cli", "'budgets' is below 'cli'"),
        ("pricing/cost_lines.py", "import duckdb", "only storage/ may"),
        ("domain.py", "from genops_processor.ingest import decode", "'domain' is below"),
    ],
)
def test_the_check_catches_an_upward_import(tmp_path, where, line, expected):
    """The checker itself: the same tree with one bad import added is refused."""
    copy = tmp_path / "genops_processor"
    for path in _sources(PROCESSOR):
        target = copy / path.relative_to(PROCESSOR)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text())
    assert not layering_violations(copy)
    bad = copy / where
    bad.write_text(bad.read_text() + f"\n\ndef _late():\n    {line}\n")
    problems = layering_violations(copy)
    assert any(expected in p and where in p for p in problems), problems

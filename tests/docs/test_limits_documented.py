"""The README's "Limits" table and ``genops_processor.limits`` name the same caps."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMITS = ROOT / "processor" / "src" / "genops_processor" / "limits.py"


def _constants() -> set[str]:
    tree = ast.parse(LIMITS.read_text())
    return {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name) and target.id.isupper()
    }


def _limits_section() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"^## Limits\n(.*?)(?=^## )", text, re.S | re.M)
    assert match, 'README.md has no "## Limits" section'
    return match.group(1)


def _named(section: str) -> set[str]:
    """The caps named in the table's first column."""
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", section, re.M))


def test_every_cap_is_in_the_readme_table() -> None:
    named = _named(_limits_section())
    missing = sorted(_constants() - named)
    assert not missing, f"caps in limits.py missing from README's Limits table: {missing}"


def test_the_readme_table_names_only_real_caps() -> None:
    unknown = sorted(_named(_limits_section()) - _constants())
    assert not unknown, f"README's Limits table names caps limits.py lacks: {unknown}"

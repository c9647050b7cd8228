"""Compliance reports as files: JSON, and a readable Markdown document.

Text that came from telemetry (artifact names, descriptions) is escaped: a table
cell is one line with its pipes escaped, so no value can add a row, a column or a
heading.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def to_json(report: Mapping[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=True, default=str)


def _cell(value: Any) -> str:
    text = str(value).replace("\\", "\\\\").replace("|", "\\|")
    return " ".join(text.split())  # one line: no row can be broken by a newline


def to_markdown(report: Mapping[str, Any], title: str = "Compliance report") -> str:
    """A readable document: score, scope, violations, then every other section."""
    score = report.get("compliance_score", report.get("overall_score"))
    lines = [f"# {_cell(title)}", ""]
    if score is not None:
        lines += [f"**Compliance score: {score}%**", ""]
    for key, value in report.items():
        if key in ("compliance_score", "overall_score", "checks"):
            continue
        lines += _section(key, value)
    checks = report.get("checks")
    if checks:
        lines += _table("Checks", checks, ("policy", "subject", "passed", "description"))
    return "\n".join(lines).rstrip() + "\n"


def _section(key: str, value: Any) -> list[str]:
    title = key.replace("_", " ").capitalize()
    if isinstance(value, Sequence) and not isinstance(value, str):
        if value and all(isinstance(v, Mapping) for v in value):
            return _table(title, value, tuple(dict.fromkeys(k for v in value for k in v)))
        items = [f"- {_cell(v)}" for v in value] or ["- none"]
        return [f"## {title}", "", *items, ""]
    if isinstance(value, Mapping):
        rows = [f"- **{_cell(k)}**: {_cell(v)}" for k, v in value.items()] or ["- none"]
        return [f"## {title}", "", *rows, ""]
    return [f"- **{title}**: {_cell(value)}", ""]


def _table(title: str, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> list[str]:
    lines = [f"## {title}", "", "| " + " | ".join(columns) + " |"]
    lines.append("|" + "---|" * len(columns))
    lines += ["| " + " | ".join(_cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return [*lines, ""]


def write_report(report: Mapping[str, Any], path: str | Path, title: str = "") -> Path:
    """Write ``report`` as JSON (``.json``) or Markdown (``.md``), by the file's suffix."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".json":
        target.write_text(to_json(report))
    elif suffix in (".md", ".markdown"):
        target.write_text(to_markdown(report, title or "Compliance report"))
    else:
        raise ValueError(f"{target.name}: expected a .json or .md file")
    return target

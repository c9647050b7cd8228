"""JSON text clients sent, as the ledger keeps it (tags, final metrics, artifacts used,
governance metadata), read back.

Ingest keeps only JSON of the expected shape (ingest/validation.py), but a ledger written
by an older processor may hold text that is not JSON, or JSON of another shape. A reader
gets the empty value then, never an exception: one client's bad attribute must not stop
a report for everyone.
"""

from __future__ import annotations

import json
import math
from typing import Any


def _parsed(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
        return None


def json_object(text: str | None) -> dict[str, Any]:
    """The JSON object ``text`` holds; ``{}`` for anything else."""
    value = _parsed(text)
    return value if isinstance(value, dict) else {}


def json_names(text: str | None) -> list[str]:
    """The strings of the JSON array ``text`` holds (other items skipped); ``[]`` for
    anything else."""
    value = _parsed(text)
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def scalars(mapping: dict[str, Any]) -> dict[str, str | int | float | bool]:
    """The entries of ``mapping`` whose values are text, numbers or booleans (the ones a
    report can group by or show); nested values and nulls are left out."""
    return {k: v for k, v in mapping.items() if isinstance(v, str | int | float | bool)}


def numbers(mapping: dict[str, Any]) -> dict[str, float]:
    """The entries of ``mapping`` that are finite numbers (booleans are not), as floats."""
    return {
        k: float(v)
        for k, v in mapping.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }

"""Rows written a column at a time: those of one ``INSERT ... VALUES (...)`` template
inserted together in one statement that takes a list per column (the writer's batched
rows and the decision journal's), and the text columns of the Arrow tables ingest
inserts."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pyarrow as pa

# (INSERT ... VALUES, row template) -> the rows' parameters, a list per row
Rows = dict[tuple[str, str], list[list[Any]]]

_SQL: dict[tuple[str, str], str] = {}


def insert_rows(conn: Any, rows: Rows) -> None:
    """One statement per template on DuckDB connection ``conn``."""
    for (insert, row), each in rows.items():
        conn.execute(columnwise_sql(insert, row), [list(c) for c in zip(*each, strict=True)])


def columnwise_sql(insert: str, row: str) -> str:
    """``INSERT ... VALUES `` + ``(?, ?, 'open', ?)`` as one statement taking a list per
    parameter: ``INSERT ... SELECT unnest($1), unnest($2), 'open', unnest($3)``. DuckDB
    parses and binds a ``VALUES`` list row by row (~0.3 ms a row); this costs the same
    for one row or a hundred."""
    return _SQL.get((insert, row)) or _SQL.setdefault((insert, row), _sql(insert, row))


def _sql(insert: str, row: str) -> str:
    head = insert.rstrip()
    if not head.upper().endswith("VALUES") or not (row.startswith("(") and row.endswith(")")):
        raise ValueError(f"not an INSERT ... VALUES (...) template: {insert!r} {row!r}")
    number = itertools.count(1)
    select = re.sub(r"\?", lambda _: f"unnest(${next(number)})", row[1:-1])
    return f"{head[: -len('VALUES')]}SELECT {select}"


def text_array(values: list) -> pa.Array:
    """A text column, typed: inferring a type makes pyarrow try to import pandas and
    dateutil on each call (~1 ms when they are not installed)."""
    return pa.array(values, pa.string())

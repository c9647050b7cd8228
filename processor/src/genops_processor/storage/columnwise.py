"""Rows written a column at a time: those of one ``INSERT ... VALUES (...)`` template
inserted together in one statement (the writer's batched rows and the decision
journal's), and the text columns of the Arrow tables ingest inserts.

A template whose columns all have an Arrow type (:func:`arrow_type`) is inserted from an
Arrow table built from the rows, typed from the ledger's own columns
(:func:`template_columns`); otherwise, and for a handful of rows, from one Python list
per parameter (``INSERT ... SELECT unnest($1), ...``). Binding lists converts each value
on DuckDB's side one by one: 1,365 rows of 16 columns (a journal apply's shape) took
15.0 ms as lists and 5.2 ms as an Arrow table. Values Arrow refuses for the column's type
go the list way, so DuckDB's own error (or cast) decides them as before."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pyarrow as pa

# (INSERT ... VALUES, row template) -> the rows' parameters, a list per row
Rows = dict[tuple[str, str], list[list[Any]]]

# Fewer rows than this go the list way: building the table costs more (audit events, 9
# columns, as lists vs as a table: 16 rows 1.15 vs 1.22 ms, 32 rows 1.40 vs 1.35 ms,
# 1,365 rows 10.6 vs 4.6 ms).
ARROW_MIN_ROWS = 32
_VIEW = "genops_rows_in"  # the Arrow table: insert_rows's local variable of that name

_SQL: dict[tuple[str, str], str] = {}
# template -> (INSERT ... SELECT ... FROM the view, Arrow types of its parameters), or
# None: a type without an Arrow counterpart, or a template whose columns cannot be read.
# Kept by each caller for its own connection (the types are that ledger's).
Plans = dict[tuple[str, str], "tuple[str, list[pa.DataType]] | None"]

_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "JSON": pa.string(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "SMALLINT": pa.int16(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMP WITH TIME ZONE": pa.timestamp("us", tz="UTC"),
    "TIMESTAMP": pa.timestamp("us"),
    "DATE": pa.date32(),
    "BLOB": pa.binary(),
    "VARCHAR[]": pa.list_(pa.string()),
}


def arrow_type(sql_type: str) -> pa.DataType | None:
    """The Arrow type a ledger column of ``sql_type`` is written from (None: lists)."""
    return _ARROW_TYPES.get(sql_type)


def insert_rows(conn: Any, rows: Rows, plans: Plans | None = None) -> None:
    """One statement per template on DuckDB connection ``conn`` (raw: DuckDB reads the
    Arrow table from this function's frame). ``plans``: the connection's templates' Arrow
    plans, kept by the caller; without them, lists only."""
    for key, each in rows.items():
        big = plans is not None and len(each) >= ARROW_MIN_ROWS
        plan = _arrow_plan(conn, key, plans) if big else None
        genops_rows_in = _arrow_table(plan[1], each) if plan is not None else None
        if genops_rows_in is None:
            conn.execute(columnwise_sql(*key), [list(c) for c in zip(*each, strict=True)])
        else:  # DuckDB reads the table from this local variable, named in the statement
            conn.execute(plan[0])


def columnwise_sql(insert: str, row: str) -> str:
    """``INSERT ... VALUES `` + ``(?, ?, 'open', ?)`` as one statement taking a list per
    parameter: ``INSERT ... SELECT unnest($1), unnest($2), 'open', unnest($3)``. DuckDB
    parses and binds a ``VALUES`` list row by row (~0.3 ms a row); this costs the same
    for one row or a hundred."""
    return _SQL.get((insert, row)) or _SQL.setdefault((insert, row), _sql(insert, row))


def _sql(insert: str, row: str, source: str = "", each: str = "unnest(${n})") -> str:
    head = insert.rstrip()
    if not head.upper().endswith("VALUES") or not (row.startswith("(") and row.endswith(")")):
        raise ValueError(f"not an INSERT ... VALUES (...) template: {insert!r} {row!r}")
    number = itertools.count(1)
    select = re.sub(r"\?", lambda _: each.format(n=next(number)), row[1:-1])
    return f"{head[: -len('VALUES')]}SELECT {select}{source}"


def _arrow_plan(
    conn: Any, key: tuple[str, str], plans: Plans
) -> tuple[str, list[pa.DataType]] | None:
    if key not in plans:
        columns = template_columns(conn, *key)
        types = [arrow_type(t) for _, t, _ in columns or ()]
        if columns is None or any(t is None for t in types):
            plans[key] = None
        else:
            sql = _sql(*key, source=f" FROM {_VIEW}", each='"p{n}"')
            plans[key] = (sql, types)
    return plans[key]


def _arrow_table(types: list[pa.DataType], rows: list[list[Any]]) -> pa.Table | None:
    """The rows as a table of columns p1..pN; None when a value does not convert."""
    try:
        by_column = zip(*rows, strict=True)
        columns = [pa.array(c, kind) for c, kind in zip(by_column, types, strict=True)]
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        return None
    return pa.table(columns, names=[f"p{n}" for n in range(1, len(columns) + 1)])


_TEMPLATE = re.compile(r"\s*INSERT INTO (\w+)\s*(?:\(([^)]*)\))?\s*VALUES\s*", re.I)


def template_table(insert: str) -> str | None:
    """The table of an ``INSERT INTO t [(cols)] VALUES`` template (lower case), or None."""
    match = _TEMPLATE.fullmatch(insert)
    return match.group(1).lower() if match else None


def template_columns(conn: Any, insert: str, row: str) -> list[tuple[str, str, bool]] | None:
    """(column, type, nullable) of each ``?`` of an ``INSERT INTO t [(cols)] VALUES`` +
    ``(?, 'literal', ?)`` template; None when the template or table cannot be read."""
    match = _TEMPLATE.fullmatch(insert)
    if not match or conn is None:
        return None
    table, listed = match.group(1), match.group(2)
    described = conn.execute(
        "SELECT column_name, data_type, is_nullable = 'YES' FROM information_schema.columns "
        "WHERE table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    if not described:
        return None
    by_name = {name: (name, sql_type, nullable) for name, sql_type, nullable in described}
    names = [n.strip() for n in listed.split(",")] if listed else [d[0] for d in described]
    values = [v.strip() for v in row.strip()[1:-1].split(",")]
    if len(values) != len(names) or any(n not in by_name for n in names):
        return None
    return [by_name[n] for n, v in zip(names, values, strict=True) if v == "?"]


def text_array(values: list) -> pa.Array:
    """A text column, typed: inferring a type makes pyarrow try to import pandas and
    dateutil on each call (~1 ms when they are not installed)."""
    return pa.array(values, pa.string())

"""The ledger's key indexes loaded when the processor starts, not by its first checkpoint.

DuckDB reads an index from the file lazily, and the first checkpoint after a change to an
indexed table writes that index out whole, reading all of it first. On a year-seeded ledger
(3.65 M runs) the processor's first checkpoint took ~1.1 s for ``runs`` alone, on the
writer thread in the middle of serving: every budget decision waited for it (the worst
latency of the decisions bench's "under ingest" phases, 1.4-1.6 s; later checkpoints
take ~50 ms a dirty index). :func:`warm_indexes` pays it before the processor listens: in
one transaction it rewrites one row of each keyed table holding at least
``WARM_MIN_ROWS`` rows with its own key (no value changes), then checkpoints, which
loads and writes those indexes once (~1.3 s on that ledger, a few ms on a small one).
A failure is logged and the processor starts anyway: only the stall comes back.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import duckdb

from genops_processor.storage.writer import transaction

_log = logging.getLogger(__name__)
WARM_MIN_ROWS = 100_000  # smaller indexes load in a few ms: not worth a write

_KEYED_TABLES = (
    "SELECT c.table_name, c.constraint_column_names[1], t.estimated_size "
    "FROM duckdb_constraints() c JOIN duckdb_tables() t "
    "ON t.table_name = c.table_name AND t.schema_name = c.schema_name "
    "WHERE c.constraint_type = 'PRIMARY KEY' AND c.schema_name = 'main' "
    "AND NOT t.temporary ORDER BY 1"
)


def warm_indexes(conn: Any, min_rows: int = WARM_MIN_ROWS) -> list[str]:
    """Load the key indexes of the large tables; returns the tables warmed."""
    tables = [
        (name, column)
        for name, column, rows in conn.execute(_KEYED_TABLES).fetchall()
        if rows >= min_rows
    ]
    if not tables:
        return []
    started = time.monotonic()
    try:
        with transaction(conn):
            for name, column in tables:
                conn.execute(
                    f'UPDATE "{name}" SET "{column}" = "{column}" '
                    f'WHERE rowid = (SELECT min(rowid) FROM "{name}")'
                )
        conn.execute("CHECKPOINT")
    except duckdb.Error as error:
        _log.warning(
            "the ledger's indexes were not loaded at start (%s): the first "
            "checkpoint will load them, holding up the writer once",
            error,
        )
        return []
    _log.info(
        "loaded the key indexes of %s in %.1f s",
        ", ".join(name for name, _ in tables),
        time.monotonic() - started,
    )
    return [name for name, _ in tables]

"""DuckDB's memory limit for the ledger: what was asked, raised to what the ledger's key
indexes need.

DuckDB keeps every block of the file it read or wrote cached up to its ``memory_limit``
(its own default: 80 % of RAM), so the limit is what bounds the processor's memory as the
ledger grows. Most of that memory can be evicted, but a write to a keyed table pins
parts of its index, and what it pins grows with the rows indexed: on a year-seeded
ledger (25.6 M indexed rows: 14.6 M cost lines, 3.65 M runs, holds and decisions) a
128 MiB limit failed the decision journal's first apply with "Out of Memory Error:
failed to pin block", and DuckDB then invalidated the database (every later write
failed until a restart); 192 MiB held (/work/prof/seed_limit.py, 8 decision callers
for 20 s). :class:`MemoryLimit` keeps the limit at least
``LEDGER_MEMORY_PER_INDEXED_ROW`` bytes an indexed row (16: twice what held there),
read when the ledger opens and again every ``LEDGER_MEMORY_RECHECK_S`` on the writer (a
catalog query, no data read), so a ledger that grows while the processor runs raises
it in time. It is never lowered: retention deleting rows leaves it where it was.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from genops_processor.limits import LEDGER_MEMORY_PER_INDEXED_ROW, LEDGER_MEMORY_RECHECK_S

_log = logging.getLogger(__name__)
_MIB = 2**20
# each PRIMARY KEY and UNIQUE constraint is an index over its table's rows
_INDEXED_ROWS = (
    "SELECT coalesce(sum(t.estimated_size), 0)::BIGINT FROM duckdb_constraints() c "
    "JOIN duckdb_tables() t ON c.database_name = t.database_name "
    "AND c.schema_name = t.schema_name AND c.table_name = t.table_name "
    "WHERE c.constraint_type IN ('PRIMARY KEY', 'UNIQUE')"
)


def indexed_rows(conn: Any) -> int:
    """Rows the ledger's key indexes hold, one per row per index (DuckDB's estimate)."""
    return int(conn.execute(_INDEXED_ROWS).fetchone()[0])


def _whole_mib(n: int) -> int:
    """``n`` bytes rounded up to whole MiB (DuckDB's limit is set in MiB)."""
    return -(-n // _MIB) * _MIB


def needed_bytes(rows: int) -> int:
    """The least limit for ``rows`` indexed rows, in whole MiB."""
    return _whole_mib(rows * LEDGER_MEMORY_PER_INDEXED_ROW)


class MemoryLimit:
    """The limit of one writer connection; ``asked``: the option's value or the default."""

    def __init__(self, asked_bytes: int, name: str) -> None:
        self.asked = _whole_mib(asked_bytes)
        self.name = name  # the ledger, for the log
        self.applied: int | None = None
        self._due = 0.0

    def fit(self, conn: Any, now: float | None = None) -> int:
        """Set the limit to the larger of the asked one and the indexes' need, when it is
        due (always the first time). Returns the limit in force."""
        now = time.monotonic() if now is None else now
        if self.applied is not None and now < self._due:
            return self.applied
        self._due = now + LEDGER_MEMORY_RECHECK_S
        rows = indexed_rows(conn)
        want = max(self.asked, needed_bytes(rows), self.applied or 0)
        if want != self.applied:  # so it only ever rises
            conn.execute(f"SET memory_limit = '{want // _MIB}MiB'")
            if want > self.asked:
                _log.info(
                    "%s: memory limit %d MiB (asked %d MiB): its key indexes hold %s rows",
                    self.name,
                    want // _MIB,
                    self.asked // _MIB,
                    f"{rows:,}",
                )
            self.applied = want
        return want

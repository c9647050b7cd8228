"""Quarantine: stored rows that break the ledger's money invariants, set aside on open.

The pricing never writes such a row (see ``pricing/cost_lines``), but a ledger
written by an older processor, or by hand, may hold one: a run whose cost is
negative or above ``MAX_RUN_MICROS``, a negative time, a hold or a hand-added
line with an impossible amount. Left in place, one such row would make spend
negative or make every sum and report fail. On every read-write open, each is
moved, whole (as JSON), into ``quarantine`` with its reason, so spend, budgets
and reports never see it, and nothing is lost.

A read-only open (``genops report --db``) cannot move anything: the read
queries leave such runs out with :data:`SANE_RUN`.
"""

from __future__ import annotations

import logging
from typing import Any

from genops_processor.limits import MAX_LINE_MICROS, MAX_RUN_MICROS

_log = logging.getLogger(__name__)


def _outside(column: str, maximum: int) -> str:
    return f"({column} < 0 OR {column} > {maximum})"


def _reason(column: str, maximum: int) -> str:
    return (
        f"CASE WHEN {_outside(column, maximum)} THEN '{column} ' || CAST({column} AS VARCHAR) "
        f"|| ' outside 0..{maximum}' END"
    )


def _negative(column: str) -> str:
    return f"CASE WHEN {column} < 0 THEN 'negative {column} ' || CAST({column} AS VARCHAR) END"


_RUN_MONEY = (
    "cost_micros",
    "compute_micros",
    "storage_micros",
    "data_transfer_micros",
    "tracking_micros",
)
_RUN_TIMES = ("compute_start_ns", "as_of_ns")

# Per table: the key column and the reasons a row is quarantined (NULL: none).
_RULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "runs": (
        "run_key",
        tuple(_reason(c, MAX_RUN_MICROS) for c in _RUN_MONEY)
        + tuple(_negative(c) for c in _RUN_TIMES),
    ),
    "holds": ("hold_id", (_reason("amount_micros", MAX_RUN_MICROS),)),
    "manual_costs": ("span_id", (_reason("amount_micros", MAX_LINE_MICROS),)),
    "cost_lines": ("run_key", (_reason("amount_micros", MAX_LINE_MICROS),)),
}

# A run the ledger may count (alias r): what read-only queries keep.
SANE_RUN = " AND ".join(
    [f"NOT COALESCE({_outside('r.' + c, MAX_RUN_MICROS)}, FALSE)" for c in _RUN_MONEY]
    + [f"COALESCE(r.{c}, 0) >= 0" for c in _RUN_TIMES]
)


# A hand-added line or cost line the ledger may count.
SANE_AMOUNT = f"amount_micros BETWEEN 0 AND {MAX_LINE_MICROS}"


def quarantine(conn: Any) -> dict[str, int]:
    """Move every row that breaks an invariant into ``quarantine``, with its reason, in one
    transaction. Also the cost lines of the runs moved. Returns the count per table."""
    moved: dict[str, int] = {}
    conn.begin()
    try:
        for table, (key, reasons) in _RULES.items():
            why = f"concat_ws('; ', {', '.join(reasons)})"
            (count,) = conn.execute(f"SELECT count(*) FROM {table} WHERE {why} <> ''").fetchone()
            if not count:
                continue
            if table == "runs":
                _move_lines_of_bad_runs(conn, why)
            conn.execute(
                f"INSERT INTO quarantine (source, row_key, reason, body) "
                f"SELECT '{table}', {key}, {why}, to_json({table})::VARCHAR "
                f"FROM {table} WHERE {why} <> ''"
            )
            conn.execute(f"DELETE FROM {table} WHERE {why} <> ''")
            moved[table] = moved.get(table, 0) + count
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    for table, count in moved.items():
        _log.warning(
            "quarantined %d row(s) of %s that break the ledger's invariants "
            "(see the quarantine table)",
            count,
            table,
        )
    return moved


def _move_lines_of_bad_runs(conn: Any, why: str) -> None:
    bad = f"SELECT run_key FROM runs WHERE {why} <> ''"
    conn.execute(
        "INSERT INTO quarantine (source, row_key, reason, body) "
        "SELECT 'cost_lines', run_key, 'line of a quarantined run', to_json(cost_lines)::VARCHAR "
        f"FROM cost_lines WHERE run_key IN ({bad})"
    )
    conn.execute(f"DELETE FROM cost_lines WHERE run_key IN ({bad})")


def quarantined(conn: Any) -> list[dict[str, Any]]:
    """What was set aside, oldest first: source table, key, reason, the row as JSON."""
    cursor = conn.execute(
        "SELECT source, row_key, reason, body, quarantined_at FROM quarantine "
        "ORDER BY quarantined_at, source, row_key"
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

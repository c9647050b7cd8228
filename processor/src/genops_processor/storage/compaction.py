"""Compaction: raw span content is kept for a window, then only what idempotency needs.

Heartbeats carry cumulative usage, so once a span is folded into its run's state and cost
lines its attributes are no longer needed, except to recognise the span if a client sends
it again. Compaction moves spans received before a cut-off from ``spans`` (all content,
text ids) to ``span_ids`` (the id pair as 24 bytes of BLOB), in bounded steps: each step is
one short transaction of at most ``step`` spans, so decisions and ingest interleave with it.
Ingest treats an id in either table as already stored. Run states, cost lines, artifacts,
experiments and the audit record are never compacted.

DuckDB reuses the blocks that compaction frees, so a running ledger's file stops growing
with the raw content it no longer keeps; it gives them back to the file system only when
the database is rewritten (:func:`copy_ledger`, ``genops ledger compact --db FILE`` on a
stopped ledger).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

DEFAULT_STEP = 10_000  # spans per compaction step: one transaction of about 0.3 s here


def id_bytes(column: str) -> str:
    """SQL for an id's compact form: the bytes of its hex text (ids from OTLP always are
    hex), else the text's own bytes."""
    return f"COALESCE(TRY(from_hex({column})), encode({column}))"


def compact_step(conn: Any, before: dt.datetime, step: int = DEFAULT_STEP) -> int:
    """Compact up to ``step`` spans received before ``before``; returns how many."""
    conn.begin()
    try:
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS compacting (trace_id VARCHAR, span_id VARCHAR)"
        )
        conn.execute("DELETE FROM compacting")
        conn.execute(
            "INSERT INTO compacting SELECT trace_id, span_id FROM spans "
            "WHERE received_at < ? LIMIT ?",
            [before, step],
        )
        moved = conn.execute("SELECT count(*) FROM compacting").fetchone()[0]
        if moved:
            conn.execute(
                f"INSERT INTO span_ids SELECT {id_bytes('trace_id')}, {id_bytes('span_id')} "
                "FROM compacting"
            )
            conn.execute(
                "DELETE FROM spans USING compacting c "
                "WHERE spans.trace_id = c.trace_id AND spans.span_id = c.span_id"
            )
        conn.commit()
        return int(moved)
    except BaseException:
        conn.rollback()
        raise


def span_counts(conn: Any) -> tuple[int, int]:
    """(raw spans, compacted span ids) in the ledger."""
    raw = conn.execute("SELECT count(*) FROM spans").fetchone()[0]
    compacted = conn.execute("SELECT count(*) FROM span_ids").fetchone()[0]
    return int(raw), int(compacted)


def remaining(conn: Any, before: dt.datetime) -> int:
    """Spans received before ``before`` and not compacted yet."""
    return int(
        conn.execute("SELECT count(*) FROM spans WHERE received_at < ?", [before]).fetchone()[0]
    )


def copy_ledger(conn: Any, target: str) -> None:
    """Write the whole database, schema and constraints included, into a new file."""
    source = conn.execute("SELECT current_database()").fetchone()[0]
    conn.execute("ATTACH ? AS genops_copy", [target])
    try:
        conn.execute(f'COPY FROM DATABASE "{source}" TO genops_copy')
    finally:
        conn.execute("DETACH genops_copy")

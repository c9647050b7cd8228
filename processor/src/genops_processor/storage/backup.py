"""Ledger backups at the storage level: a consistent snapshot of the open database taken
on the writer thread (between two jobs, so no write is half in it) and copied off it, the
totals that identify what a copy holds, and the restore of a copy into a new ledger file.

A copy is DuckDB's ``ATTACH`` + ``COPY FROM DATABASE`` (schema, constraints and rows) into
a temporary file beside the target, linked to its name when complete: a backup file is
whole or absent. It reads a snapshot (a read transaction on a second connection begun on
the writer thread), so the writer holds for the snapshot only, not for the copy. A
restore never overwrites: the new ledger (and its ``.wal``) must not exist, and the file
appears under its name only once completely written (``os.link``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import duckdb

from genops_processor.storage.journal import journal_path

# What a ledger's totals are read from: they identify the point a copy was taken at.
TOTALS_SQL = (
    "SELECT (SELECT count(*) FROM runs), (SELECT COALESCE(SUM(cost_micros), 0) FROM runs), "
    "(SELECT COALESCE(SUM(amount_micros) FILTER (WHERE priced), 0) FROM manual_costs), "
    "(SELECT count(*) FROM cost_lines), (SELECT count(*) FROM audit_events)"
)
_REQUIRED_TABLES = {"runs", "cost_lines", "audit_events", "backups"}


class RestoreError(RuntimeError):
    """A backup cannot be restored; the message is one line naming why."""


def ledger_totals(conn: Any) -> dict[str, int]:
    """Runs, run cost, hand-added cost, cost lines and audit events of a ledger."""
    runs, cost, manual, lines, events = conn.execute(TOTALS_SQL).fetchone()
    return {
        "runs": int(runs),
        "cost_micros": int(cost),
        "manual_micros": int(manual),
        "cost_lines": int(lines),
        "audit_events": int(events),
    }


def snapshot(conn: Any) -> tuple[Any, dict[str, int]]:
    """A second connection to the open ledger, in a read transaction begun now, and the
    ledger's totals as that transaction sees them. Called on the writer thread between
    two jobs, the snapshot is the ledger at that point; the copy (:func:`copy_snapshot`)
    then runs on another thread while the writer goes on (DuckDB's MVCC: the snapshot
    never sees later commits)."""
    cursor = conn.cursor()
    try:
        cursor.begin()
        totals = ledger_totals(cursor)  # the first read fixes the snapshot
    except BaseException:
        cursor.close()
        raise
    return cursor, totals


def copy_snapshot(cursor: Any, target: Path) -> int:
    """Copy a :func:`snapshot` into ``target`` (must not exist) and close it; returns the
    backup's size in bytes. The file is whole under its name, or absent."""
    alias = f"genops_backup_{uuid.uuid4().hex[:12]}"
    partial = target.with_name(target.name + ".partial")
    try:
        if target.exists():
            raise FileExistsError(f"{target} exists")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial.unlink(missing_ok=True)
        source = cursor.execute("SELECT current_database()").fetchone()[0]
        cursor.execute(f"ATTACH ? AS {alias}", [str(partial)])
        cursor.execute(f'COPY FROM DATABASE "{source}" TO {alias}')
        cursor.commit()
        cursor.execute(f"DETACH {alias}")
        os.link(partial, target)  # fails rather than overwrite a file of that name
    finally:
        with contextlib.suppress(duckdb.Error):
            cursor.close()
        partial.unlink(missing_ok=True)
        partial.with_name(partial.name + ".wal").unlink(missing_ok=True)
    return target.stat().st_size


def copy_to(conn: Any, target: Path) -> int:
    """Copy the open ledger into ``target`` at once, on the calling thread (a stopped
    ledger: nothing else writes); returns its size in bytes."""
    cursor, _ = snapshot(conn)
    return copy_snapshot(cursor, target)


def read_backup(path: Path) -> dict[str, Any]:
    """The totals of a backup file and its newest ``backups`` row (the copy's own)."""
    if not path.is_file():
        raise RestoreError(f"no backup at {path}")
    try:
        conn = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as error:
        raise RestoreError(f"{path} is not a DuckDB ledger ({_first_line(error)})") from None
    try:
        tables = {
            row[0] for row in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        }
        if missing := sorted(_REQUIRED_TABLES - tables):
            raise RestoreError(f"{path} is not a genops ledger backup (no {', '.join(missing)})")
        row = conn.execute(
            "SELECT backup_id, taken_at, audit_event_id, audit_seq FROM backups "
            "ORDER BY taken_at DESC LIMIT 1"
        ).fetchone()
        totals = ledger_totals(conn)
    finally:
        conn.close()
    backup_id, taken_at, event, seq = row if row else ("", None, "", 0)
    return {
        "backup_id": backup_id,
        "taken_at": taken_at,
        "audit_event_id": event,
        "audit_seq": int(seq or 0),
        **totals,
    }


def restore(backup: Path, db: Path) -> dict[str, Any]:
    """Make ``db`` a copy of ``backup``; refuses an existing ``db``. Returns its totals."""
    for existing in (db, db.with_name(db.name + ".wal"), journal_path(db)):
        if existing.exists():
            raise RestoreError(
                f"{existing} exists: restore only into a new ledger file (never over one)"
            )
    facts = read_backup(backup)
    db.parent.mkdir(parents=True, exist_ok=True)
    partial = db.with_name(f".{db.name}.restoring")
    try:
        with open(backup, "rb") as source, open(partial, "xb") as target:
            shutil.copyfileobj(source, target, 1 << 20)
            target.flush()
            os.fsync(target.fileno())
        try:
            os.link(partial, db)
        except FileExistsError:
            raise RestoreError(f"{db} appeared while restoring; not overwritten") from None
    except OSError as error:
        raise RestoreError(f"cannot restore into {db}: {error.strerror or error}") from None
    finally:
        with contextlib.suppress(OSError):
            partial.unlink()
    return facts


def _first_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:200]

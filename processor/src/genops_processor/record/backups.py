"""Backups of the ledger as part of the record: each one audited, listed in ``backups``
with what it holds, and its age held against ``disaster_recovery_rpo_hours``.

A backup is three steps. :func:`start`, one short writer job: the ``backup.created``
audit event and the ``backups`` row are committed, then a snapshot of the ledger is taken
(``storage.backup.snapshot``: a read transaction on a second connection) with its
totals. :func:`copy`, on any other thread while the writer goes on: the snapshot is
copied into the backup file. :func:`finish` (a writer job) records how long it took and
writes the manifest beside the file; :func:`fail` removes the row and audits
``backup.failed``. The snapshot holds exactly what was committed when it began: a
restored backup's totals equal the source's at the backup's audit sequence number.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genops_processor.record.audit_log import audit
from genops_processor.storage import backup as storage_backup
from genops_processor.storage import transaction


@dataclass
class Pending:
    """A backup begun by :func:`start`: what it will hold, and its open snapshot."""

    backup_id: str
    path: Path
    taken_at: dt.datetime
    actor: str
    audit_event_id: str
    audit_seq: int
    totals: dict[str, int]
    held_ms: int
    snapshot: Any = field(repr=False, default=None)
    copy_ms: int = 0
    size: int = 0


def start(conn: Any, directory: Path, now: dt.datetime, actor: str) -> Pending:
    """The writer job of a backup: audit event, ``backups`` row, snapshot."""
    started = time.perf_counter()
    backup_id = now.strftime("%Y%m%dT%H%M%S%fZ")
    path = (directory / f"genops-{backup_id}.duckdb").resolve()
    if path.exists():
        raise FileExistsError(f"{path} exists")
    with transaction(conn):
        event_id = audit(
            conn, "backup.created", actor, {"backup_id": backup_id, "path": str(path)}, now
        )
        seq = _seq_of(conn, event_id)
        conn.execute(
            "INSERT INTO backups (backup_id, taken_at, path, audit_event_id, audit_seq) "
            "VALUES (?, ?, ?, ?, ?)",
            [backup_id, now, str(path), event_id, seq],
        )
    snapshot, totals = storage_backup.snapshot(conn)
    held_ms = int((time.perf_counter() - started) * 1000)
    return Pending(backup_id, path, now, actor, event_id, seq, totals, held_ms, snapshot)


def copy(pending: Pending) -> Pending:
    """Copy the snapshot into the backup file (off the writer thread)."""
    started = time.perf_counter()
    pending.size = storage_backup.copy_snapshot(pending.snapshot, pending.path)
    pending.snapshot = None
    pending.copy_ms = int((time.perf_counter() - started) * 1000)
    return pending


def finish(conn: Any, pending: Pending) -> dict[str, Any]:
    """The backup is complete: its figures recorded, its manifest written beside it."""
    totals = pending.totals
    conn.execute(
        "UPDATE backups SET audit_events = ?, runs = ?, cost_micros = ?, blocked_ms = ? "
        "WHERE backup_id = ?",
        [totals["audit_events"], totals["runs"], totals["cost_micros"], pending.held_ms,
         pending.backup_id],
    )  # fmt: skip
    manifest = {
        "backup_id": pending.backup_id,
        "taken_at": pending.taken_at.isoformat(),
        "path": str(pending.path),
        "bytes": pending.size,
        "audit_event_id": pending.audit_event_id,
        "audit_seq": pending.audit_seq,
        "blocked_ms": pending.held_ms,
        "copy_ms": pending.copy_ms,
        **totals,
    }
    pending.path.with_suffix(".json").write_text(
        json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    )
    return manifest


def fail(conn: Any, pending: Pending, error: BaseException, now: dt.datetime) -> None:
    """The copy failed: no backup is listed, and the failure is audited."""
    with transaction(conn):
        conn.execute("DELETE FROM backups WHERE backup_id = ?", [pending.backup_id])
        detail = {"backup_id": pending.backup_id, "error": " ".join(str(error).split())}
        audit(conn, "backup.failed", pending.actor, detail, now)


def take(storage: Any, directory: Path, actor: str) -> dict[str, Any]:
    """A whole backup through a Storage, from the calling thread (``genops backup create``)."""
    now = dt.datetime.now(dt.timezone.utc)
    pending = storage.call(lambda conn: start(conn, directory, now, actor))
    try:
        copy(pending)
    except BaseException as error:
        failed = error
        storage.call(lambda conn: fail(conn, pending, failed, now))
        raise
    return storage.call(lambda conn: finish(conn, pending))


def status(conn: Any, now: dt.datetime, rpo_hours: float = 0.0) -> dict[str, Any]:
    """The newest complete backup, its age in seconds and, with ``rpo_hours``, whether
    it is younger than that (``within_rpo``; False when no backup exists)."""
    row = conn.execute(
        "SELECT backup_id, taken_at, path, audit_event_id, audit_seq, audit_events, runs, "
        "cost_micros, blocked_ms FROM backups WHERE blocked_ms IS NOT NULL "
        "ORDER BY taken_at DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return {"last_backup_at": None, "age_s": None, "within_rpo": False}
    backup_id, taken_at, path, event_id, seq, events, runs, cost, blocked = row
    age_s = max(0, int((now - taken_at).total_seconds()))
    return {
        "backup_id": backup_id,
        "last_backup_at": taken_at.astimezone(dt.timezone.utc).isoformat(),
        "path": path,
        "audit_event_id": event_id or "",
        "audit_seq": int(seq or 0),
        "audit_events": int(events or 0),
        "runs": int(runs or 0),
        "cost_micros": int(cost or 0),
        "blocked_ms": int(blocked or 0),
        "age_s": age_s,
        "within_rpo": bool(rpo_hours) and age_s <= rpo_hours * 3600,
    }


@dataclass(frozen=True)
class PrunePlan:
    """Backups :func:`prune` removes (``remove``: id, taken_at, path) and why others stay."""

    kept: tuple[str, ...]
    remove: tuple[tuple[str, dt.datetime, str], ...]
    skipped: tuple[tuple[str, str], ...]  # (id, why its file is not touched)


def prune_plan(
    conn: Any, directory: Path, keep: int, now: dt.datetime, rpo_hours: float = 0.0
) -> PrunePlan:
    """Which complete backups to remove: all but the newest ``keep`` (at least one: the
    newest backup whose file is there is never removed) and those younger than
    ``rpo_hours``. Only a file named as the backup was written, ``genops-<id>.duckdb``
    directly in ``directory``, is ever removed: a row naming another path (an edited
    ledger, another directory) is skipped, its file untouched."""
    rows = conn.execute(
        "SELECT backup_id, taken_at, path FROM backups WHERE blocked_ms IS NOT NULL "
        "ORDER BY taken_at DESC, backup_id DESC"
    ).fetchall()
    home = directory.resolve()
    kept, remove, skipped = [], [], []
    newest_good = next((r[0] for r in rows if Path(r[2]).is_file()), None)
    for index, (backup_id, taken_at, path) in enumerate(rows):
        young = rpo_hours > 0 and (now - taken_at).total_seconds() <= rpo_hours * 3600
        if index < max(1, keep) or young or backup_id == newest_good:
            kept.append(backup_id)
            continue
        target = Path(path)
        if target.parent.resolve() != home or target.name != f"genops-{backup_id}.duckdb":
            skipped.append((backup_id, f"{path} is not genops-{backup_id}.duckdb in {home}"))
            continue
        remove.append((backup_id, taken_at, str(target)))
    return PrunePlan(tuple(kept), tuple(remove), tuple(skipped))


def prune(conn: Any, plan: PrunePlan, actor: str, now: dt.datetime) -> list[str]:
    """Remove the planned backups' files (and manifests) and rows, one ``backup.pruned``
    audit event each, in the same transaction as its row. Returns the ids removed."""
    removed = []
    for backup_id, taken_at, path in plan.remove:
        target = Path(path)
        for file in (target, target.with_suffix(".json")):
            file.unlink(missing_ok=True)
        with transaction(conn):
            conn.execute("DELETE FROM backups WHERE backup_id = ?", [backup_id])
            detail = {"backup_id": backup_id, "taken_at": taken_at.isoformat(), "path": path}
            audit(conn, "backup.pruned", actor, {**detail, "kept": len(plan.kept)}, now)
        removed.append(backup_id)
    return removed


def _seq_of(conn: Any, event_id: str) -> int:
    """The chain sequence number of an audit event (0 on a log without one)."""
    columns = {
        name
        for (name,) in conn.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'audit_events'"
        ).fetchall()
    }
    if "seq" not in columns:
        return 0
    row = conn.execute("SELECT seq FROM audit_events WHERE event_id = ?", [event_id]).fetchone()
    return int(row[0] or 0) if row else 0

"""The audit log: one event per change that matters (who, what, when, detail).
Functions take the writer thread's connection."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any


def audit(conn: Any, kind: str, actor: str, detail: dict[str, Any], now: dt.datetime) -> str:
    return audit_many(conn, kind, actor, [detail], now)[0]


def audit_many(
    conn: Any, kind: str, actor: str, details: list[dict[str, Any]], now: dt.datetime
) -> list[str]:
    """Many events of one kind in one statement (a large report stays one short job)."""
    ids = [uuid.uuid4().hex for _ in details]
    params: list[Any] = []
    for event_id, detail in zip(ids, details, strict=True):
        params += [event_id, now, kind, actor, json.dumps(detail, sort_keys=True, default=str)]
    if ids:
        conn.execute(
            "INSERT INTO audit_events VALUES " + ", ".join(["(?, ?, ?, ?, ?)"] * len(ids)), params
        )
    return ids


def audit_events(conn: Any, kind: str | None = None) -> list[dict[str, Any]]:
    sql = "SELECT event_id, occurred_at, kind, actor, detail FROM audit_events"
    params: list[Any] = []
    if kind:
        sql += " WHERE kind = ?"
        params.append(kind)
    rows = conn.execute(sql + " ORDER BY occurred_at", params).fetchall()
    return [
        {"event_id": r[0], "at": r[1], "kind": r[2], "actor": r[3], "detail": json.loads(r[4])}
        for r in rows
    ]

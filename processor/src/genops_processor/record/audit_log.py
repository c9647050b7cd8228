"""The audit log: one event per change that matters (who, what, when, detail).
Functions take the writer thread's connection."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any


def audit(conn: Any, kind: str, actor: str, detail: dict[str, Any], now: dt.datetime) -> str:
    event_id = uuid.uuid4().hex
    conn.execute(
        "INSERT INTO audit_events VALUES (?, ?, ?, ?, ?)",
        [event_id, now, kind, actor, json.dumps(detail, sort_keys=True, default=str)],
    )
    return event_id


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

"""The budget policy's versions, kept in the ledger: every change is a new version,
with who made it, when and why, and an audit event. Functions take the writer's
connection."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from genops_processor.record import audit


def latest(conn: Any) -> tuple[int, dict, dt.datetime, str] | None:
    row = conn.execute(
        "SELECT version, body, changed_at, actor FROM policy_versions ORDER BY version DESC LIMIT 1"
    ).fetchone()
    return None if row is None else (row[0], json.loads(row[1]), row[2], row[3])


def save(conn: Any, body: dict, actor: str, reason: str, now: dt.datetime) -> int:
    current = latest(conn)
    version = 1 if current is None else current[0] + 1
    conn.execute(
        "INSERT INTO policy_versions VALUES (?, ?, ?, ?, ?)",
        [version, json.dumps(body, sort_keys=True, default=str), now, actor, reason],
    )
    audit(conn, "policy.changed", actor, {"version": version, "reason": reason}, now)
    return version


def with_budget(body: dict, budget: dict) -> dict:
    """The policy with one budget added, or replaced by name."""
    budgets = [b for b in body.get("budgets") or [] if b.get("name") != budget.get("name")]
    return {**body, "budgets": [*budgets, budget]}

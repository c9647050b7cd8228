"""The budget policy's versions, kept in the ledger: every change is a new version,
with who made it, when and why, and an audit event. A version is kept with its
secrets redacted (``***``; ``${env:NAME}`` references and ``*_file`` paths as
written): the ledger never holds a secret. Functions take the writer's connection."""

from __future__ import annotations

import datetime as dt
import json
import weakref
from typing import Any

from genops_processor.budgets.alert_settings import redacted_policy
from genops_processor.record import audit

# connection -> the policy version in force (None: none stored), so that every budget
# decision's audit event names it without a query (set by latest() and save(), both on
# the writer thread).
_versions: weakref.WeakKeyDictionary[Any, int | None] = weakref.WeakKeyDictionary()


def latest(conn: Any) -> tuple[int, dict, dt.datetime, str] | None:
    row = conn.execute(
        "SELECT version, body, changed_at, actor FROM policy_versions ORDER BY version DESC LIMIT 1"
    ).fetchone()
    _versions[conn] = None if row is None else row[0]
    return None if row is None else (row[0], json.loads(row[1]), row[2], row[3])


def current_version(conn: Any) -> int | None:
    """The policy version in force (None: none stored); a query only the first time."""
    if conn not in _versions:
        latest(conn)
    return _versions.get(conn)


def save(
    conn: Any, body: dict, actor: str, reason: str, now: dt.datetime, reported_actor: str = ""
) -> int:
    """A new policy version by ``actor`` (the authenticated principal), audited;
    ``reported_actor``: who the request said it was, kept in the event, never trusted."""
    body = redacted_policy(body)  # whoever calls: no secret reaches the ledger
    current = latest(conn)
    version = 1 if current is None else current[0] + 1
    conn.execute(
        "INSERT INTO policy_versions VALUES (?, ?, ?, ?, ?)",
        [version, json.dumps(body, sort_keys=True, default=str), now, actor, reason],
    )
    detail = {"version": version, "reason": reason}
    if reported_actor:
        detail["reported_actor"] = reported_actor
    audit(conn, "policy.changed", actor, detail, now, policy_version=version)
    _versions[conn] = version
    return version


def with_budget(body: dict, budget: dict) -> dict:
    """The policy with one budget added, or replaced by name."""
    budgets = [b for b in body.get("budgets") or [] if b.get("name") != budget.get("name")]
    return {**body, "budgets": [*budgets, budget]}


def redact_versions(conn: Any) -> int:
    """Versions stored before secrets were kept out of the ledger, rewritten redacted;
    returns how many were."""
    changed = 0
    for version, text in conn.execute("SELECT version, body FROM policy_versions").fetchall():
        body = json.loads(text)
        redacted = redacted_policy(body)
        if redacted != body:
            conn.execute(
                "UPDATE policy_versions SET body = ? WHERE version = ?",
                [json.dumps(redacted, sort_keys=True, default=str), version],
            )
            changed += 1
    return changed

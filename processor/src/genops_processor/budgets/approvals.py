"""Approvals: a run that needs a person's yes waits, pending, until it gets it.

A policy rule (for example every run in environment ``production``) or the
client itself (``require_approval=True``) can require approval. The run's
budget check then answers *pending* with an approval id; ``genops approve ID``
or ``genops deny ID`` decides, and an approval nobody decides times out.
Every step is written to the audit log. Functions take the writer's connection.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from genops_processor.budgets import live_holds, running
from genops_processor.domain import Scope
from genops_processor.record import audit

_COLUMNS = (
    "approval_id",
    "status",
    "team",
    "project",
    "customer_id",
    "cost_center",
    "environment",
    "wandb_project",
    "wandb_run_name",
    "requested_at",
    "expires_at",
    "decided_at",
    "actor",
    "reason",
    "hold_id",
)


class ApprovalError(ValueError):
    """Unknown approval, or one that is not pending any more."""


def request(
    conn: Any,
    scope: Scope,
    wandb_project: str,
    wandb_run_name: str,
    timeout_s: float,
    hold_id: str,
    now: dt.datetime,
) -> dict[str, Any]:
    approval_id = uuid.uuid4().hex[:12]
    expires = now + dt.timedelta(seconds=timeout_s)
    conn.execute(
        "INSERT INTO approvals VALUES "
        "(?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, ?)",
        [
            approval_id,
            scope.team,
            scope.project,
            scope.customer_id,
            scope.cost_center,
            scope.environment,
            wandb_project,
            wandb_run_name,
            now,
            expires,
            hold_id,
        ],
    )
    audit(
        conn,
        "approval.requested",
        "processor",
        {
            "approval_id": approval_id,
            **scope.as_dict(),
            "run": wandb_run_name,
            "expires_at": expires.isoformat(),
        },
        now,
    )
    return get(conn, approval_id, now)


def get(conn: Any, approval_id: str, now: dt.datetime) -> dict[str, Any]:
    """The approval, timed out first if nobody decided in time."""
    row = _row(conn, approval_id)
    if row["status"] == "pending" and now >= row["expires_at"]:
        _close(conn, row, "timed_out", "processor", "nobody decided in time", now)
        row = _row(conn, approval_id)
    return row


def decide(
    conn: Any,
    approval_id: str,
    approve: bool,
    actor: str,
    reason: str,
    now: dt.datetime,
    reported_actor: str = "",
) -> dict[str, Any]:
    row = get(conn, approval_id, now)
    if row["status"] != "pending":
        raise ApprovalError(f"approval {approval_id} is {row['status']}, not pending")
    status = "approved" if approve else "denied"
    _close(conn, row, status, actor, reason, now, reported_actor)
    return _row(conn, approval_id)


def listing(conn: Any, status: str, now: dt.datetime) -> list[dict[str, Any]]:
    ids = [
        r[0]
        for r in conn.execute("SELECT approval_id FROM approvals ORDER BY requested_at").fetchall()
    ]
    rows = [get(conn, approval_id, now) for approval_id in ids]
    return [r for r in rows if not status or r["status"] == status]


def _close(
    conn, row, status: str, actor: str, reason: str, now: dt.datetime, reported_actor: str = ""
) -> None:
    conn.execute(
        "UPDATE approvals SET status = ?, decided_at = ?, actor = ?, reason = ? "
        "WHERE approval_id = ?",
        [status, now, actor, reason, row["approval_id"]],
    )
    if status != "approved" and row["hold_id"]:
        with running.moving(conn, hold_ids=[row["hold_id"]]):
            conn.execute(
                "UPDATE holds SET status = 'released', closed_ns = ? WHERE hold_id = ? "
                "AND status = 'open'",
                [int(now.timestamp() * 1e9), row["hold_id"]],
            )
            if (live := live_holds.of(conn)) is not None:
                live.close(conn, [row["hold_id"]], "released")
    detail = {"approval_id": row["approval_id"], "reason": reason}
    if reported_actor:
        detail["reported_actor"] = reported_actor  # who the request said it was
    audit(conn, f"approval.{status}", actor, detail, now)


def _row(conn: Any, approval_id: str) -> dict[str, Any]:
    row = conn.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM approvals WHERE approval_id = ?", [approval_id]
    ).fetchone()
    if row is None:
        raise ApprovalError(f"no approval {approval_id}")
    return dict(zip(_COLUMNS, row, strict=True))

"""The budget decision log: every CheckBudget answer, stored for audit."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from genops.money import saturate_int64 as i64
from genops_processor.budgets.policy import Decision
from genops_processor.domain import Scope
from genops_processor.storage.ordered_ids import ordered_id


def record_decision(
    conn: Any,
    scope: Scope,
    wandb_project: str,
    wandb_run_name: str,
    decision: Decision,
    now: dt.datetime,
) -> str:
    decision_id = ordered_id()
    deciding = decision.deciding
    budgets = [
        {
            "name": s.budget.name,
            "mode": s.budget.mode,
            "source": s.budget.source,
            "limit_micros": s.budget.limit_micros,
            "spent_micros": s.spent_micros,
            "exceeded": s.exceeded,
        }
        for s in decision.states
    ]
    append(
        conn,
        "INSERT INTO budget_decisions VALUES ",
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            decision_id,
            now,
            scope.team,
            scope.project,
            scope.customer_id,
            scope.cost_center,
            scope.environment,
            wandb_project,
            wandb_run_name,
            i64(decision.requested_micros),  # BIGINT columns: figures saturate, never fail
            decision.outcome,
            deciding.budget.name if deciding else None,
            deciding.budget.mode if deciding else None,
            i64(deciding.budget.limit_micros) if deciding else None,
            i64(deciding.spent_micros) if deciding else None,
            json.dumps(budgets),
            decision.message,
        ],
    )
    return decision_id


def append(conn: Any, insert: str, row: str, params: list) -> None:
    """An insert of one row that may go with the other rows of its transaction in one
    statement (the writer's connection batches them: a row at a time costs ~2 ms each)."""
    batched = getattr(conn, "append", None)
    if batched is not None:
        batched(insert, row, params)
    else:
        conn.execute(insert + row, params)


def list_decisions(conn: Any) -> list[dict[str, Any]]:
    cursor = conn.execute("SELECT * FROM budget_decisions ORDER BY decided_at")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def record_offline(
    conn: Any,
    decided_at: dt.datetime,
    scope: Scope,
    decision: str,
    message: str,
    wandb_project: str,
    wandb_run_name: str,
) -> str:
    """A decision a client took alone (its fail mode) while it could not reach us."""
    items = [(decided_at, scope, decision, message, wandb_project, wandb_run_name)]
    return record_offline_many(conn, items)[0]


def record_offline_many(conn: Any, items: Sequence[tuple]) -> list[str]:
    """Many offline decisions, (decided_at, scope, decision, message, wandb_project,
    wandb_run_name) each, in one statement (a row at a time costs ~2 ms each)."""
    ids, params = [], []
    source = json.dumps([{"source": "client-offline"}])
    for decided_at, scope, decision, message, wandb_project, wandb_run_name in items:
        ids.append(ordered_id())
        params += [
            ids[-1],
            decided_at,
            scope.team,
            scope.project,
            scope.customer_id,
            scope.cost_center,
            scope.environment,
            wandb_project,
            wandb_run_name,
            0,
            decision,
            None,
            None,
            None,
            None,
            source,
            message,
        ]
    if ids:
        row = "(" + ", ".join("?" * 17) + ")"
        conn.execute("INSERT INTO budget_decisions VALUES " + ", ".join([row] * len(ids)), params)
    return ids

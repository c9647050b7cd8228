"""The spend a budget decision reads: committed cost in the budget's period (pro rata for
runs spanning its start), open reservations and hand-added lines. Functions take the
writer thread's connection."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from genops_processor.budgets.policy import Budget, BudgetState, decide
from genops_processor.domain import Scope
from genops_processor.storage import scope_filter, to_ns
from genops_processor.storage.queries import manual_cost_since


def budget_states(
    conn: Any, budgets: Sequence[Budget], now: dt.datetime
) -> tuple[BudgetState, ...]:
    """Each budget's spend in its current period, nothing requested."""
    return decide(budgets, 0, now, lambda b, since: spend_query(conn, b, since)).states


def spend_query(conn: Any, budget: Budget, since: dt.datetime) -> int:
    """Spend in a scope since a time: committed cost plus open reservations.

    A run with an open hold counts as the larger of its hold and what it has
    accrued; every other run counts its cost; user-added lines count too.
    """
    return (
        _run_cost_since(conn, budget.scope, since)
        + open_holds(conn, budget.scope)
        + manual_cost_since(conn, budget.scope, since)
    )


# A run's cost counts in a period pro rata of its compute time inside it: a run
# spanning midnight is split between the two days (integer micro-dollars, floored).
_PRO_RATA = (
    "CASE WHEN r.as_of_ns <= r.compute_start_ns THEN r.cost_micros "
    "ELSE (r.cost_micros::HUGEINT * (r.as_of_ns - GREATEST(r.compute_start_ns, ?)) "
    "// (r.as_of_ns - r.compute_start_ns))::BIGINT END"
)


def _run_cost_since(conn: Any, scope: Scope, since: dt.datetime) -> int:
    where, params = scope_filter(scope, prefix="r.")
    since_ns = to_ns(since)
    row = conn.execute(
        f"SELECT COALESCE(SUM({_PRO_RATA}), 0) FROM runs r WHERE {where} AND r.as_of_ns >= ? "
        "AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.status = 'open' AND h.hold_id = r.hold_id)",
        [since_ns, *params, since_ns],
    ).fetchone()
    return int(row[0])


def open_holds(conn: Any, scope: Scope) -> int:
    where, params = scope_filter(scope, prefix="h.")
    row = conn.execute(
        "SELECT COALESCE(SUM(GREATEST(h.amount_micros, COALESCE(r.cost_micros, 0))), 0) "
        "FROM holds h LEFT JOIN runs r ON r.hold_id = h.hold_id "
        f"WHERE h.status = 'open' AND {where}",
        params,
    ).fetchone()
    return int(row[0])

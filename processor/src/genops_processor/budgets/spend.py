"""A budget's spend derived from the ledger: committed cost in the budget's period (pro
rata for runs spanning its start), open reservations and hand-added lines. Decisions
read the running figure kept by :mod:`genops_processor.budgets.running`, derived from
this on start and kept equal to it. Functions take the writer thread's connection."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from genops.money import saturate_int64
from genops_processor.budgets.policy import Budget, BudgetState, decide
from genops_processor.budgets.reservations import FUNDED_COUNT, live_holds
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
    accrued. An open experiment hold counts as the larger of its amount and what
    the runs it funds count for (open: their hold or more; finished: their cost),
    so those runs count once, inside it. Every other run counts its cost;
    user-added lines count too.
    """
    total = (
        _run_cost_since(conn, budget.scope, since)
        + open_holds(conn, budget.scope)
        + manual_cost_since(conn, budget.scope, since)
    )
    # Each figure is bounded (limits.MAX_RUN_MICROS a run), their sum is not: it
    # saturates at the int64 maximum, far above any limit (MAX_BUDGET_LIMIT_MICROS).
    return saturate_int64(total)


# A run's cost counts in a period pro rata of its compute time inside it: a run
# spanning midnight is split between the two days (integer micro-dollars, floored).
# In HUGEINT throughout, so no stored time or cost can overflow it; a negative cost
# (only in a ledger written by hand; quarantined on open) never reduces spend.
_PRO_RATA = (
    "CASE WHEN r.as_of_ns <= r.compute_start_ns THEN GREATEST(r.cost_micros, 0)::HUGEINT "
    "ELSE GREATEST(r.cost_micros, 0)::HUGEINT "
    "* (r.as_of_ns::HUGEINT - GREATEST(r.compute_start_ns, ?)::HUGEINT) "
    "// (r.as_of_ns::HUGEINT - r.compute_start_ns::HUGEINT) END"
)


def _run_cost_since(conn: Any, scope: Scope, since: dt.datetime) -> int:
    where, params = scope_filter(scope, prefix="r.")
    since_ns = to_ns(since)
    row = conn.execute(
        f"SELECT COALESCE(SUM({_PRO_RATA}), 0) FROM runs r WHERE {where} AND r.as_of_ns >= ? "
        f"AND NOT EXISTS (SELECT 1 FROM ({live_holds()}) l WHERE l.hold_id = r.hold_id)",
        [since_ns, *params, since_ns],
    ).fetchone()
    return int(row[0])


def open_holds(conn: Any, scope: Scope) -> int:
    """Open holds that no open hold funds, each the larger of its amount and what it
    funds: its own run's cost plus what each hold it funds counts for."""
    where, params = scope_filter(scope, prefix="h.")
    row = conn.execute(
        f"WITH live AS ({live_holds(where)}), "
        "cost AS (SELECT r.hold_id, SUM(GREATEST(r.cost_micros, 0)) AS cost FROM runs r "
        "WHERE r.hold_id IN (SELECT hold_id FROM live) GROUP BY 1), "
        f"funded AS (SELECT f.parent_hold_id AS hold_id, SUM({FUNDED_COUNT}) AS used "
        "FROM live f LEFT JOIN cost c ON c.hold_id = f.hold_id WHERE f.funded GROUP BY 1) "
        "SELECT COALESCE(SUM(GREATEST(t.amount_micros, "
        "COALESCE(own.cost, 0) + COALESCE(k.used, 0))), 0) "
        "FROM live t LEFT JOIN cost own ON own.hold_id = t.hold_id "
        "LEFT JOIN funded k ON k.hold_id = t.hold_id WHERE NOT t.funded",
        [*params, *params],
    ).fetchone()
    return int(row[0])

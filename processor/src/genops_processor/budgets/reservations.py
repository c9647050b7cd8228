"""Budget reservations ("holds"): what keeps concurrent work from overspending.

A run that is allowed to start reserves the amount it asked for; budgets count
committed cost plus open holds, and the check and the reservation happen in
one step on the writer thread, so concurrent requests cannot both take the
last dollar. The run's spans carry the hold id: its final span commits the
hold (the run's actual cost counts from then on, the rest is released); a
hold whose run falls silent expires after a timeout, and the cost accrued up
to the last heartbeat stays committed. A hold no run reports on (an
experiment block's) stays open while its owner renews it. Functions take the
writer's connection.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from genops_processor.domain import RunState, Scope


def reserve(conn: Any, decision_id: str, scope: Scope, amount_micros: int, now_ns: int) -> str:
    hold_id = uuid.uuid4().hex
    conn.execute(
        "INSERT INTO holds VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?, 'open', ?, NULL, NULL, NULL)",
        [
            hold_id,
            decision_id,
            scope.team,
            scope.project,
            scope.customer_id,
            scope.cost_center,
            scope.environment,
            amount_micros,
            now_ns,
        ],
    )
    return hold_id


def track(conn: Any, states: Iterable[RunState]) -> None:
    """Link holds to the runs that carry them; a finished run commits its hold."""
    for state in states:
        if not state.labels.hold_id:
            continue
        conn.execute(
            "UPDATE holds SET run_key = ?, last_seen_ns = ?, "
            "status = CASE WHEN ? THEN 'committed' ELSE status END, "
            "closed_ns = CASE WHEN ? THEN ? ELSE closed_ns END, "
            "committed_micros = CASE WHEN ? THEN ? ELSE committed_micros END "
            "WHERE hold_id = ? AND status = 'open'",
            [
                state.run_key,
                state.usage.as_of_ns,
                state.final,
                state.final,
                state.usage.as_of_ns,
                state.final,
                state.cost_micros,
                state.labels.hold_id,
            ],
        )


def expire(conn: Any, now_ns: int, timeout_s: float) -> list[str]:
    """Close holds whose runs fell silent; their runs are marked lost."""
    cutoff = now_ns - int(timeout_s * 1e9)
    rows = conn.execute(
        "SELECT hold_id FROM holds WHERE status = 'open' "
        "AND COALESCE(last_seen_ns, created_ns) < ?",
        [cutoff],
    ).fetchall()
    expired = [row[0] for row in rows]
    if not expired:
        return []
    conn.execute(
        "UPDATE holds SET status = 'expired', closed_ns = ?, committed_micros = COALESCE(("
        "SELECT r.cost_micros FROM runs r WHERE r.hold_id = holds.hold_id), 0) "
        "WHERE hold_id IN (SELECT unnest(?))",
        [now_ns, expired],
    )
    conn.execute(
        "UPDATE runs SET status = 'lost' WHERE NOT final AND hold_id IN (SELECT unnest(?))",
        [expired],
    )
    return expired


def holds(conn: Any) -> list[dict[str, Any]]:
    cursor = conn.execute("SELECT * FROM holds ORDER BY created_ns")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def hold(conn: Any, hold_id: str) -> tuple[str, int] | None:
    """(status, amount) of a hold."""
    row = conn.execute(
        "SELECT status, amount_micros FROM holds WHERE hold_id = ?", [hold_id]
    ).fetchone()
    return (row[0], int(row[1])) if row else None


def own_spend(conn: Any, hold_id: str, run_id: str) -> int:
    """What a run already counts for in spend: its open hold (or more), else its cost."""
    if hold_id:
        row = conn.execute(
            "SELECT CASE WHEN h.status = 'open' THEN GREATEST(h.amount_micros, "
            "COALESCE(r.cost_micros, 0)) ELSE COALESCE(r.cost_micros, 0) END "
            "FROM holds h LEFT JOIN runs r ON r.hold_id = h.hold_id WHERE h.hold_id = ?",
            [hold_id],
        ).fetchone()
        return int(row[0]) if row else 0
    row = conn.execute(
        "SELECT COALESCE(SUM(cost_micros), 0) FROM runs WHERE run_id = ? AND NOT final", [run_id]
    ).fetchone()
    return int(row[0])


def extend(conn: Any, hold_id: str, amount_micros: int) -> None:
    conn.execute(
        "UPDATE holds SET amount_micros = GREATEST(amount_micros, ?) "
        "WHERE hold_id = ? AND status = 'open'",
        [amount_micros, hold_id],
    )


def renew(conn: Any, hold_id: str, now_ns: int) -> tuple[bool, int]:
    """Its owner is alive: an open hold is seen now (so it does not expire).
    Returns (open?, amount); a closed or unknown hold is left as it is."""
    found = hold(conn, hold_id)
    if found is None:
        return False, 0
    status, amount = found
    if status != "open":
        return False, amount
    conn.execute(
        "UPDATE holds SET last_seen_ns = GREATEST(COALESCE(last_seen_ns, 0), ?) "
        "WHERE hold_id = ? AND status = 'open'",
        [now_ns, hold_id],
    )
    return True, amount


def release(conn: Any, hold_id: str, now_ns: int) -> bool:
    """Give a hold back (nothing of it is spent: its runs carry their own cost)."""
    found = conn.execute(
        "SELECT count(*) FROM holds WHERE hold_id = ? AND status = 'open'", [hold_id]
    ).fetchone()[0]
    conn.execute(
        "UPDATE holds SET status = 'released', closed_ns = ?, committed_micros = 0 "
        "WHERE hold_id = ? AND status = 'open'",
        [now_ns, hold_id],
    )
    return bool(found)

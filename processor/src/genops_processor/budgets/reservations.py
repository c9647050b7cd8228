"""Budget reservations ("holds"): what keeps concurrent work from overspending.

A run that is allowed to start reserves the amount it asked for; budgets count
committed cost plus open holds, and the check and the reservation happen in
one step on the writer thread, so concurrent requests cannot both take the
last dollar. The run's spans carry the hold id: its final span commits the
hold (the run's actual cost counts from then on, the rest is released); a
hold whose run falls silent expires after a timeout, and the cost accrued up
to the last heartbeat stays committed. A hold no run reports on (an
experiment block's) stays open while its owner renews it, and funds the runs
opened inside the block: their holds name it as their parent
(``holds.parent_hold_id``) and count inside it, never beside it, while it is
open (:class:`Family`). Functions take the writer's connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from genops_processor.budgets import decisions, running
from genops_processor.budgets import live_holds as memory
from genops_processor.domain import RunState, Scope
from genops_processor.storage import forget_runs
from genops_processor.storage.key_lookup import KEY_CHUNK, rows_by_key
from genops_processor.storage.ordered_ids import ordered_id

_SCOPE_COLUMNS = ("team", "project", "customer_id", "cost_center", "environment")

# What the runs carrying hold h cost so far (one run per hold; summed to be safe).
_COST = "COALESCE((SELECT SUM(r.cost_micros) FROM runs r WHERE r.hold_id = h.hold_id), 0)"

# What a funded hold f counts for inside its parent: its amount or more while open,
# its run's cost once closed (c: its runs' cost, by hold_id).
FUNDED_COUNT = (
    "CASE WHEN f.status = 'open' THEN GREATEST(f.amount_micros, COALESCE(c.cost, 0)) "
    "ELSE COALESCE(c.cost, 0) END"
)

_OPEN_IDS = "(SELECT hold_id FROM holds WHERE status = 'open')"
_HOLD_COLUMNS = (
    "h.hold_id, h.parent_hold_id, h.status, h.amount_micros, h.team, h.project, "
    "h.customer_id, h.cost_center, h.environment"
)


def reserve(
    conn: Any,
    decision_id: str,
    scope: Scope,
    amount_micros: int,
    now_ns: int,
    parent_hold_id: str = "",
    principal: str = "",
) -> str:
    """A new open hold; ``parent_hold_id`` names the experiment hold that funds it
    (checked by the caller, see :mod:`genops_processor.budgets.funding`); ``principal``
    is who asked for it (only it, or an admin, may renew or release it)."""
    hold_id = ordered_id()
    # A hold funded by nobody moves spend by its amount (no read: a decision's path);
    # a funded one by what it changes in its family.
    row = (hold_id, decision_id, scope, amount_micros, now_ns, parent_hold_id, principal)
    live = memory.of(conn)
    if live is not None:  # spend moves by what the family's count changed, from memory
        with _moving_family(conn, live, parent_hold_id or hold_id):
            _insert(conn, *row)
            live.reserve(conn, hold_id, scope, amount_micros, parent_hold_id, principal)
    elif parent_hold_id:
        with running.moving(conn, hold_ids=[hold_id, parent_hold_id]):
            _insert(conn, *row)
    else:
        _insert(conn, *row)
        running.added(conn, scope, amount_micros)
    return hold_id


@contextmanager
def _moving_family(conn: Any, live: memory.LiveHolds, hold_id: str) -> Iterator[None]:
    """Around a change of one hold family's amounts (a hold added to it or grown, never
    closed): running spend moves by what the family counts for, read from memory (no
    scan of the runs). Undone with the transaction if it rolls back."""
    before = live.top(hold_id)
    yield
    after = live.top(hold_id)
    if before is not None and after is not None and before.hold_id != after.hold_id:
        raise AssertionError("a family's top changed while it grew")  # not reachable
    top = after or before
    if top is None:
        return
    delta = (after.counted_micros if after else 0) - (before.counted_micros if before else 0)
    if delta:
        running.added(conn, top.scope, delta)
        memory.on_rollback(conn, lambda: running.added(conn, top.scope, -delta))


def _moving_holds(conn: Any, hold_ids: list[str]):
    """Around holds closing: running spend moves by what they change, read from the ledger
    at the end; should the transaction around roll back, it is derived again."""
    memory.on_rollback(conn, lambda: running.lost_track(conn))
    return running.moving(conn, hold_ids=hold_ids)


def _insert(conn, hold_id, decision_id, scope, amount_micros, now_ns, parent_hold_id, principal):
    decisions.append(
        conn,
        "INSERT INTO holds (hold_id, decision_id, team, project, customer_id, cost_center, "
        "environment, amount_micros, status, created_ns, parent_hold_id, principal) VALUES ",
        "(?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?)",
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
            parent_hold_id or None,
            principal or None,
        ],
    )


def kept_owner(live: memory.LiveHolds | None, hold_id: str) -> tuple[str | None, str] | None:
    """:func:`owner` of a hold the live holds keep (open, funded by an open one, or
    among the last closed); None when they do not keep it. Who made a hold and its team
    never change, so any version of it memory shows answers like the ledger."""
    kept = live.hold(hold_id) if live is not None else None
    return None if kept is None else (kept.principal or None, kept.scope.team)


def owner(conn: Any, hold_id: str) -> tuple[str | None, str] | None:
    """(principal, team) of a hold; principal None: created before authentication."""
    if (found := kept_owner(memory.of(conn), hold_id)) is not None:
        return found
    row = conn.execute("SELECT principal, team FROM holds WHERE hold_id = ?", [hold_id]).fetchone()
    return (row[0], row[1] or "") if row else None


def open_holds_of(conn: Any, principal: str) -> int:
    """How many open holds a principal has (its per-principal cap counts these)."""
    if (live := memory.of(conn)) is not None:
        return live.open_holds_of(principal)
    return int(
        conn.execute(
            "SELECT count(*) FROM holds WHERE status = 'open' AND principal = ?", [principal]
        ).fetchone()[0]
    )


def open_holds_refusal(conn: Any, principal: str, cap: int | None) -> str | None:
    """Why ``principal`` may not open another hold (it has ``cap`` open), or None."""
    if not principal or cap is None:
        return None
    count = open_holds_of(conn, principal)
    if count < cap:
        return None
    return (
        f"principal {principal!r} has {count} open holds, at most {cap} per principal "
        "(MAX_OPEN_HOLDS_PER_PRINCIPAL): release or finish some first"
    )


def running_runs_refusal(conn: Any, scope: Scope, most: int) -> str | None:
    """Why a run of ``scope`` may not start: ``most`` (the client's
    max_concurrent_experiments, 0 none) runs of the scope started and are not final."""
    if most <= 0:
        return None
    live = memory.of(conn)
    count = live.runs_not_final(scope) if live is not None else None
    if count is None:  # past LIVE_RUNS_KEPT running runs: the ledger (rare)
        where = " AND ".join(f"COALESCE({c}, '') = ?" for c in _SCOPE_COLUMNS)
        values = [getattr(scope, c) for c in _SCOPE_COLUMNS]
        count = conn.execute(
            f"SELECT count(*) FROM runs WHERE NOT final AND {where}", values
        ).fetchone()[0]
    if count < most:
        return None
    return (
        f"max_concurrent_experiments {most} reached: {count} runs of this scope are "
        "running or starting; wait for one to finish"
    )


def listing(
    conn: Any, include_closed: bool, limit: int, team: str = ""
) -> tuple[list[dict[str, Any]], bool]:
    """Holds, oldest first (open ones only unless ``include_closed``), at most ``limit``;
    and whether more matched."""
    where, params = ["TRUE"], []
    if not include_closed:
        where.append("status = 'open'")
    if team:
        where.append("team = ?")
        params.append(team)
    cursor = conn.execute(
        f"SELECT * FROM holds WHERE {' AND '.join(where)} ORDER BY created_ns, hold_id "
        f"LIMIT {int(limit) + 1}",
        params,
    )
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return rows[:limit], len(rows) > limit


# Each open hold a batch's runs carry: linked to its run, seen, committed when the run
# is final. One statement for the batch (27 point updates: ~25 ms at a year of history,
# this: ~3 ms; the open holds are the recent rows, which the status filter finds).
_TRACK = (
    "UPDATE holds SET run_key = u.run_key, last_seen_ns = u.seen_ns, "
    "status = CASE WHEN u.final THEN 'committed' ELSE holds.status END, "
    "closed_ns = CASE WHEN u.final THEN u.seen_ns ELSE holds.closed_ns END, "
    "committed_micros = CASE WHEN u.final THEN u.cost ELSE holds.committed_micros END "
    "FROM (SELECT unnest($1::VARCHAR[]) AS hold_id, unnest($2::VARCHAR[]) AS run_key, "
    "unnest($3::BIGINT[]) AS seen_ns, unnest($4::BOOLEAN[]) AS final, "
    "unnest($5::BIGINT[]) AS cost) u "
    "WHERE holds.hold_id = u.hold_id AND holds.status = 'open'"
)


def track(conn: Any, states: Iterable[RunState]) -> None:
    """Link holds to the runs that carry them; a finished run commits its hold."""
    states = list(states)
    if (live := memory.of(conn)) is not None:
        live.track(conn, states)
    held = [state for state in states if state.labels.hold_id]
    if not held:
        return
    if len({state.labels.hold_id for state in held}) < len(held):
        # runs sharing a hold: one after the other (the first to finish commits it)
        for state in held:
            _track(conn, [state])
        return
    _track(conn, held)


def _track(conn: Any, held: list[RunState]) -> None:
    conn.execute(
        _TRACK,
        [
            [state.labels.hold_id for state in held],
            [state.run_key for state in held],
            [state.usage.as_of_ns for state in held],
            [state.final for state in held],
            [state.cost_micros for state in held],
        ],
    ).fetchall()


def silent(
    conn: Any,
    now_ns: int,
    timeout_s: float,
    limit: int | None = None,
    among: Sequence[str] | None = None,
) -> list[str]:
    """Open holds whose runs (or owners) fell silent for ``timeout_s`` (at most ``limit``,
    the longest silent first). ``among``: only these holds are looked at, by key (the
    holds' index answers); None: every hold (a scan of the whole table, which grows with
    the ledger's history: the processor runs it beside the writer, see
    ``Governance.expire_holds``)."""
    cutoff = now_ns - int(timeout_s * 1e9)
    if among is None:
        rows = conn.execute(
            "SELECT hold_id FROM holds WHERE status = 'open' "
            "AND COALESCE(last_seen_ns, created_ns) < ? "
            "ORDER BY COALESCE(last_seen_ns, created_ns), hold_id LIMIT ?",
            [cutoff, limit if limit is not None else 2**62],
        ).fetchall()
        return [row[0] for row in rows]
    rows = rows_by_key(
        conn,
        "SELECT COALESCE(last_seen_ns, created_ns), hold_id, status FROM holds",
        "hold_id",
        among,
    )
    found = sorted((seen, h) for seen, h, status in rows if status == "open" and seen < cutoff)
    return [hold_id for _, hold_id in found][:limit]


def expire(
    conn: Any,
    now_ns: int,
    timeout_s: float,
    limit: int | None = None,
    among: Sequence[str] | None = None,
) -> list[str]:
    """Close holds whose runs fell silent (at most ``limit``; ``among``: only of these,
    each checked again here); their runs are marked lost."""
    expired = silent(conn, now_ns, timeout_s, limit, among)
    if not expired:
        return []
    with _moving_holds(conn, expired):
        _close_expired(conn, now_ns, expired)
        if (live := memory.of(conn)) is not None:
            live.close(conn, expired, "expired")
    return expired


def _close_expired(conn: Any, now_ns: int, expired: list[str]) -> None:
    committed = _committed_from_memory(conn, expired)
    if committed is None:  # the ledger says: a join of the holds with every run
        conn.execute(
            "UPDATE holds SET status = 'expired', closed_ns = ?, committed_micros = COALESCE(("
            "SELECT r.cost_micros FROM runs r WHERE r.hold_id = holds.hold_id), 0) "
            "WHERE hold_id IN (SELECT unnest(?))",
            [now_ns, expired],
        )
    else:  # by key, a chunk at a time: the holds' index answers (storage/key_lookup.py)
        for start in range(0, len(expired), KEY_CHUNK):
            ids = expired[start : start + KEY_CHUNK]
            conn.execute(
                "UPDATE holds SET status = 'expired', closed_ns = ?, committed_micros = "
                "list_extract(?::BIGINT[], list_position(?::VARCHAR[], hold_id)) "
                "WHERE hold_id IN (SELECT unnest(?::VARCHAR[]))",
                [now_ns, [committed[h] for h in ids], ids, ids],
            )
    lost = conn.execute(
        "UPDATE runs SET status = 'lost' WHERE NOT final AND hold_id IN (SELECT unnest(?)) "
        "RETURNING run_key",
        [expired],
    ).fetchall()
    # the writer's cached states of these runs no longer say what their rows say (all of
    # them were dropped before: each step of an expiry burst then made the next ingest jobs
    # read their runs back and replace their lines, 165 ms a job on a year-seeded ledger)
    forget_runs(conn, [row[0] for row in lost])


def _committed_from_memory(conn: Any, expired: list[str]) -> dict[str, int] | None:
    """What each expiring hold commits, from the live holds: the cost of the run carrying
    it (0 when none does), as the ledger's join would find it. None when memory cannot
    tell for each of them (not attached, a hold it does not keep, or one carried by more
    than one run): the ledger decides then. On the year-seeded bench ledger a step of 500
    holds took 250-320 ms the ledger's way, 40 ms by key (/work/prof/upd_micro.py)."""
    live = memory.of(conn)
    if live is None:
        return None
    committed = {}
    for hold_id in expired:
        hold = live.hold(hold_id)
        if hold is None or len(hold.runs) > 1:
            return None
        committed[hold_id] = hold.run_micros
    return committed


def holds(conn: Any) -> list[dict[str, Any]]:
    cursor = conn.execute("SELECT * FROM holds ORDER BY created_ns")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def hold(conn: Any, hold_id: str) -> tuple[str, int] | None:
    """(status, amount) of a hold."""
    live = memory.of(conn)
    if live is not None and (kept := live.hold(hold_id)) is not None:
        return kept.status, kept.amount_micros
    row = conn.execute(
        "SELECT status, amount_micros FROM holds WHERE hold_id = ?", [hold_id]
    ).fetchone()
    return (row[0], int(row[1])) if row else None


def own_spend(conn: Any, hold_id: str, run_id: str) -> int:
    """What a run already counts for in spend: its open hold (or more), else its cost.
    (A run funded by an experiment's hold counts inside it: see ``spend_change``.)"""
    live = memory.of(conn)
    if live is not None:
        if hold_id:  # a closed hold memory forgot is read once, then kept (recall)
            kept = live.hold(hold_id) or live.recall(conn, hold_id)
            if kept is None:
                return 0  # no such hold
            if kept.status == "open":
                return max(kept.amount_micros, kept.run_micros)
            return kept.run_micros
        if (cost := live.run_cost(run_id)) is not None:
            return cost
    if hold_id:
        row = conn.execute(
            f"SELECT CASE WHEN h.status = 'open' THEN GREATEST(h.amount_micros, {_COST}) "
            f"ELSE {_COST} END FROM holds h WHERE h.hold_id = ?",
            [hold_id],
        ).fetchone()
        return int(row[0]) if row else 0
    row = conn.execute(
        "SELECT COALESCE(SUM(cost_micros), 0) FROM runs WHERE run_id = ? AND NOT final", [run_id]
    ).fetchone()
    return int(row[0])


def extend(conn: Any, hold_id: str, amount_micros: int) -> None:
    live = memory.of(conn)
    moving = (
        _moving_family(conn, live, hold_id)
        if live is not None
        else running.moving(conn, hold_ids=[hold_id])
    )
    with moving:
        conn.execute(
            "UPDATE holds SET amount_micros = GREATEST(amount_micros, ?) "
            "WHERE hold_id = ? AND status = 'open'",
            [amount_micros, hold_id],
        )
        if live is not None:
            live.extend(conn, hold_id, amount_micros)


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
    if not found:
        return False
    with _moving_holds(conn, [hold_id]):
        conn.execute(
            "UPDATE holds SET status = 'released', closed_ns = ?, committed_micros = 0 "
            "WHERE hold_id = ? AND status = 'open'",
            [now_ns, hold_id],
        )
        if (live := memory.of(conn)) is not None:
            live.close(conn, [hold_id], "released")
    return bool(found)


def live_holds(where: str = "TRUE") -> str:
    """SQL for the holds that count in spend now: every open hold, and every hold an
    open hold funds (closed or not: a funded run counts inside its experiment's hold
    until that closes), with ``funded``. ``where`` (alias h) appears twice: give its
    parameters twice. A funded hold has its parent's scope, so a scope filter keeps
    or drops a family whole. Two filtered scans, not a self-join: a decision reads
    this, and most holds are closed and funded by none."""
    return (
        f"SELECT {_HOLD_COLUMNS}, COALESCE(h.parent_hold_id IN {_OPEN_IDS}, FALSE) AS funded "
        f"FROM holds h WHERE h.status = 'open' AND {where} UNION ALL "
        f"SELECT {_HOLD_COLUMNS}, TRUE AS funded FROM holds h WHERE h.status <> 'open' "
        f"AND h.parent_hold_id IS NOT NULL AND h.parent_hold_id IN {_OPEN_IDS} AND {where}"
    )


_FAMILY = (
    "SELECT h.team, h.project, h.customer_id, h.cost_center, h.environment, "
    f"h.amount_micros, COALESCE(h.parent_hold_id, ''), {_COST}, h.run_key IS NOT NULL "
    "OR EXISTS (SELECT 1 FROM runs r WHERE r.hold_id = h.hold_id), COALESCE(("
    f"SELECT SUM({FUNDED_COUNT}) FROM holds f LEFT JOIN ("
    "SELECT hold_id, SUM(cost_micros) AS cost FROM runs WHERE hold_id IN ("
    "SELECT hold_id FROM holds WHERE parent_hold_id = ?) GROUP BY 1) c "
    "ON c.hold_id = f.hold_id WHERE f.parent_hold_id = ?), 0) "
    "FROM holds h WHERE h.hold_id = ? AND h.status = 'open'"
)


# An open hold with the runs it funds: it counts in spend as the larger of its amount
# and what it funds (the cost of a run carrying it, if any, plus each funded hold's
# ``FUNDED_COUNT``). One type, whether read from memory or from the ledger.
Family = memory.Family


def family(conn: Any, hold_id: str) -> Family | None:
    """An open hold and what it funds; None when it is not open (or unknown)."""
    if (live := memory.of(conn)) is not None:
        return live.family(hold_id)
    row = conn.execute(_FAMILY, [hold_id, hold_id, hold_id]).fetchone()
    if row is None:
        return None
    scope = Scope(*(value or "" for value in row[:5]))
    return Family(hold_id, scope, int(row[5]), int(row[7]), int(row[9]), row[6], bool(row[8]))


def funding_parent(conn: Any, hold_id: str) -> Family | None:
    """The open hold that funds this hold, if any."""
    if (live := memory.of(conn)) is not None:
        return live.funding_parent(hold_id)
    row = conn.execute(
        "SELECT parent_hold_id FROM holds WHERE hold_id = ? AND parent_hold_id IS NOT NULL",
        [hold_id],
    ).fetchone()
    return family(conn, row[0]) if row else None


def spend_change(conn: Any, hold_id: str, run_id: str, projected_micros: int) -> int:
    """How spend changes when a running run counts for ``projected_micros`` instead of
    what it counts for now. A run funded by an open experiment hold counts inside it:
    only what takes the experiment past its hold changes spend. (So does a run whose
    own open hold funds others: its cost counts inside that hold's family.)"""
    own = own_spend(conn, hold_id, run_id)
    if not hold_id:
        return projected_micros - own
    parent = funding_parent(conn, hold_id)
    if parent is not None:
        used = parent.used_micros - own + projected_micros
        return max(parent.amount_micros, used) - parent.counted_micros
    itself = family(conn, hold_id)
    if itself is None or not itself.funded_micros:
        return projected_micros - own
    used = projected_micros + itself.funded_micros
    return max(itself.amount_micros, used) - itself.counted_micros

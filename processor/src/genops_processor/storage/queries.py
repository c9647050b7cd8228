"""Read-side SQL over the ledger. Functions take the writer thread's connection."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from genops_processor.domain import RunState, Scope
from genops_processor.storage.quarantine import SANE_AMOUNT, SANE_RUN
from genops_processor.storage.run_rows import RUN_COLUMNS, row_to_state

# Sums below are HUGEINT in DuckDB (SUM of BIGINT), so they never overflow; runs
# that break the money invariants are quarantined on open, and left out here too
# (SANE_RUN) for a ledger opened read-only before that could happen.


def list_runs(conn: Any, scope: Scope | None = None, limit: int = 0) -> list[RunState]:
    where, params = scope_filter(scope or Scope())
    sql = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs r WHERE {where} AND {SANE_RUN} "
    sql += "ORDER BY compute_start_ns DESC, run_key"
    if limit > 0:
        sql += f" LIMIT {int(limit)}"
    return [row_to_state(row) for row in conn.execute(sql, params).fetchall()]


# The order of ListRuns pages, newest first; a page resumes after its last (start, key).
_START = "COALESCE(r.compute_start_ns, 0)"
_RUN_ORDER = f"{_START} DESC, r.run_key"


def list_runs_page(
    conn: Any,
    scope: Scope | None,
    size: int,
    after: tuple[int, str] | None = None,
    teams: frozenset[str] | None = None,
    window: tuple[int, int] = (0, 0),
) -> tuple[list[RunState], bool]:
    """Up to ``size`` runs after the keyset position ``after`` (start ns, run key), and
    whether more follow. Keyset, not OFFSET: a page never costs more than the first.
    The page's positions are found on two narrow columns first, then its rows are read
    as that one range (about 2.5x faster at 1M runs than sorting every wide row).
    ``teams``: only runs of those teams; ``window``: see :func:`window_filter`."""
    where, params = scope_filter(scope or Scope(), "r.", teams)
    where += f" AND {SANE_RUN}"
    where, params = window_filter(where, params, window)
    if after is not None:
        where += f" AND ({_START} < ? OR ({_START} = ? AND r.run_key > ?))"
        params = [*params, after[0], after[0], after[1]]
    keys = conn.execute(
        f"SELECT {_START}, r.run_key FROM runs r WHERE {where} "
        f"ORDER BY {_RUN_ORDER} LIMIT {int(size) + 1}",
        params,
    ).fetchall()
    if not keys:
        return [], False
    (first_start, first_key), (last_start, last_key) = keys[0], keys[: int(size)][-1]
    rows = conn.execute(
        f"SELECT {', '.join('r.' + c for c in RUN_COLUMNS)} FROM runs r WHERE {where} "
        f"AND ({_START} < ? OR ({_START} = ? AND r.run_key >= ?)) "
        f"AND ({_START} > ? OR ({_START} = ? AND r.run_key <= ?)) ORDER BY {_RUN_ORDER}",
        [
            *params,
            *(first_start, first_start, first_key),
            *(last_start, last_start, last_key),
        ],
    ).fetchall()
    return [row_to_state(row) for row in rows], len(keys) > size


def run_chunks(
    conn: Any, scope: Scope | None, size: int, window: tuple[int, int] = (0, 0)
) -> Iterator[list[RunState]]:
    """Every run in ListRuns order, ``size`` at a time, from one ordered scan: for a
    reader with a connection of its own (``genops report --db --json``), where a page
    query per page would scan the ledger once per page. Call ``next`` on the writer."""
    where, params = window_filter(*scope_filter(scope or Scope(), "r."), window)
    result = conn.execute(
        f"SELECT {', '.join('r.' + c for c in RUN_COLUMNS)} FROM runs r "
        f"WHERE {where} AND {SANE_RUN} ORDER BY {_RUN_ORDER}",
        params,
    )
    while rows := result.fetchmany(size):
        yield [row_to_state(row) for row in rows]


@dataclass(frozen=True)
class RunTotals:
    """Every run of a scope summed; the groups and violations lists are the top ``top``."""

    runs: int
    cost_micros: int
    teams: int
    by_team: list[tuple[str, int, int]]  # (team, runs, cost), largest cost first
    projects: int
    by_project: list[tuple[str, int, int]]
    violations: int
    newest_violations: list[tuple[str, str]]  # (run id or key, violation)


def run_totals(
    conn: Any,
    scope: Scope | None,
    top: int,
    only_teams: frozenset[str] | None = None,
    window: tuple[int, int] = (0, 0),
) -> RunTotals:
    where, params = scope_filter(scope or Scope(), "r.", only_teams)
    where, params = window_filter(where + f" AND {SANE_RUN}", params, window)
    runs, cost, teams, projects, violations = conn.execute(
        "SELECT count(*), COALESCE(SUM(r.cost_micros), 0), count(DISTINCT r.team), "
        "count(DISTINCT r.project), COALESCE(SUM(len(r.violations)), 0) "
        f"FROM runs r WHERE {where}",
        params,
    ).fetchone()

    def groups(column: str) -> list[tuple[str, int, int]]:
        rows = conn.execute(
            f"SELECT COALESCE(r.{column}, ''), count(*), COALESCE(SUM(r.cost_micros), 0) "
            f"FROM runs r WHERE {where} GROUP BY 1 ORDER BY 3 DESC, 1 LIMIT {int(top)}",
            params,
        ).fetchall()
        return [(str(name), int(n), int(micros)) for name, n, micros in rows]

    flagged = conn.execute(
        "SELECT COALESCE(NULLIF(r.run_id, ''), left(r.run_key, 12)), r.violations "
        f"FROM runs r WHERE {where} AND len(r.violations) > 0 "
        f"ORDER BY {_RUN_ORDER} LIMIT {int(top)}",
        params,
    ).fetchall()
    newest = [(str(run), str(v)) for run, vs in flagged for v in vs][:top]
    return RunTotals(
        int(runs),
        int(cost),
        int(teams),
        groups("team"),
        int(projects),
        groups("project"),
        int(violations),
        newest,
    )


def cost_lines(conn: Any, run_key: str) -> list[dict[str, Any]]:
    cursor = conn.execute(
        "SELECT * FROM cost_lines WHERE run_key = ? ORDER BY catalog_version, sku", [run_key]
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def run_teams(conn: Any, run_keys: list[str]) -> dict[str, str]:
    """The team of each stored run among ``run_keys``."""
    rows = conn.execute(
        "SELECT run_key, COALESCE(team, '') FROM runs WHERE run_key IN (SELECT unnest(?))",
        [run_keys],
    ).fetchall()
    return dict(rows)


def window_filter(where: str, params: list[Any], window: tuple[int, int]) -> tuple[str, list]:
    """``where`` narrowed to runs that started in ``[since_ns, until_ns)`` (0: unbounded)."""
    since_ns, until_ns = window
    if since_ns:
        where, params = f"{where} AND {_START} >= ?", [*params, since_ns]
    if until_ns:
        where, params = f"{where} AND {_START} < ?", [*params, until_ns]
    return where, params


def scope_filter(
    scope: Scope, prefix: str = "", teams: frozenset[str] | None = None
) -> tuple[str, list[Any]]:
    """SQL matching ``scope`` (its empty fields match anything) and, with ``teams``,
    only rows of those teams (a reader bound to its teams)."""
    clauses, params = ["TRUE"], []
    for key, value in scope.as_dict().items():
        if value:
            clauses.append(f"{prefix}{key} = ?")
            params.append(value)
    if teams is not None:
        clauses.append(f"{prefix}team IN (SELECT unnest(?::VARCHAR[]))")
        params.append(sorted(teams))
    return " AND ".join(clauses), params


@dataclass(frozen=True)
class UsageToday:
    spent_micros: int
    runs: int
    failed_runs: int
    log_calls: int


def usage_since(conn: Any, scope: Scope, since: dt.datetime) -> UsageToday:
    """Cost, runs, failures and log calls of a scope's runs active since a time."""
    where, params = scope_filter(scope)
    params.append(to_ns(since))
    row = conn.execute(
        "SELECT COALESCE(SUM(cost_micros), 0), count(*), "
        "count(*) FILTER (WHERE status = 'failed'), COALESCE(SUM(log_calls), 0) "
        f"FROM runs r WHERE {where} AND {SANE_RUN} AND as_of_ns >= ?",
        params,
    ).fetchone()
    manual = manual_cost_since(conn, scope, since)
    return UsageToday(int(row[0]) + manual, int(row[1]), int(row[2]), int(row[3]))


@dataclass(frozen=True)
class ExperimentRecord:
    experiment_id: str
    name: str
    experiment_type: str
    status: str
    scope: Scope
    max_cost_micros: int
    estimated_cost_micros: int
    start_ns: int
    end_ns: int
    runs: tuple[RunState, ...]
    cost_by_category: dict[str, int]
    violations: tuple[str, ...] = ()


def experiment(conn: Any, experiment_id: str) -> ExperimentRecord | None:
    """An experiment with its runs; None when neither the experiment nor a run is known."""
    runs = list_runs_of_experiment(conn, experiment_id)
    row = conn.execute(
        "SELECT name, experiment_type, status, team, project, customer_id, cost_center, "
        "environment, max_cost_micros, estimated_cost_micros, start_ns, end_ns, violations "
        "FROM experiments WHERE experiment_id = ?",
        [experiment_id],
    ).fetchone()
    has_manual = conn.execute(
        "SELECT count(*) FROM manual_costs WHERE experiment_id = ?", [experiment_id]
    ).fetchone()[0]
    if row is None and not runs and not has_manual:
        return None
    categories: dict[str, int] = {}
    for category, micros in conn.execute(
        "SELECT l.category, SUM(l.amount_micros) FROM cost_lines l JOIN runs r "
        "ON l.run_key = r.run_key AND l.catalog_version = r.catalog_version "
        "WHERE r.experiment_id = ? AND l.priced GROUP BY l.category "
        "UNION ALL SELECT category, SUM(amount_micros) FROM manual_costs "
        "WHERE experiment_id = ? AND priced GROUP BY category",
        [experiment_id, experiment_id],
    ).fetchall():
        categories[category] = categories.get(category, 0) + int(micros)
    unpriced = [
        f"unpriced: no price for '{sku}' (added by hand) in catalog {version}"
        for sku, version in conn.execute(
            "SELECT sku, catalog_version FROM manual_costs WHERE experiment_id = ? "
            "AND NOT priced ORDER BY at_ns",
            [experiment_id],
        ).fetchall()
    ]
    if row is None and not runs:
        row = ("", "", "running", "", "", "", "", "", 0, 0, 0, 0, "[]")
    if row is None:  # runs seen, the experiment span not yet (it is sent at exit)
        first = runs[-1]
        row = (
            "",
            "",
            "running",
            *first.scope.as_dict().values(),
            0,
            0,
            min(r.usage.compute_start_ns for r in runs),
            0,
            "[]",
        )
    return ExperimentRecord(
        experiment_id=experiment_id,
        name=row[0] or "",
        experiment_type=row[1] or "",
        status=row[2] or "",
        scope=Scope(row[3] or "", row[4] or "", row[5] or "", row[6] or "", row[7] or ""),
        max_cost_micros=row[8] or 0,
        estimated_cost_micros=row[9] or 0,
        start_ns=row[10] or 0,
        end_ns=row[11] or 0,
        runs=tuple(runs),
        cost_by_category={str(k): int(v) for k, v in categories.items()},
        violations=tuple(json.loads(row[12] or "[]")) + tuple(unpriced),
    )


def list_runs_of_experiment(conn: Any, experiment_id: str) -> list[RunState]:
    sql = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs r WHERE experiment_id = ? AND {SANE_RUN} "
    sql += "ORDER BY compute_start_ns DESC, run_key"
    return [row_to_state(row) for row in conn.execute(sql, [experiment_id]).fetchall()]


def to_ns(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)


@dataclass(frozen=True)
class VersionTotal:
    version: str
    runs: int
    priced_micros: int
    unpriced_lines: int
    current: bool


def catalog_version_totals(conn: Any) -> list[VersionTotal]:
    rows = conn.execute(
        "SELECT l.catalog_version, count(DISTINCT l.run_key), "
        "COALESCE(SUM(l.amount_micros), 0), count(*) FILTER (WHERE NOT l.priced), "
        "bool_or(r.catalog_version = l.catalog_version) "
        "FROM cost_lines l LEFT JOIN runs r ON r.run_key = l.run_key "
        "GROUP BY l.catalog_version ORDER BY l.catalog_version"
    ).fetchall()
    return [VersionTotal(r[0], int(r[1]), int(r[2]), int(r[3]), bool(r[4])) for r in rows]


def manual_cost_since(conn: Any, scope: Scope, since: dt.datetime) -> int:
    where, params = scope_filter(scope)
    params.append(to_ns(since))
    row = conn.execute(
        "SELECT COALESCE(SUM(amount_micros), 0) FROM manual_costs "
        f"WHERE {where} AND {SANE_AMOUNT} AND at_ns >= ?",
        params,
    ).fetchone()
    return int(row[0])

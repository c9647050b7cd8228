"""Read-side SQL over the ledger. Functions take the writer thread's connection."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from genops_processor.domain import RunState, Scope
from genops_processor.storage.run_rows import RUN_COLUMNS, row_to_state


def list_runs(conn: Any, scope: Scope | None = None, limit: int = 0) -> list[RunState]:
    where, params = scope_filter(scope or Scope())
    sql = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE {where} "
    sql += "ORDER BY compute_start_ns DESC, run_key"
    if limit > 0:
        sql += f" LIMIT {int(limit)}"
    return [row_to_state(row) for row in conn.execute(sql, params).fetchall()]


def cost_lines(conn: Any, run_key: str) -> list[dict[str, Any]]:
    cursor = conn.execute(
        "SELECT * FROM cost_lines WHERE run_key = ? ORDER BY catalog_version, sku", [run_key]
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def scope_filter(scope: Scope, prefix: str = "") -> tuple[str, list[Any]]:
    clauses, params = ["TRUE"], []
    for key, value in scope.as_dict().items():
        if value:
            clauses.append(f"{prefix}{key} = ?")
            params.append(value)
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
        f"FROM runs WHERE {where} AND as_of_ns >= ?",
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
    sql = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE experiment_id = ? "
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
        f"SELECT COALESCE(SUM(amount_micros), 0) FROM manual_costs WHERE {where} AND at_ns >= ?",
        params,
    ).fetchone()
    return int(row[0])

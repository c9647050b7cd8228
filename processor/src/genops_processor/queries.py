"""Read-side SQL over the ledger. Functions take the writer thread's connection."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from genops_processor.budgets import Budget, BudgetState, decide
from genops_processor.domain import (
    CostBreakdown,
    HardwareUse,
    RunLabels,
    RunState,
    RunUsage,
    Scope,
)

RUN_COLUMNS = (
    "run_key",
    "run_id",
    "run_name",
    "wandb_project",
    "team",
    "project",
    "customer_id",
    "cost_center",
    "environment",
    "status",
    "final",
    "error",
    "gpu_type",
    "gpu_count",
    "cpu_count",
    "instance_type",
    "compute_start_ns",
    "as_of_ns",
    "log_calls",
    "artifact_bytes",
    "artifact_files",
    "artifact_count",
    "sequence",
    "catalog_version",
    "cost_micros",
    "unpriced_skus",
    "declared_storage_micros",
    "experiment_id",
    "tags",
    "workflow",
    "metrics_last",
    "region",
    "storage_tier",
    "retention_days",
    "capacity_type",
    "wandb_mode",
    "declared_catalog",
    "config_hash",
    "violations",
    "gpu_util_mean",
    "gpu_mem_peak_gb",
    "artifacts_used",
    "hold_id",
    "compute_micros",
    "storage_micros",
    "data_transfer_micros",
    "tracking_micros",
    "unpriced_lines",
)


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


def manual_cost_since(conn: Any, scope: Scope, since: dt.datetime) -> int:
    where, params = scope_filter(scope)
    params.append(to_ns(since))
    row = conn.execute(
        f"SELECT COALESCE(SUM(amount_micros), 0) FROM manual_costs WHERE {where} AND at_ns >= ?",
        params,
    ).fetchone()
    return int(row[0])


def list_runs(conn: Any, scope: Scope | None = None, limit: int = 0) -> list[RunState]:
    where, params = scope_filter(scope or Scope())
    sql = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE {where} "
    sql += "ORDER BY compute_start_ns DESC, run_key"
    if limit > 0:
        sql += f" LIMIT {int(limit)}"
    return [row_to_state(row) for row in conn.execute(sql, params).fetchall()]


def runs_by_key(conn: Any, keys: Sequence[str]) -> dict[str, RunState]:
    if not keys:
        return {}
    rows = conn.execute(
        f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE run_key IN (SELECT unnest(?))",
        [list(keys)],
    ).fetchall()
    return {row[0]: row_to_state(row) for row in rows}


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


def state_to_row(s: RunState) -> tuple:
    return (
        s.run_key,
        s.run_id,
        s.run_name,
        s.wandb_project,
        s.scope.team,
        s.scope.project,
        s.scope.customer_id,
        s.scope.cost_center,
        s.scope.environment,
        s.status,
        s.final,
        s.error,
        s.hardware.gpu_type,
        s.hardware.gpu_count,
        s.hardware.cpu_count,
        s.hardware.instance_type,
        s.usage.compute_start_ns,
        s.usage.as_of_ns,
        s.usage.log_calls,
        s.usage.artifact_bytes,
        s.usage.artifact_files,
        s.usage.artifact_count,
        s.usage.sequence,
        s.catalog_version,
        s.cost_micros,
        list(s.unpriced_skus),
        s.usage.declared_storage_micros,
        s.labels.experiment_id,
        s.labels.tags_json,
        s.labels.workflow_json,
        s.labels.metrics_last_json,
        s.labels.region,
        s.labels.storage_tier,
        s.labels.retention_days,
        s.labels.capacity_type,
        s.labels.wandb_mode,
        s.labels.catalog_version,
        s.labels.config_hash,
        list(s.violations),
        s.labels.gpu_util_mean,
        s.labels.gpu_mem_peak_gb,
        s.labels.artifacts_used_json,
        s.labels.hold_id,
        s.breakdown.compute,
        s.breakdown.storage,
        s.breakdown.data_transfer,
        s.breakdown.tracking,
        s.breakdown.unpriced_lines,
    )


def row_to_state(r: Sequence) -> RunState:
    return RunState(
        run_key=r[0],
        run_id=r[1] or "",
        run_name=r[2] or "",
        wandb_project=r[3] or "",
        scope=Scope(
            team=r[4] or "",
            project=r[5] or "",
            customer_id=r[6] or "",
            cost_center=r[7] or "",
            environment=r[8] or "",
        ),
        status=r[9],
        final=bool(r[10]),
        error=r[11] or "",
        hardware=HardwareUse(
            gpu_type=r[12] or "",
            gpu_count=r[13] or 0,
            cpu_count=r[14] or 0,
            instance_type=r[15] or "",
        ),
        usage=RunUsage(
            compute_start_ns=r[16],
            as_of_ns=r[17],
            log_calls=r[18],
            artifact_bytes=r[19],
            artifact_files=r[20],
            artifact_count=r[21],
            sequence=r[22],
            declared_storage_micros=r[26] or 0,
        ),
        catalog_version=r[23] or "",
        cost_micros=r[24] or 0,
        unpriced_skus=tuple(r[25] or ()),
        labels=RunLabels(
            experiment_id=r[27] or "",
            tags_json=r[28] or "",
            workflow_json=r[29] or "",
            metrics_last_json=r[30] or "",
            region=r[31] or "",
            storage_tier=r[32] or "",
            retention_days=r[33] or 0,
            capacity_type=r[34] or "",
            wandb_mode=r[35] or "",
            catalog_version=r[36] or "",
            config_hash=r[37] or "",
            gpu_util_mean=r[39],
            gpu_mem_peak_gb=r[40],
            artifacts_used_json=r[41] or "",
            hold_id=r[42] or "",
        ),
        violations=tuple(r[38] or ()),
        breakdown=CostBreakdown(*(int(x or 0) for x in r[43:48])),
    )


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

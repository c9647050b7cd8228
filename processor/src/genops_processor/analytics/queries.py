"""Read-side SQL for cost analytics: summaries, attribution, daily series, run facts.

Functions take the writer thread's connection (see storage.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from genops.catalog import CATEGORIES
from genops_processor.analytics.history import ArtifactFacts, RunFacts
from genops_processor.domain import Scope
from genops_processor.storage import scope_filter, to_ns
from genops_processor.storage.client_json import json_names, json_object, numbers, scalars


@dataclass(frozen=True)
class CostSummary:
    total_micros: int
    by_category: dict[str, int]
    by_experiment_type: dict[str, int]
    by_run: dict[str, int]
    unpriced_lines: int
    runs: int = 0


def cost_summary(conn: Any, scope: Scope, since: dt.datetime, top_runs: int = 100) -> CostSummary:
    """Priced cost of a scope since a time, by category, experiment type and run.

    Reads one row per run, never the lines: the ledger keeps each run's total
    and per-category totals equal to its priced lines of the current catalog
    version (``runs.compute_micros`` ...). Four small passes over the runs in
    the window: the category totals and counts; the ``top_runs`` largest run
    costs (numbers only), then the labels of just those runs; each
    experiment's runs joined to its type. ``by_run`` lists those costliest run
    records by W&B run id (a run resumed in another process is a second
    record; listed records with one id are added up). ``runs`` counts every
    run with a cost; runs outside any known experiment are 'untracked'.
    User-added lines join the categories.
    """
    where, params = scope_filter(scope, prefix="r.")
    window = f"FROM runs r WHERE {where} AND r.as_of_ns >= ?"
    window_params = [*params, to_ns(since)]
    categories = ", ".join(f"COALESCE(SUM(r.{c}_micros), 0)" for c in CATEGORIES)
    *sums, unpriced, runs, total = conn.execute(
        f"SELECT {categories}, COALESCE(SUM(r.unpriced_lines), 0), "
        f"count(*) FILTER (WHERE r.cost_micros > 0), COALESCE(SUM(r.cost_micros), 0) {window}",
        window_params,
    ).fetchone()
    by_category = {c: int(v) for c, v in zip(CATEGORIES, sums, strict=True) if v}
    by_run: dict[str, int] = {}
    (top,) = conn.execute(
        f"SELECT max(r.cost_micros, {int(top_runs)}) {window} AND r.cost_micros > 0",
        window_params,
    ).fetchone()
    for label, micros in conn.execute(
        f"SELECT COALESCE(NULLIF(r.run_id, ''), r.run_key), r.cost_micros {window} "
        f"AND r.cost_micros >= ? ORDER BY 2 DESC, 1 LIMIT {int(top_runs)}",
        [*window_params, top[-1] if top else 1],
    ).fetchall():
        by_run[label] = by_run.get(label, 0) + int(micros)
    by_type = _grouped(
        conn,
        "SELECT COALESCE(NULLIF(x.experiment_type, ''), 'untracked'), SUM(e.cost) FROM "
        f"(SELECT r.experiment_id, SUM(r.cost_micros) AS cost {window} "
        "AND r.cost_micros > 0 AND r.experiment_id <> '' GROUP BY 1) e "
        "JOIN experiments x USING (experiment_id) GROUP BY 1",
        window_params,
    )
    untracked = int(total) - sum(by_type.values())
    if untracked:
        by_type["untracked"] = by_type.get("untracked", 0) + untracked
    manual_where, manual_params = scope_filter(scope)
    manual_params.append(to_ns(since))
    for category, micros in conn.execute(
        "SELECT category, SUM(amount_micros) FROM manual_costs "
        f"WHERE {manual_where} AND at_ns >= ? AND priced GROUP BY 1",
        manual_params,
    ).fetchall():
        by_category[category] = by_category.get(category, 0) + int(micros)
    return CostSummary(
        sum(by_category.values()), by_category, by_type, by_run, int(unpriced), int(runs)
    )


def team_attribution(
    conn: Any, since: dt.datetime, teams: frozenset[str] | None = None
) -> list[tuple[str, str, str, str, int]]:
    """(team, project, customer, cost center, cost) for every combination seen since,
    from the runs' totals (equal to the sum of their priced lines); ``teams``: only those."""
    where, params = scope_filter(Scope(), teams=teams)
    rows = conn.execute(
        "SELECT team, project, customer_id, cost_center, SUM(cost_micros) FROM runs "
        f"WHERE {where} AND as_of_ns >= ? AND cost_micros > 0 GROUP BY ALL ORDER BY 5 DESC",
        [*params, to_ns(since)],
    ).fetchall()
    return [(r[0] or "", r[1] or "", r[2] or "", r[3] or "", int(r[4])) for r in rows]


def daily_costs(conn: Any, scope: Scope, since: dt.datetime) -> list[tuple[dt.date, int]]:
    """Cost per UTC day (a run's cost counts on the day it was last active)."""
    where, params = scope_filter(scope)
    params.append(to_ns(since))
    rows = conn.execute(
        "SELECT CAST(to_timestamp(as_of_ns / 1e9) AT TIME ZONE 'UTC' AS DATE) AS day, "
        f"SUM(cost_micros) FROM runs WHERE {where} AND as_of_ns >= ? GROUP BY 1 ORDER BY 1",
        params,
    ).fetchall()
    return [(r[0], int(r[1])) for r in rows]


def _grouped(conn: Any, sql: str, params: list[Any]) -> dict[str, int]:
    return {str(k): int(v) for k, v in conn.execute(sql, params).fetchall()}


def run_facts(conn: Any, scope: Scope, since: dt.datetime) -> list[RunFacts]:
    """Finished and failed runs since a time, with what the recommendation rules need."""
    where, params = scope_filter(scope, prefix="r.")
    params.append(to_ns(since))
    rows = conn.execute(
        "SELECT r.run_key, r.run_id, r.team, r.project, "
        "COALESCE(NULLIF(x.experiment_type, ''), 'untracked'), COALESCE(x.name, r.run_name), "
        "r.status, r.compute_start_ns, r.as_of_ns, r.cost_micros, r.gpu_type, r.gpu_count, "
        "r.gpu_util_mean, r.gpu_mem_peak_gb, r.config_hash, r.capacity_type, "
        "COALESCE((SELECT SUM(l.amount_micros) FROM cost_lines l WHERE l.run_key = r.run_key "
        "AND l.catalog_version = r.catalog_version AND l.category = 'storage' AND l.priced), 0) "
        "FROM runs r LEFT JOIN experiments x ON x.experiment_id = r.experiment_id "
        f"WHERE {where} AND r.final AND r.as_of_ns >= ? ORDER BY r.compute_start_ns",
        params,
    ).fetchall()
    used = {
        name
        for (text,) in conn.execute(
            "SELECT artifacts_used FROM runs WHERE artifacts_used <> ''"
        ).fetchall()
        for name in json_names(text)
    }
    artifacts: dict[str, list[tuple[str, int]]] = {}
    for run_key, name, size in conn.execute(
        "SELECT run_key, name, bytes FROM artifacts ORDER BY logged_ns"
    ).fetchall():
        artifacts.setdefault(run_key, []).append((name or "", int(size or 0)))
    return [_facts(row, artifacts.get(row[0], []), used) for row in rows]


def _facts(row: Sequence, artifacts: list[tuple[str, int]], used: set[str]) -> RunFacts:
    storage = int(row[16])
    total_bytes = sum(size for _, size in artifacts) or 1
    return RunFacts(
        run_key=row[0],
        run_id=row[1] or "",
        team=row[2] or "",
        project=row[3] or "",
        experiment_type=row[4],
        experiment_name=row[5] or "",
        status="failed" if row[6] == "failed" else "finished",
        started_at=dt.datetime.fromtimestamp(row[7] / 1e9, dt.timezone.utc),
        duration_s=max(0, row[8] - row[7]) / 1e9,
        cost_micros=int(row[9] or 0),
        gpu_type=row[10] or "",
        gpu_count=int(row[11] or 0),
        gpu_util_mean=row[12],
        gpu_mem_peak_gb=row[13],
        config_hash=row[14] or "",
        capacity_type=row[15] or "",
        artifacts=tuple(
            # the run's storage cost, shared among its artifacts by size
            ArtifactFacts(name, size, storage * size // total_bytes, name in used)
            for name, size in artifacts
        ),
    )


def final_metrics(conn: Any, scope: Scope, since: dt.datetime) -> list[tuple[dict, int, dict]]:
    """(run facts as a dict of groupable fields, cost, final metrics) per finished run."""
    where, params = scope_filter(scope, prefix="r.")
    params.append(to_ns(since))
    rows = conn.execute(
        "SELECT r.team, r.project, COALESCE(NULLIF(x.experiment_type, ''), 'untracked'), "
        "r.gpu_type, r.tags, r.cost_micros, r.metrics_last FROM runs r LEFT JOIN experiments x "
        f"ON x.experiment_id = r.experiment_id WHERE {where} AND r.final AND r.as_of_ns >= ?",
        params,
    ).fetchall()
    result = []
    for team, project, kind, gpu, tags, cost, metrics in rows:
        fields = {
            "team": team or "",
            "project": project or "",
            "experiment_type": kind,
            "gpu_type": gpu or "",
        }
        fields.update({f"tag:{k}": v for k, v in scalars(json_object(tags)).items()})
        result.append((fields, int(cost or 0), numbers(json_object(metrics))))
    return result

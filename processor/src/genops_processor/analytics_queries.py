"""Read-side SQL for cost analytics: summaries, attribution, daily series, run facts.

Functions take the writer thread's connection (see storage.py).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from genops_processor.domain import Scope
from genops_processor.history import ArtifactFacts, RunFacts
from genops_processor.queries import scope_filter, to_ns


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

    By category (and the unpriced count) comes from the lines of each run's
    current catalog version, in one pass (a semi-join on the runs in scope; the
    lines' own ``as_of_ns`` lets DuckDB skip old row groups). By experiment
    type and by run come from the runs' totals, which the ledger keeps equal
    to the sum of their priced lines. ``by_run`` keeps the ``top_runs``
    costliest; ``runs`` counts them all. User-added lines join the categories.
    """
    where, params = scope_filter(scope, prefix="r.")
    since_ns = to_ns(since)
    by_category: dict[str, int] = {}
    unpriced = 0
    for category, micros, missing in conn.execute(
        "SELECT l.category, COALESCE(SUM(l.amount_micros) FILTER (WHERE l.priced), 0), "
        "count(*) FILTER (WHERE NOT l.priced) FROM cost_lines l "
        "WHERE l.as_of_ns >= ? AND (l.run_key, l.catalog_version) IN "
        f"(SELECT (r.run_key, r.catalog_version) FROM runs r WHERE {where} "
        "AND r.as_of_ns >= ?) GROUP BY 1",
        [since_ns, *params, since_ns],
    ).fetchall():
        if micros:
            by_category[category] = int(micros)
        unpriced += int(missing)
    in_scope = f"FROM runs r WHERE {where} AND r.as_of_ns >= ? AND r.cost_micros > 0"
    by_type = _grouped(
        conn,
        "SELECT COALESCE(NULLIF(x.experiment_type, ''), 'untracked'), SUM(r.cost_micros) "
        "FROM runs r LEFT JOIN experiments x ON x.experiment_id = r.experiment_id "
        f"WHERE {where} AND r.as_of_ns >= ? AND r.cost_micros > 0 GROUP BY 1",
        [*params, since_ns],
    )
    by_run = _grouped(
        conn,
        f"SELECT COALESCE(NULLIF(r.run_id, ''), r.run_key), SUM(r.cost_micros) {in_scope} "
        f"GROUP BY 1 ORDER BY 2 DESC LIMIT {int(top_runs)}",
        [*params, since_ns],
    )
    runs = conn.execute(f"SELECT count(*) {in_scope}", [*params, since_ns]).fetchone()[0]
    manual_where, manual_params = scope_filter(scope)
    manual_params.append(since_ns)
    for category, micros in conn.execute(
        "SELECT category, SUM(amount_micros) FROM manual_costs "
        f"WHERE {manual_where} AND at_ns >= ? AND priced GROUP BY 1",
        manual_params,
    ).fetchall():
        by_category[category] = by_category.get(category, 0) + int(micros)
    return CostSummary(sum(by_category.values()), by_category, by_type, by_run, unpriced, int(runs))


def team_attribution(conn: Any, since: dt.datetime) -> list[tuple[str, str, str, str, int]]:
    """(team, project, customer, cost center, cost) for every combination seen since,
    from the runs' totals (equal to the sum of their priced lines)."""
    rows = conn.execute(
        "SELECT team, project, customer_id, cost_center, SUM(cost_micros) FROM runs "
        "WHERE as_of_ns >= ? AND cost_micros > 0 GROUP BY ALL ORDER BY 5 DESC",
        [to_ns(since)],
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
        for name in json.loads(text)
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
        fields.update({f"tag:{k}": v for k, v in json.loads(tags or "{}").items()})
        result.append((fields, int(cost or 0), json.loads(metrics or "{}")))
    return result

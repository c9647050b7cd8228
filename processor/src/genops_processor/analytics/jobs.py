"""Cost analytics over the ledger: summary, attribution, forecast, recommendations,
anomalies, performance versus cost. Each function is a job for the writer thread
(it takes the connection) built from the pure modules forecast, recommendations
and anomalies."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from genops_processor.analytics import anomalies, forecast, recommendations
from genops_processor.analytics import queries as aq
from genops_processor.domain import Scope
from genops_processor.limits import MAX_FORECAST_HISTORY_DAYS, MAX_FORECAST_HORIZON_DAYS
from genops_processor.pricing import Catalog

GROUPABLE = ("team", "project", "experiment_type", "gpu_type")


def _since(now: dt.datetime, days: int) -> dt.datetime:
    return now - dt.timedelta(days=max(1, days))


def cost_summary(
    conn: Any, scope: Scope, period_days: int, now: dt.datetime, forecast_confidence: float | None
) -> tuple[aq.CostSummary, Any]:
    since = _since(now, period_days)
    summary = aq.cost_summary(conn, scope, since)
    predicted = None
    if forecast_confidence is not None:  # the next period, up to the forecast's caps
        horizon = min(max(period_days, 1), MAX_FORECAST_HORIZON_DAYS)
        history = min(max(period_days * 3, 28), MAX_FORECAST_HISTORY_DAYS)
        predicted = next_period(conn, scope, horizon, forecast_confidence, history, now)
    return summary, predicted


def next_period(
    conn: Any,
    scope: Scope,
    horizon_days: int,
    confidence: float,
    history_days: int,
    now: dt.datetime,
) -> forecast.Forecast:
    history = aq.daily_costs(conn, scope, _since(now, history_days))
    return forecast.forecast_daily(history, horizon_days=horizon_days, confidence=confidence)


def gpu_prices(catalog: Catalog) -> dict[str, Decimal]:
    """USD per GPU-hour by GPU SKU, in the catalog's default region."""
    return {
        sku: catalog.get(sku).unit_price
        for sku in recommendations.GPU_MEMORY_GB
        if catalog.get(sku) is not None
    }


def recommend(
    conn: Any,
    scope: Scope,
    lookback_days: int,
    target: float | None,
    catalog: Catalog,
    now: dt.datetime,
):
    runs = aq.run_facts(conn, scope, _since(now, lookback_days))
    items = recommendations.generate(runs, gpu_prices(catalog), target, now=now)
    return items, sum(r.cost_micros for r in runs)


def find_anomalies(
    conn: Any, scope: Scope, sensitivity: float, lookback_days: int, now: dt.datetime
) -> list[anomalies.Anomaly]:
    runs = aq.run_facts(conn, scope, _since(now, lookback_days))
    return anomalies.detect(runs, sensitivity=sensitivity, lookback_days=lookback_days, now=now)


@dataclass(frozen=True)
class PerformanceGroup:
    group: str
    runs: int
    avg_cost_micros: int
    avg_metrics: dict[str, float]


def performance_vs_cost(
    conn: Any, scope: Scope, period_days: int, group_by: Sequence[str], now: dt.datetime
) -> list[PerformanceGroup]:
    """Average final metrics and average cost per group of finished runs.

    ``group_by`` names: team, project, experiment_type, gpu_type, or a tag
    (``model_type`` reads the run's tag of that name); runs without a value
    group under "(none)".
    """
    keys = list(group_by) or ["team"]
    groups: dict[str, list[tuple[int, dict]]] = defaultdict(list)
    for fields, cost, metrics in aq.final_metrics(conn, scope, _since(now, period_days)):
        values = [fields.get(k) if k in GROUPABLE else fields.get(f"tag:{k}") for k in keys]
        label = " / ".join(str(v) if v else "(none)" for v in values)
        groups[label].append((cost, metrics))
    result = []
    for label, members in sorted(groups.items()):
        sums: dict[str, list[float]] = defaultdict(list)
        for _, metrics in members:
            for name, value in metrics.items():
                sums[name].append(float(value))
        result.append(
            PerformanceGroup(
                group=label,
                runs=len(members),
                avg_cost_micros=round(sum(c for c, _ in members) / len(members)),
                avg_metrics={name: sum(v) / len(v) for name, v in sorted(sums.items())},
            )
        )
    return result

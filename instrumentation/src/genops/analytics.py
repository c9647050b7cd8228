"""ML analytics joined with cost, through the processor's API.

``analyze_performance_vs_cost`` needs runs' final metric values: they are
kept when the adapter has ``enable_detailed_monitoring=True``.
"""

from __future__ import annotations

from typing import Any

from genops.governance.v1 import governance_pb2 as pb
from genops.money import MICROS_PER_USD

__all__ = ["MLAnalytics"]


class MLAnalytics:
    def __init__(self, adapter: Any) -> None:
        self._adapter = adapter

    def _scope(self) -> pb.Scope:
        return pb.Scope(team=self._adapter.team or "")

    def analyze_performance_vs_cost(
        self, time_period_days: int = 30, group_by: list[str] | None = None
    ) -> dict[str, dict]:
        """Per group: ``avg_<metric>``, ``avg_cost``, ``<metric>_per_dollar`` and ``runs``."""
        self._adapter.usage.flush()
        response = self._adapter.client._call(
            "GetPerformanceVsCost",
            pb.PerformanceRequest(
                scope=self._scope(), period_days=time_period_days, group_by=group_by or ["team"]
            ),
        )
        result = {}
        for group in response.groups:
            avg_cost = group.avg_cost_micros / MICROS_PER_USD
            entry: dict[str, float] = {"avg_cost": avg_cost, "runs": group.runs}
            for name, value in group.avg_metrics.items():
                entry[f"avg_{name}"] = value
                entry[f"{name}_per_dollar"] = value / avg_cost if avg_cost else float("inf")
            result[group.group] = entry
        return result

    def detect_cost_anomalies(
        self, sensitivity: float = 0.95, lookback_days: int = 30
    ) -> list[dict[str, Any]]:
        """Runs far from their team and experiment type's median cost (median and MAD)."""
        self._adapter.usage.flush()
        response = self._adapter.client._call(
            "GetAnomalies",
            pb.AnomaliesRequest(
                scope=self._scope(), sensitivity=sensitivity, lookback_days=lookback_days
            ),
        )
        return [
            {
                "experiment": x.experiment,
                "cost": x.cost_micros / MICROS_PER_USD,
                "expected_cost": x.expected_cost_micros / MICROS_PER_USD,
                "team": x.team,
                "experiment_type": x.experiment_type,
                "score": x.score,
                "run_key": x.run_key,
            }
            for x in response.items
        ]

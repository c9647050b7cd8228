"""Cost analysis across runs and experiments, read through the processor's API.

::

    from genops.providers.wandb_cost_aggregator import WandbCostAggregator

    aggregator = WandbCostAggregator(team="research-team", project="cost-analysis")
    summary = aggregator.get_comprehensive_cost_summary(time_period_days=30,
                                                        include_forecasting=True)
    print(summary.total_cost, summary.compute_cost, summary.forecasted_cost)

The aggregator never opens the ledger file: the processor holds it and answers
(``GENOPS_ENDPOINT``, else the OTLP endpoint). Money comes back as integer
micro-dollars and is shown as dollars.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from genops.config import InstrumentationSettings
from genops.governance.v1 import governance_pb2 as pb
from genops.governance_client import GovernanceClient
from genops.money import to_dollars as _usd

__all__ = [
    "CostSummary",
    "WandbCostAggregator",
    "generate_cost_optimization_recommendations",
]


@dataclass
class CostSummary:
    """Cost over a period. ``total_cost`` = compute + storage + data transfer."""

    total_cost: float
    compute_cost: float
    storage_cost: float
    data_transfer_cost: float
    cost_by_experiment_type: dict[str, float]
    cost_by_run: dict[str, float]
    forecasted_cost: float | None = None
    forecast_interval: tuple[float, float] | None = None
    unpriced_lines: int = 0
    time_period_days: int = 30
    runs: int = 0  # runs in the period; cost_by_run keeps the 100 costliest
    extra: dict[str, Any] = field(default_factory=dict)


class WandbCostAggregator:
    def __init__(
        self,
        team: str,
        project: str | None = None,
        customer_id: str | None = None,
        client: GovernanceClient | None = None,
    ) -> None:
        self.team, self.project, self.customer_id = team, project, customer_id
        if client is None:
            settings = InstrumentationSettings.from_env()
            client = GovernanceClient(
                settings.governance_target,
                settings.governance_secure,
                timeout_s=30.0,
                security=settings.governance_security,
            )
        self._client = client

    def _scope(self) -> pb.Scope:
        return pb.Scope(
            team=self.team or "", project=self.project or "", customer_id=self.customer_id or ""
        )

    def get_comprehensive_cost_summary(
        self, time_period_days: int = 30, include_forecasting: bool = False
    ) -> CostSummary:
        response = self._client._call(
            "GetCostSummary",
            pb.CostSummaryRequest(
                scope=self._scope(),
                period_days=time_period_days,
                include_forecast=include_forecasting,
                forecast_confidence=0.8,
            ),
        )
        categories = response.by_category_micros
        summary = CostSummary(
            total_cost=_usd(response.total_micros),
            compute_cost=_usd(categories.get("compute", 0)),
            storage_cost=_usd(categories.get("storage", 0)),
            data_transfer_cost=_usd(categories.get("data_transfer", 0)),
            cost_by_experiment_type={
                k: _usd(v) for k, v in response.by_experiment_type_micros.items()
            },
            cost_by_run={k: _usd(v) for k, v in response.by_run_micros.items()},
            unpriced_lines=response.unpriced_lines,
            time_period_days=time_period_days,
            runs=response.runs,
        )
        if include_forecasting and response.HasField("forecast"):
            f = response.forecast
            summary.forecasted_cost = _usd(f.point_micros)
            summary.forecast_interval = (_usd(f.lower_micros), _usd(f.upper_micros))
        return summary

    def calculate_team_attribution(self, time_period_days: int = 30) -> dict[str, dict]:
        """Cost by team, with its projects, customers and cost centers."""
        response = self._client._call(
            "GetTeamAttribution", pb.TeamAttributionRequest(period_days=time_period_days)
        )
        teams: dict[str, dict] = {}
        for row in response.rows:
            entry = teams.setdefault(
                row.team or "(unset)",
                {
                    "total_cost": 0.0,
                    "projects": defaultdict(float),
                    "customers": defaultdict(float),
                    "cost_centers": defaultdict(float),
                },
            )
            cost = _usd(row.cost_micros)
            entry["total_cost"] += cost
            entry["projects"][row.project or "(unset)"] += cost
            entry["customers"][row.customer_id or "(unset)"] += cost
            entry["cost_centers"][row.cost_center or "(unset)"] += cost
        return {
            team: {
                **e,
                "projects": dict(e["projects"]),
                "customers": dict(e["customers"]),
                "cost_centers": dict(e["cost_centers"]),
            }
            for team, e in teams.items()
        }

    def forecast_monthly_costs(self, confidence_interval: float = 0.8) -> dict[str, Any]:
        """The next 30 days' cost, with a prediction interval at the given confidence."""
        if not 0 < confidence_interval < 1:
            raise ValueError("confidence_interval must be between 0 and 1")
        f = self._client._call(
            "GetForecast",
            pb.ForecastRequest(
                scope=self._scope(),
                horizon_days=30,
                confidence=confidence_interval,
                history_days=90,
            ),
        ).forecast
        return {
            "forecasted_cost": _usd(f.point_micros),
            "lower_bound": _usd(f.lower_micros),
            "upper_bound": _usd(f.upper_micros),
            "confidence_interval": f.confidence,
            "method": f.method,
            "history_days": f.history_days,
        }

    def generate_cost_optimization_recommendations(
        self, lookback_days: int = 30, target_savings_percentage: float | None = None
    ) -> list[dict[str, Any]]:
        response = self._client._call(
            "GetRecommendations",
            pb.RecommendationsRequest(
                scope=self._scope(),
                lookback_days=lookback_days,
                target_savings_percentage=target_savings_percentage or 0,
            ),
        )
        return [
            {
                "category": r.category,
                "recommendation": r.recommendation,
                "estimated_savings": _usd(r.estimated_savings_micros),
                "confidence": r.confidence,
                "evidence": list(r.evidence),
            }
            for r in response.items
        ]


def generate_cost_optimization_recommendations(
    team: str, lookback_days: int = 30, target_savings_percentage: float | None = None
) -> list[dict[str, Any]]:
    """Recommendations for a team: ``{category, recommendation, estimated_savings,
    confidence}`` items, largest savings first."""
    return WandbCostAggregator(team).generate_cost_optimization_recommendations(
        lookback_days, target_savings_percentage
    )

"""The analytics part of the gRPC API (``WandbCostAggregator``, ``MLAnalytics``):
summaries, attribution, forecasts, recommendations, anomalies, performance versus cost.
A mixin of :class:`GovernanceApi`; the queries are jobs of :mod:`genops_processor.analytics`."""

from __future__ import annotations

import grpc

from genops.governance.v1 import governance_pb2 as pb
from genops_processor.analytics import jobs as analytics
from genops_processor.analytics import queries as analytics_queries
from genops_processor.api import authorization as authz
from genops_processor.api.convert import forecast_to_pb, i64, i64_map, scope_from_pb
from genops_processor.limits import MAX_FORECAST_HISTORY_DAYS, MAX_FORECAST_HORIZON_DAYS


class AnalyticsApi:
    _governance: object  # set by GovernanceApi

    async def _read_scope(self, request, context, method: str):
        """The request's scope, narrowed to what the caller reads (refused otherwise)."""
        return await authz.read_scope(
            context, self._governance, method, scope_from_pb(request.scope)
        )

    async def GetCostSummary(self, request: pb.CostSummaryRequest, context):  # noqa: N802
        scope = await self._read_scope(request, context, "GetCostSummary")
        days = request.period_days or 30
        confidence = None
        if request.include_forecast:
            confidence = request.forecast_confidence or 0.8
            if not 0 < confidence < 1:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "forecast_confidence")
        summary, predicted = await self._governance.run_job(
            lambda conn, now: analytics.cost_summary(conn, scope, days, now, confidence)
        )
        response = pb.CostSummaryResponse(
            total_micros=i64(summary.total_micros),
            by_category_micros=i64_map(summary.by_category),
            by_experiment_type_micros=i64_map(summary.by_experiment_type),
            by_run_micros=i64_map(summary.by_run),
            unpriced_lines=summary.unpriced_lines,
            runs=summary.runs,
        )
        if predicted is not None:
            response.forecast.CopyFrom(forecast_to_pb(predicted))
        return response

    async def GetTeamAttribution(self, request, context):  # noqa: N802
        days = request.period_days or 30
        teams = authz.readable_teams()
        rows = await self._governance.run_job(
            lambda conn, now: analytics_queries.team_attribution(
                conn, analytics._since(now, days), teams
            )
        )
        return pb.TeamAttributionResponse(
            rows=[
                pb.AttributionRow(
                    team=t, project=p, customer_id=c, cost_center=cc, cost_micros=i64(m)
                )
                for t, p, c, cc, m in rows
            ]
        )

    async def GetForecast(self, request: pb.ForecastRequest, context):  # noqa: N802
        scope = await self._read_scope(request, context, "GetForecast")
        confidence = request.confidence or 0.8
        if not 0 < confidence < 1:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "confidence must be in (0, 1)")
        horizon = request.horizon_days or 30
        history = request.history_days or 90
        for name, value, cap in (
            ("horizon_days", horizon, MAX_FORECAST_HORIZON_DAYS),
            ("history_days", history, MAX_FORECAST_HISTORY_DAYS),
        ):
            if not 1 <= value <= cap:
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT, f"{name} {value}: must be in 1..{cap}"
                )
        predicted = await self._governance.run_job(
            lambda conn, now: analytics.next_period(conn, scope, horizon, confidence, history, now)
        )
        return pb.ForecastResponse(forecast=forecast_to_pb(predicted))

    async def GetRecommendations(self, request, context):  # noqa: N802
        scope = await self._read_scope(request, context, "GetRecommendations")
        target = request.target_savings_percentage or None
        catalog = self._governance.catalogs.default
        items, spend = await self._governance.run_job(
            lambda conn, now: analytics.recommend(
                conn, scope, request.lookback_days or 30, target, catalog, now
            )
        )
        return pb.RecommendationsResponse(
            spend_micros=i64(spend),
            items=[
                pb.RecommendationItem(
                    category=r.category,
                    recommendation=r.recommendation,
                    estimated_savings_micros=r.estimated_savings_micros,
                    confidence=r.confidence,
                    evidence=list(r.evidence),
                )
                for r in items
            ],
        )

    async def GetAnomalies(self, request, context):  # noqa: N802
        scope = await self._read_scope(request, context, "GetAnomalies")
        sensitivity = request.sensitivity or 0.95
        if not 0 < sensitivity < 1:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "sensitivity must be in (0, 1)")
        found = await self._governance.run_job(
            lambda conn, now: analytics.find_anomalies(
                conn, scope, sensitivity, request.lookback_days or 30, now
            )
        )
        return pb.AnomaliesResponse(
            items=[
                pb.AnomalyItem(
                    experiment=x.experiment,
                    run_key=x.run_key,
                    team=x.team,
                    experiment_type=x.experiment_type,
                    cost_micros=x.cost_micros,
                    expected_cost_micros=x.expected_cost_micros,
                    score=x.score,
                )
                for x in found
            ]
        )

    async def GetPerformanceVsCost(self, request, context):  # noqa: N802
        scope = await self._read_scope(request, context, "GetPerformanceVsCost")
        groups = await self._governance.run_job(
            lambda conn, now: analytics.performance_vs_cost(
                conn, scope, request.period_days or 30, list(request.group_by), now
            )
        )
        return pb.PerformanceResponse(
            groups=[
                pb.PerformanceGroup(
                    group=g.group,
                    runs=g.runs,
                    avg_cost_micros=g.avg_cost_micros,
                    avg_metrics=g.avg_metrics,
                )
                for g in groups
            ]
        )

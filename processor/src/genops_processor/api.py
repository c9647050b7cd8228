"""The governance gRPC API (genops.governance.v1): a thin adapter over Governance."""

from __future__ import annotations

import datetime as dt
import json

import grpc

from genops.governance.v1 import governance_pb2 as pb
from genops.governance.v1 import governance_pb2_grpc as pb_grpc
from genops_processor import analytics, analytics_queries
from genops_processor.api_monitoring import MonitoringApi
from genops_processor.approvals import ApprovalError
from genops_processor.budgets import BudgetState, ClientLimits, PolicyError
from genops_processor.catalog_store import CatalogConflict
from genops_processor.domain import HardwareUse, RunLabels, RunState, RunUsage, Scope
from genops_processor.governance import Governance
from genops_processor.pricing import Catalog, CatalogError
from genops_processor.queries import ExperimentRecord

MODE_TO_PB = {
    "audit_only": pb.POLICY_MODE_AUDIT_ONLY,
    "advisory": pb.POLICY_MODE_ADVISORY,
    "enforced": pb.POLICY_MODE_ENFORCED,
}
PB_TO_MODE = {value: key for key, value in MODE_TO_PB.items()}
DECISION_TO_PB = {
    "allow": pb.DECISION_ALLOW,
    "warn": pb.DECISION_WARN,
    "deny": pb.DECISION_DENY,
}


class GovernanceApi(MonitoringApi, pb_grpc.GovernanceServiceServicer):
    def __init__(self, governance: Governance) -> None:
        self._governance = governance

    async def CheckBudget(self, request: pb.CheckBudgetRequest, context):  # noqa: N802
        if request.requested_micros < 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "requested_micros < 0")
        if request.client_limits.daily_limit_micros < 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "daily_limit_micros < 0")
        e = request.estimate
        if min(e.gpu_count, e.cpu_count, e.horizon_ns) < 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "estimate: a value < 0")
        scope = scope_from_pb(request.scope)
        estimate = estimate_from_pb(e, scope) if e.horizon_ns > 0 else None
        recorded = await self._governance.check_budget(
            scope,
            request.requested_micros,
            client_limits_from_pb(request.client_limits),
            wandb_project=request.wandb_project,
            wandb_run_name=request.wandb_run_name,
            require_approval=request.require_approval,
            estimate=estimate,
        )
        decision = recorded.decision
        response = pb.CheckBudgetResponse(
            decision=DECISION_TO_PB[decision.outcome],
            decision_id=recorded.decision_id,
            hold_id=recorded.hold_id,
            requested_micros=decision.requested_micros,
            budgets=[budget_to_pb(s) for s in decision.states],
            message=decision.message,
        )
        if decision.deciding is not None:
            response.deciding_budget.CopyFrom(budget_to_pb(decision.deciding))
        if recorded.approval is not None:
            approval = recorded.approval
            response.decision = pb.DECISION_PENDING
            response.approval_id = approval["approval_id"]
            response.approval_timeout_ms = int(
                (approval["expires_at"] - approval["requested_at"]).total_seconds() * 1000
            )
        return response

    async def ReportOfflineDecisions(self, request, context):  # noqa: N802
        items = []
        for d in request.decisions:
            if d.decision not in ("allow", "deny"):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"decision {d.decision!r}")
            try:
                decided_at = _parse_since(d.decided_at)
            except ValueError:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "decided_at")
            message = f"decided by the client alone (fail mode {d.fail_mode}): {d.reason}"
            items.append(
                (
                    decided_at,
                    scope_from_pb(d.scope),
                    d.decision,
                    message,
                    d.wandb_project,
                    d.wandb_run_name,
                )
            )
        recorded = await self._governance.record_offline(items)
        return pb.ReportOfflineDecisionsResponse(recorded=recorded)

    async def GetPolicy(self, request, context):  # noqa: N802
        return await self._policy_response()

    async def SetBudget(self, request: pb.SetBudgetRequest, context):  # noqa: N802
        try:
            budget = json.loads(request.budget_json)
            await self._governance.set_budget(budget, request.actor or "unknown", request.reason)
        except (ValueError, PolicyError) as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        return await self._policy_response()

    async def _policy_response(self) -> pb.PolicyResponse:
        stored = await self._governance.policy_version()
        body = self._governance.policy.body
        if stored is None:
            return pb.PolicyResponse(version=0, policy_json=json.dumps(body))
        version, _stored_body, changed_at, actor = stored
        return pb.PolicyResponse(
            version=version,
            policy_json=json.dumps(body),
            changed_at=changed_at.isoformat(),
            actor=actor or "",
        )

    async def ReleaseHold(self, request, context):  # noqa: N802
        released = await self._governance.release_hold(request.hold_id)
        return pb.ReleaseHoldResponse(released=released)

    async def RenewHold(self, request, context):  # noqa: N802
        is_open, amount = await self._governance.renew_hold(request.hold_id)
        return pb.RenewHoldResponse(
            open=is_open, amount_micros=amount, timeout_s=self._governance.hold_timeout_s
        )

    async def GetApproval(self, request, context):  # noqa: N802
        try:
            return approval_to_pb(await self._governance.approval(request.approval_id))
        except ApprovalError as error:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(error))

    async def DecideApproval(self, request, context):  # noqa: N802
        try:
            row = await self._governance.decide_approval(
                request.approval_id, request.approve, request.actor or "unknown", request.reason
            )
        except ApprovalError as error:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(error))
        return approval_to_pb(row)

    async def ListApprovals(self, request, context):  # noqa: N802
        rows = await self._governance.list_approvals(request.status)
        return pb.ListApprovalsResponse(approvals=[approval_to_pb(r) for r in rows])

    async def GetBudgetStatus(self, request: pb.GetBudgetStatusRequest, context):  # noqa: N802
        scope = scope_from_pb(request.scope) if request.HasField("scope") else None
        states = await self._governance.budget_status(scope)
        return pb.GetBudgetStatusResponse(budgets=[budget_to_pb(s) for s in states])

    async def ListRuns(self, request: pb.ListRunsRequest, context):  # noqa: N802
        scope = scope_from_pb(request.scope) if request.HasField("scope") else None
        runs = await self._governance.list_runs(scope, request.limit)
        return pb.ListRunsResponse(runs=[run_to_pb(r) for r in runs])

    async def GetUsage(self, request: pb.GetUsageRequest, context):  # noqa: N802
        usage, states, since = await self._governance.usage_today(
            scope_from_pb(request.scope), client_limits_from_pb(request.client_limits)
        )
        return pb.GetUsageResponse(
            spent_today_micros=usage.spent_micros,
            runs_today=usage.runs,
            failed_runs_today=usage.failed_runs,
            log_calls_today=usage.log_calls,
            budgets=[budget_to_pb(s) for s in states],
            period_start=since.isoformat(),
        )

    async def GetExperiment(self, request: pb.GetExperimentRequest, context):  # noqa: N802
        record = await self._governance.experiment(request.experiment_id)
        if record is None:
            return pb.GetExperimentResponse(found=False)
        return pb.GetExperimentResponse(found=True, experiment=experiment_to_pb(record))

    async def RegisterCatalog(self, request: pb.RegisterCatalogRequest, context):  # noqa: N802
        catalog = await _catalog_from_json(request.catalog_json, context)
        try:
            created = await self._governance.register_catalog(catalog, request.origin or "client")
        except CatalogConflict as error:
            await context.abort(grpc.StatusCode.ALREADY_EXISTS, str(error))
        return pb.RegisterCatalogResponse(version=catalog.version, created=created)

    async def ListCatalogVersions(self, request, context):  # noqa: N802
        totals = await self._governance.catalog_versions()
        return pb.ListCatalogVersionsResponse(
            versions=[
                pb.CatalogVersionTotal(
                    version=t.version,
                    runs=t.runs,
                    priced_micros=t.priced_micros,
                    unpriced_lines=t.unpriced_lines,
                    current=t.current,
                )
                for t in totals
            ]
        )

    async def Reprice(self, request: pb.RepriceRequest, context):  # noqa: N802
        catalog = await _catalog_from_json(request.catalog_json, context)
        since = None
        if request.since:
            try:
                since = _parse_since(request.since)
            except ValueError as error:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"since: {error}")
        try:
            async for update in self._governance.reprice(catalog, since, request.actor or "api"):
                if isinstance(update, tuple):
                    yield pb.RepriceProgress(done=update[0], total=update[1])
                else:
                    yield pb.RepriceProgress(
                        done=update.runs,
                        total=update.runs,
                        finished=True,
                        catalog_version=update.catalog_version,
                        before_micros=update.before_micros,
                        after_micros=update.after_micros,
                        audit_event_id=update.audit_event_id,
                    )
        except CatalogConflict as error:
            await context.abort(grpc.StatusCode.ALREADY_EXISTS, str(error))

    async def CheckRun(self, request: pb.CheckRunRequest, context):  # noqa: N802
        u = request.usage
        snapshot = running_run(
            scope_from_pb(request.scope),
            HardwareUse(gpu_type=u.gpu_type, gpu_count=u.gpu_count, cpu_count=u.cpu_count),
            RunUsage(
                compute_start_ns=u.compute_start_ns,
                as_of_ns=u.as_of_ns,
                artifact_bytes=u.artifact_bytes,
                declared_storage_micros=u.declared_micros,
            ),
            RunLabels(region=u.region, catalog_version=u.catalog_version, wandb_mode=u.wandb_mode),
            run_id=request.run_id,
        )
        verdict = await self._governance.check_run(
            snapshot.scope,
            client_limits_from_pb(request.client_limits),
            request.hold_id,
            request.run_id,
            snapshot,
            request.next_check_ns,
        )
        response = pb.CheckRunResponse(
            action={
                "continue": pb.RUN_ACTION_CONTINUE,
                "warn": pb.RUN_ACTION_WARN,
                "stop": pb.RUN_ACTION_STOP,
            }[verdict.action],
            accrued_micros=verdict.accrued_micros,
            hold_micros=verdict.hold_micros,
            message=verdict.message,
        )
        if verdict.deciding is not None:
            response.deciding_budget.CopyFrom(budget_to_pb(verdict.deciding))
        return response

    async def GetCostSummary(self, request: pb.CostSummaryRequest, context):  # noqa: N802
        scope = scope_from_pb(request.scope)
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
            total_micros=summary.total_micros,
            by_category_micros=summary.by_category,
            by_experiment_type_micros=summary.by_experiment_type,
            by_run_micros=summary.by_run,
            unpriced_lines=summary.unpriced_lines,
            runs=summary.runs,
        )
        if predicted is not None:
            response.forecast.CopyFrom(forecast_to_pb(predicted))
        return response

    async def GetTeamAttribution(self, request, context):  # noqa: N802
        days = request.period_days or 30
        rows = await self._governance.run_job(
            lambda conn, now: analytics_queries.team_attribution(conn, analytics._since(now, days))
        )
        return pb.TeamAttributionResponse(
            rows=[
                pb.AttributionRow(team=t, project=p, customer_id=c, cost_center=cc, cost_micros=m)
                for t, p, c, cc, m in rows
            ]
        )

    async def GetForecast(self, request: pb.ForecastRequest, context):  # noqa: N802
        scope = scope_from_pb(request.scope)
        confidence = request.confidence or 0.8
        if not 0 < confidence < 1:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "confidence must be in (0, 1)")
        horizon = request.horizon_days or 30
        history = request.history_days or 90
        predicted = await self._governance.run_job(
            lambda conn, now: analytics.next_period(conn, scope, horizon, confidence, history, now)
        )
        return pb.ForecastResponse(forecast=forecast_to_pb(predicted))

    async def GetRecommendations(self, request, context):  # noqa: N802
        scope = scope_from_pb(request.scope)
        target = request.target_savings_percentage or None
        catalog = self._governance.catalogs.default
        items, spend = await self._governance.run_job(
            lambda conn, now: analytics.recommend(
                conn, scope, request.lookback_days or 30, target, catalog, now
            )
        )
        return pb.RecommendationsResponse(
            spend_micros=spend,
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
        scope = scope_from_pb(request.scope)
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
        scope = scope_from_pb(request.scope)
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


def forecast_to_pb(predicted) -> pb.ForecastSummary:
    return pb.ForecastSummary(
        horizon_days=predicted.horizon_days,
        confidence=predicted.confidence,
        point_micros=predicted.point_micros,
        lower_micros=predicted.lower_micros,
        upper_micros=predicted.upper_micros,
        method=predicted.method,
        history_days=predicted.history_days,
    )


async def _catalog_from_json(text: str, context) -> Catalog:
    try:
        return Catalog.from_dict(json.loads(text), "catalog")
    except (ValueError, CatalogError) as error:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"invalid catalog: {error}")


def _parse_since(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def approval_to_pb(row: dict) -> pb.Approval:
    def iso(value) -> str:
        return value.isoformat() if value is not None else ""

    return pb.Approval(
        approval_id=row["approval_id"],
        status=row["status"],
        scope=pb.Scope(
            team=row["team"] or "",
            project=row["project"] or "",
            customer_id=row["customer_id"] or "",
            cost_center=row["cost_center"] or "",
            environment=row["environment"] or "",
        ),
        wandb_project=row["wandb_project"] or "",
        wandb_run_name=row["wandb_run_name"] or "",
        requested_at=iso(row["requested_at"]),
        decided_at=iso(row["decided_at"]),
        actor=row["actor"] or "",
        reason=row["reason"] or "",
        expires_at=iso(row["expires_at"]),
    )


def client_limits_from_pb(limits: pb.ClientLimits) -> ClientLimits:
    return ClientLimits(
        daily_limit_micros=max(0, limits.daily_limit_micros),
        mode=PB_TO_MODE.get(limits.policy_mode),
        limit_mode=PB_TO_MODE.get(limits.daily_limit_mode),
    )


def experiment_to_pb(record: ExperimentRecord) -> pb.ExperimentSummary:
    by_category = record.cost_by_category
    finished_compute = 0
    cost_by_run = {}
    for run in record.runs:
        cost_by_run[run.run_id or run.run_key] = run.cost_micros
    end = record.end_ns or max((r.usage.as_of_ns for r in record.runs), default=0)
    for run in record.runs:
        if run.status == "finished":
            finished_compute += run.cost_micros
    return pb.ExperimentSummary(
        experiment_id=record.experiment_id,
        name=record.name,
        experiment_type=record.experiment_type,
        status=record.status,
        scope=scope_to_pb(record.scope),
        max_cost_micros=record.max_cost_micros,
        estimated_cost_micros=record.estimated_cost_micros,
        total_cost_micros=sum(by_category.values()),
        compute_cost_micros=by_category.get("compute", 0),
        storage_cost_micros=by_category.get("storage", 0),
        data_transfer_cost_micros=by_category.get("data_transfer", 0),
        cost_by_run_micros=cost_by_run,
        duration_ns=max(0, end - record.start_ns) if record.start_ns else 0,
        finished_compute_micros=finished_compute,
        runs=[run_to_pb(r) for r in record.runs],
        violations=list(record.violations),
    )


def scope_from_pb(scope: pb.Scope) -> Scope:
    return Scope(
        team=scope.team,
        project=scope.project,
        customer_id=scope.customer_id,
        cost_center=scope.cost_center,
        environment=scope.environment,
    )


def estimate_from_pb(estimate: pb.RunEstimate, scope: Scope) -> RunState:
    """A run that has not started, as if it had held its hardware for the horizon."""
    return running_run(
        scope,
        HardwareUse(
            gpu_type=estimate.gpu_type,
            gpu_count=estimate.gpu_count,
            cpu_count=estimate.cpu_count,
        ),
        RunUsage(compute_start_ns=0, as_of_ns=estimate.horizon_ns),
        RunLabels(region=estimate.region, catalog_version=estimate.catalog_version),
    )


def running_run(
    scope: Scope, hardware: HardwareUse, usage: RunUsage, labels: RunLabels, run_id: str = ""
) -> RunState:
    """A run as a client describes it, to be priced, not stored (CheckRun, estimates)."""
    return RunState(
        run_key="",
        run_id=run_id,
        run_name="",
        wandb_project="",
        scope=scope,
        hardware=hardware,
        usage=usage,
        status="running",
        final=False,
        labels=labels,
    )


def scope_to_pb(scope: Scope) -> pb.Scope:
    return pb.Scope(**scope.as_dict())


def budget_to_pb(state: BudgetState) -> pb.BudgetState:
    budget = state.budget
    return pb.BudgetState(
        name=budget.name,
        mode=MODE_TO_PB[budget.mode],
        limit_micros=budget.limit_micros,
        spent_micros=state.spent_micros,
        period=budget.period,
        period_start=state.period_start.isoformat(),
        source=budget.source,
        scope=scope_to_pb(budget.scope),
        exceeded=state.exceeded,
        fail_mode=budget.fail_mode,
    )


def run_to_pb(run: RunState) -> pb.RunSummary:
    return pb.RunSummary(
        run_key=run.run_key,
        run_id=run.run_id,
        run_name=run.run_name,
        wandb_project=run.wandb_project,
        scope=scope_to_pb(run.scope),
        status=run.status,
        started_at=_iso(run.usage.compute_start_ns),
        ended_at=_iso(run.usage.as_of_ns) if run.final else "",
        duration_ns=run.usage.duration_ns,
        log_calls=run.usage.log_calls,
        artifact_bytes=run.usage.artifact_bytes,
        artifact_files=run.usage.artifact_files,
        cost_micros=run.cost_micros,
        unpriced_skus=list(run.unpriced_skus),
        gpu_type=run.hardware.gpu_type,
        gpu_count=run.hardware.gpu_count,
        cpu_count=run.hardware.cpu_count,
        catalog_version=run.catalog_version,
        experiment_id=run.labels.experiment_id,
        tags_json=run.labels.tags_json,
        declared_cost_micros=run.usage.declared_storage_micros,
        violations=list(run.violations),
        region=run.labels.region,
    )


def _iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.timezone.utc).isoformat() if ns else ""

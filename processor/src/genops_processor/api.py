"""The governance gRPC API (genops.governance.v1): a thin adapter over Governance."""

from __future__ import annotations

import datetime as dt

import grpc

from genops.governance.v1 import governance_pb2 as pb
from genops.governance.v1 import governance_pb2_grpc as pb_grpc
from genops_processor.budgets import BudgetState, ClientLimits
from genops_processor.domain import RunState, Scope
from genops_processor.governance import Governance

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


class GovernanceApi(pb_grpc.GovernanceServiceServicer):
    def __init__(self, governance: Governance) -> None:
        self._governance = governance

    async def CheckBudget(self, request: pb.CheckBudgetRequest, context):  # noqa: N802
        if request.requested_micros < 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "requested_micros < 0")
        if request.client_limits.daily_limit_micros < 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "daily_limit_micros < 0")
        recorded = await self._governance.check_budget(
            scope_from_pb(request.scope),
            request.requested_micros,
            ClientLimits(
                daily_limit_micros=request.client_limits.daily_limit_micros,
                mode=PB_TO_MODE.get(request.client_limits.policy_mode),
            ),
            wandb_project=request.wandb_project,
            wandb_run_name=request.wandb_run_name,
        )
        decision = recorded.decision
        response = pb.CheckBudgetResponse(
            decision=DECISION_TO_PB[decision.outcome],
            decision_id=recorded.decision_id,
            requested_micros=decision.requested_micros,
            budgets=[budget_to_pb(s) for s in decision.states],
            message=decision.message,
        )
        if decision.deciding is not None:
            response.deciding_budget.CopyFrom(budget_to_pb(decision.deciding))
        return response

    async def GetBudgetStatus(self, request: pb.GetBudgetStatusRequest, context):  # noqa: N802
        scope = scope_from_pb(request.scope) if request.HasField("scope") else None
        states = await self._governance.budget_status(scope)
        return pb.GetBudgetStatusResponse(budgets=[budget_to_pb(s) for s in states])

    async def ListRuns(self, request: pb.ListRunsRequest, context):  # noqa: N802
        scope = scope_from_pb(request.scope) if request.HasField("scope") else None
        runs = await self._governance.list_runs(scope, request.limit)
        return pb.ListRunsResponse(runs=[run_to_pb(r) for r in runs])


def scope_from_pb(scope: pb.Scope) -> Scope:
    return Scope(
        team=scope.team,
        project=scope.project,
        customer_id=scope.customer_id,
        cost_center=scope.cost_center,
        environment=scope.environment,
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
    )


def _iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.timezone.utc).isoformat() if ns else ""

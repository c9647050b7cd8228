"""Conversions between the governance proto (``genops.governance.v1``) and domain types."""

from __future__ import annotations

import datetime as dt

from genops.governance.v1 import governance_pb2 as pb
from genops_processor.budgets import BudgetState, ClientLimits
from genops_processor.domain import HardwareUse, RunLabels, RunState, RunUsage, Scope
from genops_processor.storage import ExperimentRecord

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


def parse_since(text: str) -> dt.datetime:
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
        exit_code=run.exit_code,
    )


def _iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.timezone.utc).isoformat() if ns else ""

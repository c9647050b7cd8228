"""Conversions between the governance proto (``genops.governance.v1``) and domain types.

Every integer leaving through an int64 (int32) field saturates at its range
(``limits.ANSWER_INT64_MAX``): a sum too large for the wire is answered as the
largest figure it can carry, never as an error."""

from __future__ import annotations

import datetime as dt

from genops.governance.v1 import governance_pb2 as pb
from genops.money import saturate_int64 as i64
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
        point_micros=i64(predicted.point_micros),
        lower_micros=i64(predicted.lower_micros),
        upper_micros=i64(predicted.upper_micros),
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
        scope=_row_scope_to_pb(row),
        wandb_project=row["wandb_project"] or "",
        wandb_run_name=row["wandb_run_name"] or "",
        requested_at=iso(row["requested_at"]),
        decided_at=iso(row["decided_at"]),
        actor=row["actor"] or "",
        reason=row["reason"] or "",
        expires_at=iso(row["expires_at"]),
    )


def hold_to_pb(row: dict) -> pb.Hold:
    return pb.Hold(
        hold_id=row["hold_id"],
        principal=row["principal"] or "",
        scope=_row_scope_to_pb(row),
        amount_micros=i64(row["amount_micros"] or 0),
        status=row["status"],
        created_at=_iso(row["created_ns"]),
        last_seen_at=_iso(row["last_seen_ns"]),
        parent_hold_id=row["parent_hold_id"] or "",
        run_key=row["run_key"] or "",
    )


def _row_scope_to_pb(row: dict) -> pb.Scope:
    """The scope columns of a stored row (NULL as "")."""
    return pb.Scope(
        team=row["team"] or "",
        project=row["project"] or "",
        customer_id=row["customer_id"] or "",
        cost_center=row["cost_center"] or "",
        environment=row["environment"] or "",
    )


def client_limits_from_pb(limits: pb.ClientLimits) -> ClientLimits:
    return ClientLimits(
        daily_limit_micros=max(0, limits.daily_limit_micros),
        mode=PB_TO_MODE.get(limits.policy_mode),
        limit_mode=PB_TO_MODE.get(limits.daily_limit_mode),
        max_running_runs=limits.max_running_runs,
    )


def experiment_to_pb(record: ExperimentRecord) -> pb.ExperimentSummary:
    by_category = record.cost_by_category
    finished_compute = 0
    cost_by_run = {}
    for run in record.runs:
        cost_by_run[run.run_id or run.run_key] = i64(run.cost_micros)
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
        max_cost_micros=i64(record.max_cost_micros),
        estimated_cost_micros=i64(record.estimated_cost_micros),
        total_cost_micros=i64(sum(by_category.values())),
        compute_cost_micros=i64(by_category.get("compute", 0)),
        storage_cost_micros=i64(by_category.get("storage", 0)),
        data_transfer_cost_micros=i64(by_category.get("data_transfer", 0)),
        cost_by_run_micros=cost_by_run,
        duration_ns=i64(max(0, end - record.start_ns) if record.start_ns else 0),
        finished_compute_micros=i64(finished_compute),
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
        limit_micros=i64(budget.limit_micros),
        spent_micros=i64(state.spent_micros),
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
        duration_ns=i64(run.usage.duration_ns),
        log_calls=i64(run.usage.log_calls or 0),
        artifact_bytes=i64(run.usage.artifact_bytes or 0),
        artifact_files=i64(run.usage.artifact_files or 0),
        cost_micros=i64(run.cost_micros),
        unpriced_skus=list(run.unpriced_skus),
        gpu_type=run.hardware.gpu_type,
        gpu_count=_i32(run.hardware.gpu_count),
        cpu_count=_i32(run.hardware.cpu_count),
        catalog_version=run.catalog_version,
        experiment_id=run.labels.experiment_id,
        tags_json=run.labels.tags_json,
        declared_cost_micros=i64(run.usage.declared_storage_micros),
        violations=list(run.violations),
        region=run.labels.region,
        exit_code=run.exit_code,
        security_level=run.labels.security_level,
        residency=run.labels.residency,
    )


def i64_map(values: dict[str, int]) -> dict[str, int]:
    """A map of int64 figures, each saturated."""
    return {key: i64(value) for key, value in values.items()}


def _i32(value: int) -> int:
    return max(-(2**31), min(2**31 - 1, int(value)))


def _iso(ns: int) -> str:
    """A time in ns as RFC 3339; "" when unset or outside what a date can say."""
    if not ns:
        return ""
    try:
        return dt.datetime.fromtimestamp(ns / 1e9, dt.timezone.utc).isoformat()
    except (OverflowError, ValueError, OSError):
        return ""

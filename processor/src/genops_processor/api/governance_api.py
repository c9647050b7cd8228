"""The governance gRPC API (genops.governance.v1): a thin adapter over Governance.

Every request is checked field by field before its handler runs
(:mod:`genops_processor.api.request_checks`); every int64 of an answer saturates."""

from __future__ import annotations

import asyncio
import json

import grpc

from genops.governance.v1 import governance_pb2 as pb
from genops.governance.v1 import governance_pb2_grpc as pb_grpc
from genops.money import saturate_int64 as i64
from genops_processor.api import run_pages
from genops_processor.api.analytics_api import AnalyticsApi
from genops_processor.api.convert import (
    DECISION_TO_PB,
    approval_to_pb,
    budget_to_pb,
    client_limits_from_pb,
    estimate_from_pb,
    experiment_to_pb,
    parse_since,
    running_run,
    scope_from_pb,
)
from genops_processor.api.monitoring_api import MonitoringApi
from genops_processor.api.request_checks import every_request_checked
from genops_processor.budgets import ApprovalError, PolicyError
from genops_processor.domain import HardwareUse, RunLabels, RunUsage
from genops_processor.limits import MAX_OFFLINE_DECISIONS
from genops_processor.pricing import Catalog, CatalogConflict, CatalogError, RepriceRefused
from genops_processor.service import Governance


@every_request_checked
class GovernanceApi(MonitoringApi, AnalyticsApi, pb_grpc.GovernanceServiceServicer):
    def __init__(self, governance: Governance) -> None:
        self._governance = governance

    async def CheckBudget(self, request: pb.CheckBudgetRequest, context):  # noqa: N802
        # ids, amounts and the estimate are bounded by request_checks (every_request_checked)
        e = request.estimate
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
            request_id=request.request_id,
            parent_hold_id=request.parent_hold_id,
        )
        decision = recorded.decision
        response = pb.CheckBudgetResponse(
            decision=DECISION_TO_PB[decision.outcome],
            decision_id=recorded.decision_id,
            hold_id=recorded.hold_id,
            requested_micros=i64(decision.requested_micros),
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
        if len(request.decisions) > MAX_OFFLINE_DECISIONS:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"decisions: {len(request.decisions)} entries, at most "
                f"{MAX_OFFLINE_DECISIONS} per request (send the rest in another)",
            )
        items = []
        for d in request.decisions:
            if d.decision not in ("allow", "deny"):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"decision {d.decision!r}")
            try:
                decided_at = parse_since(d.decided_at)
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
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"budget_json: {error}")
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
            open=is_open, amount_micros=i64(amount), timeout_s=self._governance.hold_timeout_s
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
        # Keyset pages of at most LIST_RUNS_MAX_PAGE runs / LIST_RUNS_PAGE_BYTES (run_pages).
        try:
            run_pages.page_size(request)
            run_pages.decode_token(request.page_token)
        except run_pages.BadPageToken as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        page = await self._governance.list_runs(lambda conn: run_pages.fetch(conn, request))
        # Thousands of runs to convert: off the event loop, so decisions keep answering.
        return await asyncio.to_thread(run_pages.response, *page)

    async def GetUsage(self, request: pb.GetUsageRequest, context):  # noqa: N802
        usage, states, since = await self._governance.usage_today(
            scope_from_pb(request.scope), client_limits_from_pb(request.client_limits)
        )
        return pb.GetUsageResponse(
            spent_today_micros=i64(usage.spent_micros),
            runs_today=i64(usage.runs),
            failed_runs_today=i64(usage.failed_runs),
            log_calls_today=i64(usage.log_calls),
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
                    runs=i64(t.runs),
                    priced_micros=i64(t.priced_micros),
                    unpriced_lines=i64(t.unpriced_lines),
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
                since = parse_since(request.since)
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
                        before_micros=i64(update.before_micros),
                        after_micros=i64(update.after_micros),
                        audit_event_id=update.audit_event_id,
                    )
        except CatalogConflict as error:
            await context.abort(grpc.StatusCode.ALREADY_EXISTS, str(error))
        except RepriceRefused as error:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(error))

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
            accrued_micros=i64(verdict.accrued_micros),
            hold_micros=i64(verdict.hold_micros),
            message=verdict.message,
        )
        if verdict.deciding is not None:
            response.deciding_budget.CopyFrom(budget_to_pb(verdict.deciding))
        return response


async def _catalog_from_json(text: str, context) -> Catalog:
    try:
        return Catalog.from_dict(json.loads(text), "catalog")
    except (ValueError, CatalogError) as error:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"catalog_json: {error}")

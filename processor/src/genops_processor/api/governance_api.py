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
from genops_processor.api import authorization as authz
from genops_processor.api import run_pages
from genops_processor.api.analytics_api import AnalyticsApi
from genops_processor.api.audit_api import AuditApi
from genops_processor.api.compliance_api import ComplianceApi
from genops_processor.api.convert import (
    DECISION_TO_PB,
    approval_to_pb,
    budget_to_pb,
    client_limits_from_pb,
    estimate_from_pb,
    experiment_to_pb,
    hold_to_pb,
    parse_since,
    running_run,
    scope_from_pb,
)
from genops_processor.api.monitoring_api import MonitoringApi
from genops_processor.api.record_api import RecordApi
from genops_processor.api.request_checks import every_request_checked
from genops_processor.api.security_api import SecurityApi
from genops_processor.auth.posture import SecurityFacts
from genops_processor.budgets import ApprovalError, PolicyError
from genops_processor.domain import HardwareUse, RunLabels, RunUsage, Scope
from genops_processor.limits import (
    LIST_HOLDS_MAX,
    MAX_OFFLINE_DECISIONS,
    MAX_OPEN_HOLDS_PER_PRINCIPAL,
)
from genops_processor.pricing import Catalog, CatalogConflict, CatalogError, RepriceRefused
from genops_processor.service import Governance


@every_request_checked
class GovernanceApi(
    MonitoringApi,
    AnalyticsApi,
    SecurityApi,
    ComplianceApi,
    RecordApi,
    AuditApi,
    pb_grpc.GovernanceServiceServicer,
):
    def __init__(self, governance: Governance, security: SecurityFacts | None = None) -> None:
        self._governance = governance
        # transport and authentication in force (server.py), for GetSecurityPosture
        self._security = security or SecurityFacts()

    async def CheckBudget(self, request: pb.CheckBudgetRequest, context):  # noqa: N802
        # ids, amounts and the estimate are bounded by request_checks (every_request_checked)
        e = request.estimate
        scope = scope_from_pb(request.scope)
        await authz.require_acts_for(context, self._governance, "CheckBudget", scope)
        if request.parent_hold_id:
            await self._require_own_hold(context, "CheckBudget", request.parent_hold_id)
        who = authz.principal()
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
            principal=who.name,
            # the local operator (no credentials: loopback only) is not capped
            max_open_holds=None if who.method == "local" else MAX_OPEN_HOLDS_PER_PRINCIPAL,
            region=request.region,
            data_classification=request.data_classification,
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
            scope = scope_from_pb(d.scope)
            await authz.require_acts_for(context, self._governance, "ReportOfflineDecisions", scope)
            items.append(
                (
                    decided_at,
                    scope,
                    d.decision,
                    message,
                    d.wandb_project,
                    d.wandb_run_name,
                )
            )
        recorded = await self._governance.record_offline(items, authz.principal().name)
        return pb.ReportOfflineDecisionsResponse(recorded=recorded)

    async def GetPolicy(self, request, context):  # noqa: N802
        return await self._policy_response()

    async def SetBudget(self, request: pb.SetBudgetRequest, context):  # noqa: N802
        try:
            budget = json.loads(request.budget_json)
            await self._governance.set_budget(
                budget, authz.principal().name, request.reason, request.actor
            )
        except (ValueError, PolicyError) as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"budget_json: {error}")
        return await self._policy_response()

    async def _policy_response(self) -> pb.PolicyResponse:
        stored = await self._governance.policy_version()
        body = self._governance.policy.shown  # secrets as ***, references as written
        if stored is None:
            return pb.PolicyResponse(version=0, policy_json=json.dumps(body))
        version, _stored_body, changed_at, actor = stored
        return pb.PolicyResponse(
            version=version,
            policy_json=json.dumps(body),
            changed_at=changed_at.isoformat(),
            actor=actor or "",
        )

    async def _require_own_hold(self, context, method: str, hold_id: str) -> str:
        """Refuse unless the caller created the hold (an admin: any hold). Returns who
        created it, "" when unknown (answered as a hold that is not open)."""
        who = authz.principal()
        owner = await self._governance.hold_owner(hold_id)
        if owner is None:
            return ""
        principal = owner[0] or ""
        if principal != who.name and not who.is_admin:
            made = "another principal" if principal else "nobody (before authentication)"
            await authz.refuse(
                context,
                self._governance,
                method,
                f"{authz.describe(who)} may not use hold {hold_id!r}: created by {made}",
            )
        return principal

    async def ReleaseHold(self, request, context):  # noqa: N802
        owner = await self._require_own_hold(context, "ReleaseHold", request.hold_id)
        who = authz.principal().name
        # an admin releasing another principal's hold: audited
        audited_as = who if owner != who else ""
        released = await self._governance.release_hold(request.hold_id, audited_as)
        return pb.ReleaseHoldResponse(released=released)

    async def ListHolds(self, request: pb.ListHoldsRequest, context):  # noqa: N802
        if request.limit < 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "limit: must not be negative")
        limit = min(request.limit or LIST_HOLDS_MAX, LIST_HOLDS_MAX)
        rows, truncated = await self._governance.list_holds(
            request.include_closed, limit, request.team
        )
        return pb.ListHoldsResponse(holds=[hold_to_pb(r) for r in rows], truncated=truncated)

    async def RenewHold(self, request, context):  # noqa: N802
        await self._require_own_hold(context, "RenewHold", request.hold_id)
        is_open, amount = await self._governance.renew_hold(request.hold_id)
        return pb.RenewHoldResponse(
            open=is_open, amount_micros=i64(amount), timeout_s=self._governance.hold_timeout_s
        )

    async def GetApproval(self, request, context):  # noqa: N802
        try:
            row = await self._governance.approval(request.approval_id)
        except ApprovalError as error:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(error))
        await authz.require_reads(context, self._governance, "GetApproval", row["team"] or "")
        return approval_to_pb(row)

    async def DecideApproval(self, request, context):  # noqa: N802
        try:
            pending = await self._governance.approval(request.approval_id)
        except ApprovalError as error:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(error))
        scope = Scope(**{key: pending[key] or "" for key in Scope().as_dict()})
        await authz.require_acts_for(context, self._governance, "DecideApproval", scope)
        try:
            row = await self._governance.decide_approval(
                request.approval_id,
                request.approve,
                authz.principal().name,
                request.reason,
                request.actor,
            )
        except ApprovalError as error:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(error))
        return approval_to_pb(row)

    async def ListApprovals(self, request, context):  # noqa: N802
        teams = authz.readable_teams()
        rows = await self._governance.list_approvals(request.status)
        return pb.ListApprovalsResponse(
            approvals=[
                approval_to_pb(r) for r in rows if teams is None or (r["team"] or "") in teams
            ]
        )

    async def GetBudgetStatus(self, request: pb.GetBudgetStatusRequest, context):  # noqa: N802
        scope = scope_from_pb(request.scope) if request.HasField("scope") else None
        teams = authz.readable_teams()
        if scope is not None and scope.team:
            await authz.require_reads(context, self._governance, "GetBudgetStatus", scope.team)
            teams = None  # the budgets matching a team it reads
        states = await self._governance.budget_status(scope, teams)
        return pb.GetBudgetStatusResponse(budgets=[budget_to_pb(s) for s in states])

    async def ListRuns(self, request: pb.ListRunsRequest, context):  # noqa: N802
        # Keyset pages of at most LIST_RUNS_MAX_PAGE runs / LIST_RUNS_PAGE_BYTES (run_pages).
        try:
            run_pages.page_size(request)
            run_pages.decode_token(request.page_token)
            run_pages.time_window(request)
        except run_pages.BadPageToken as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        teams = authz.readable_teams()
        if teams is not None and request.scope.team:
            await authz.require_reads(context, self._governance, "ListRuns", request.scope.team)
        page = await self._governance.list_runs(lambda conn: run_pages.fetch(conn, request, teams))
        # Thousands of runs to convert: off the event loop, so decisions keep answering.
        return await asyncio.to_thread(run_pages.response, *page)

    async def GetUsage(self, request: pb.GetUsageRequest, context):  # noqa: N802
        scope = await authz.read_scope(
            context, self._governance, "GetUsage", scope_from_pb(request.scope)
        )
        usage, states, since = await self._governance.usage_today(
            scope, client_limits_from_pb(request.client_limits)
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
        await authz.require_reads(context, self._governance, "GetExperiment", record.scope.team)
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
            actor = authz.principal().name
            async for update in self._governance.reprice(catalog, since, actor):
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
        scope = scope_from_pb(request.scope)
        await authz.require_acts_for(context, self._governance, "CheckRun", scope)
        if request.hold_id:
            await self._require_own_hold(context, "CheckRun", request.hold_id)
        snapshot = running_run(
            scope,
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

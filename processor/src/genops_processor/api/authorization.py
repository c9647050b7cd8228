"""Who may call what, and for which teams.

Two layers. :func:`role_refusal` decides from the RPC alone (the table
:data:`RPC_ROLES`: every RPC of ``GovernanceService`` and the OTLP ``Export``, and the
roles that may call it); the authentication interceptor calls it before the handler
runs. Handlers then check the scope a request names against the principal
(:func:`require_acts_for`, :func:`require_reads`) and narrow reads to its teams
(:func:`readable_teams`). Every refusal goes through :func:`refuse`: one
``access.refused`` audit event, then ``PERMISSION_DENIED`` naming what is missing.

An RPC missing from the table is refused to everyone (a new RPC without a row is a
bug that fails ``tests/e2e/test_access_matrix.py``, never an open door).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, NoReturn

import grpc

from genops_processor.auth import context as auth_context
from genops_processor.auth.principals import Principal, Role
from genops_processor.domain import Scope

GOVERNANCE_SERVICE = "genops.governance.v1.GovernanceService"
TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
EXPORT = f"/{TRACE_SERVICE}/Export"

CLIENT, APPROVER, AUDITOR, ADMIN = Role.CLIENT, Role.APPROVER, Role.AUDITOR, Role.ADMIN
EVERYONE = frozenset(Role)
READERS = EVERYONE  # reads are narrowed to the principal's teams by the handler
SPENDERS = frozenset({CLIENT, ADMIN})  # act for a team: check, reserve, run, send spans
SCOPED_WRITERS = frozenset({CLIENT, APPROVER, ADMIN})  # alert rules of their teams, Notify
APPROVERS = frozenset({APPROVER, ADMIN})
OVERSEERS = frozenset({AUDITOR, ADMIN})  # reads of everything that has no team
ADMINS = frozenset({ADMIN})

# method name (of GovernanceService, or the full name of another service's method) ->
# the roles that may call it.
RPC_ROLES: dict[str, frozenset[Role]] = {
    # spending, for the caller's own teams (handlers check the scope and hold owner)
    "CheckBudget": SPENDERS,
    "CheckRun": SPENDERS,
    "RenewHold": SPENDERS,
    "ReleaseHold": SPENDERS,
    "ReportOfflineDecisions": SPENDERS,
    "RecordComplianceEvents": SPENDERS,  # audit events of the caller's teams (SecurityManager)
    EXPORT: SPENDERS,
    # reads, narrowed to the caller's teams
    "GetBudgetStatus": READERS,
    "ListRuns": READERS,
    "GetUsage": READERS,
    "GetExperiment": READERS,
    "GetCostSummary": READERS,
    "GetTeamAttribution": READERS,
    "GetForecast": READERS,
    "GetRecommendations": READERS,
    "GetAnomalies": READERS,
    "GetPerformanceVsCost": READERS,
    "GetApproval": READERS,
    "ListApprovals": READERS,
    "ListAlertRules": READERS,
    "GetSecurityPosture": EVERYONE,  # what the processor enforces, no ledger data
    "GetCustomerUsage": READERS,  # narrowed to the caller's teams and customers
    "GetLineage": READERS,  # narrowed to the caller's teams
    "GetBackupStatus": EVERYONE,  # when the last backup was taken (its path: overseers)
    "ExportAuditTrail": READERS,  # admin, auditor: every event; others: their teams' events
    # approvals of the approver's teams
    "DecideApproval": APPROVERS,
    # alert rules: of the caller's own teams (admin: any); notifications (genops.monitoring
    # reports) reach only channels the policy names, as alert rules do
    "AddAlertRule": SCOPED_WRITERS,
    "DeleteAlertRule": SCOPED_WRITERS,
    "Notify": SCOPED_WRITERS,
    # reads of what spans every team
    "GetPolicy": OVERSEERS,
    "ListCatalogVersions": OVERSEERS,  # totals per catalog version, over every team
    "ListAlerts": OVERSEERS,
    "ListHolds": OVERSEERS,
    "GetRetentionPlan": OVERSEERS,  # apply: admin only (the handler checks)
    "VerifyAuditTrail": OVERSEERS,  # the whole chain: events of every team
    # the ledger's rules: admin only
    "SetBudget": ADMINS,
    "RegisterCatalog": ADMINS,
    "Reprice": ADMINS,
    "AcknowledgeAlert": ADMINS,
    "CreateBackup": ADMINS,
}


def method_key(method_full_name: str) -> str:
    """The table key of a gRPC method name (``/package.Service/Method``)."""
    service, _, name = method_full_name.lstrip("/").rpartition("/")
    if service == GOVERNANCE_SERVICE:
        return name
    return f"/{service}/{name}"


def describe(principal: Principal) -> str:
    """``principal 'x' (client of team-a, team-b)``: who, for refusal messages."""
    role = principal.role.value
    if principal.role in (CLIENT, APPROVER):
        teams = ", ".join(sorted(principal.teams)) or "no team"
        role = f"{role} of {teams}"
    return f"principal {principal.name!r} ({role})"


def role_refusal(
    method_full_name: str, principal: Principal, *, require_mfa_for_admin: bool = False
) -> str | None:
    """Why ``principal`` may not call this method at all, or None when its role may.

    With ``require_mfa_for_admin`` (the credentials file's ``require_mfa_for_admin``),
    an admin-only method also needs a principal whose JWT showed a second factor."""
    key = method_key(method_full_name)
    roles = RPC_ROLES.get(key)
    name = key.rsplit("/", 1)[-1]
    if roles is None:
        return f"{name}: no role may call it (not in the authorisation table)"
    if principal.role not in roles:
        allowed = ", ".join(r.value for r in Role if r in roles)
        return f"{describe(principal)} may not call {name} (roles allowed: {allowed})"
    if require_mfa_for_admin and roles == ADMINS and not principal.has_second_factor:
        return "admin action requires a second factor (JWT amr)"
    return None


def authorizer(require_mfa_for_admin: Callable[[], bool]) -> Callable[[str, Principal], str | None]:
    """:func:`role_refusal` with the MFA rule read at each call (the credentials file
    can change while the processor runs): the hook the authentication interceptor takes."""

    def authorize(method_full_name: str, principal: Principal) -> str | None:
        return role_refusal(
            method_full_name, principal, require_mfa_for_admin=require_mfa_for_admin()
        )

    return authorize


# -- scope: what a handler checks --------------------------------------------------------


def principal() -> Principal:
    """The principal of the call being served (bound by the authentication interceptor)."""
    return auth_context.current()


def readable_teams() -> frozenset[str] | None:
    """The teams whose data this call may read; None: every team."""
    who = principal()
    return None if who.reads_everything else who.teams


def may_act_for(scope: Scope) -> bool:
    return principal().acts_for(scope.team, scope.project, scope.customer_id)


def act_refusal(scope: Scope) -> str | None:
    """Why this call may not act (spend, decide, send spans) for ``scope``, or None."""
    return act_refusal_of(principal(), scope)


def act_refusal_of(who: Principal, scope: Scope) -> str | None:
    """Why ``who`` may not act for ``scope``, or None (usable off the call's context)."""
    if who.acts_for(scope.team, scope.project, scope.customer_id):
        return None
    if who.role is AUDITOR:
        return f"{describe(who)} may not act for any team"
    if scope.team not in who.teams:
        return f"{describe(who)} may not act for team {scope.team!r}"
    if who.projects and scope.project not in who.projects:
        return f"{describe(who)} may not act for project {scope.project!r}"
    return f"{describe(who)} may not act for customer {scope.customer_id!r}"


def read_refusal(team: str) -> str | None:
    who = principal()
    if who.reads(team):
        return None
    return f"{describe(who)} may not read team {team!r}"


async def refuse(
    context: Any,
    governance: Any,
    method: str,
    reason: str,
    code: grpc.StatusCode = grpc.StatusCode.PERMISSION_DENIED,
) -> NoReturn:
    """Record the refusal (one ``access.refused`` audit event), then abort the call."""
    who = auth_context.current_or_none()
    await governance.record_refusal(
        who.name if who is not None else "anonymous",
        f"/{GOVERNANCE_SERVICE}/{method}" if not method.startswith("/") else method,
        code.name,
        reason,
        _peer(context),
    )
    await context.abort(code, reason)
    raise AssertionError("context.abort returned")  # pragma: no cover (abort raises)


async def require_acts_for(context: Any, governance: Any, method: str, scope: Scope) -> None:
    """Refuse the call unless its principal acts for ``scope``."""
    if (reason := act_refusal(scope)) is not None:
        await refuse(context, governance, method, reason)


async def require_reads(context: Any, governance: Any, method: str, team: str) -> None:
    """Refuse the call unless its principal reads ``team``."""
    if (reason := read_refusal(team)) is not None:
        await refuse(context, governance, method, reason)


async def read_scope(context: Any, governance: Any, method: str, scope: Scope) -> Scope:
    """The scope a read may serve: as asked when the principal reads its team; a
    principal of one team asking for no team gets its team; one of several teams must
    name one (a refusal otherwise: a scope-less read would span every team)."""
    teams = readable_teams()
    if teams is None:
        return scope
    if scope.team:
        await require_reads(context, governance, method, scope.team)
        return scope
    if len(teams) == 1:
        return replace(scope, team=next(iter(teams)))
    who = principal()
    await refuse(
        context,
        governance,
        method,
        f"scope.team: required for {describe(who)} (name one of its teams)",
    )


def _peer(context: Any) -> str:
    try:
        return str(context.peer() or "")
    except Exception:  # noqa: BLE001 (a peer is only a detail of the audit event)
        return ""

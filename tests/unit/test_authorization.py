"""The role table and the scope checks of api/authorization.py (no server needed)."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from genops.governance.v1 import governance_pb2 as pb
from genops_processor.api import authorization as authz
from genops_processor.auth import context
from genops_processor.auth.principals import LOCAL_OPERATOR, Principal, Role
from genops_processor.domain import Scope

SERVICE = "/genops.governance.v1.GovernanceService/"
CLIENT_A = Principal("trainer-a", Role.CLIENT, frozenset({"team-a"}))
APPROVER_A = Principal("lead-a", Role.APPROVER, frozenset({"team-a"}))
AUDITOR = Principal("auditor", Role.AUDITOR)
ADMIN = Principal("root", Role.ADMIN)
ADMIN_MFA = Principal("root", Role.ADMIN, method="jwt", factors=frozenset({"pwd", "otp"}))


def test_every_rpc_of_the_service_has_a_row():
    methods = {m.name for m in pb.DESCRIPTOR.services_by_name["GovernanceService"].methods}
    assert methods - set(authz.RPC_ROLES) == set()


def test_an_rpc_missing_from_the_table_is_refused_even_to_an_admin():
    reason = authz.role_refusal(SERVICE + "DropEverything", ADMIN)
    assert reason == "DropEverything: no role may call it (not in the authorisation table)"
    assert authz.role_refusal("/grpc.health.v1.Health/Check", ADMIN) is not None


@pytest.mark.parametrize(
    ("method", "allowed"),
    [
        ("CheckBudget", {"client", "admin"}),
        ("/opentelemetry.proto.collector.trace.v1.TraceService/Export", {"client", "admin"}),
        ("ListRuns", {"client", "approver", "auditor", "admin"}),
        ("DecideApproval", {"approver", "admin"}),
        ("GetPolicy", {"auditor", "admin"}),
        ("ListHolds", {"auditor", "admin"}),
        ("SetBudget", {"admin"}),
        ("Reprice", {"admin"}),
        ("RegisterCatalog", {"admin"}),
    ],
)
def test_roles_allowed_per_rpc(method, allowed):
    name = method if method.startswith("/") else SERVICE + method
    who = {"client": CLIENT_A, "approver": APPROVER_A, "auditor": AUDITOR, "admin": ADMIN}
    got = {role for role, p in who.items() if authz.role_refusal(name, p) is None}
    assert got == allowed


def test_a_refusal_names_the_principal_its_teams_and_the_roles_allowed():
    reason = authz.role_refusal(SERVICE + "SetBudget", CLIENT_A)
    assert reason == (
        "principal 'trainer-a' (client of team-a) may not call SetBudget (roles allowed: admin)"
    )


def test_mfa_rule_applies_to_admin_only_rpcs():
    assert authz.role_refusal(SERVICE + "SetBudget", ADMIN, require_mfa_for_admin=True) == (
        "admin action requires a second factor (JWT amr)"
    )
    assert authz.role_refusal(SERVICE + "SetBudget", ADMIN_MFA, require_mfa_for_admin=True) is None
    # a read an auditor may make too is not an admin action
    assert authz.role_refusal(SERVICE + "ListRuns", ADMIN, require_mfa_for_admin=True) is None
    assert authz.role_refusal(SERVICE + "SetBudget", ADMIN) is None


def test_authorizer_reads_the_mfa_setting_at_each_call():
    required = [False]
    authorize = authz.authorizer(lambda: required[0])
    assert authorize(SERVICE + "Reprice", ADMIN) is None
    required[0] = True
    assert authorize(SERVICE + "Reprice", ADMIN) is not None


def _bound(principal):
    return context.bind(principal)


def test_act_refusal_names_the_missing_team():
    token = _bound(CLIENT_A)
    try:
        assert authz.act_refusal(Scope(team="team-a")) is None
        assert authz.act_refusal(Scope(team="team-b")) == (
            "principal 'trainer-a' (client of team-a) may not act for team 'team-b'"
        )
        assert authz.readable_teams() == frozenset({"team-a"})
    finally:
        context.unbind(token)


def test_project_narrowing_and_auditor_acting():
    narrow = Principal("p", Role.CLIENT, frozenset({"team-a"}), projects=frozenset({"nlp"}))
    assert authz.act_refusal_of(narrow, Scope(team="team-a", project="nlp")) is None
    assert "project 'cv'" in authz.act_refusal_of(narrow, Scope(team="team-a", project="cv"))
    assert "may not act for any team" in authz.act_refusal_of(AUDITOR, Scope(team="team-a"))


def test_local_operator_reads_and_acts_for_everything():
    token = _bound(LOCAL_OPERATOR)
    try:
        assert authz.readable_teams() is None
        assert authz.act_refusal(Scope(team="anything")) is None
    finally:
        context.unbind(token)


class _Aborted(Exception):
    pass


class _Context:
    def peer(self):
        return "ipv4:127.0.0.1:5555"

    async def abort(self, code, details):
        self.aborted = (code, details)
        raise _Aborted(details)


class _Governance:
    def __init__(self):
        self.refusals = []

    async def record_refusal(self, actor, method, code, reason, peer=""):
        self.refusals.append((actor, method, code, reason, peer))


def _run(coroutine_factory, principal):
    async def main():
        token = context.bind(principal)
        try:
            return await coroutine_factory()
        finally:
            context.unbind(token)

    return asyncio.run(main())


def test_refuse_records_exactly_one_event_then_aborts():
    ctx, gov = _Context(), _Governance()
    with pytest.raises(_Aborted):
        _run(lambda: authz.require_acts_for(ctx, gov, "CheckBudget", Scope("team-b")), CLIENT_A)
    assert gov.refusals == [
        (
            "trainer-a",
            SERVICE + "CheckBudget",
            "PERMISSION_DENIED",
            "principal 'trainer-a' (client of team-a) may not act for team 'team-b'",
            "ipv4:127.0.0.1:5555",
        )
    ]
    assert ctx.aborted[0] is grpc.StatusCode.PERMISSION_DENIED


def test_allowed_scope_records_nothing():
    ctx, gov = _Context(), _Governance()
    _run(lambda: authz.require_acts_for(ctx, gov, "CheckBudget", Scope("team-a")), CLIENT_A)
    assert gov.refusals == []


def test_read_scope_fills_in_a_single_team_and_refuses_a_scopeless_read_of_several():
    ctx, gov = _Context(), _Governance()
    got = _run(lambda: authz.read_scope(ctx, gov, "GetUsage", Scope(project="x")), CLIENT_A)
    assert got == Scope(team="team-a", project="x")
    two = Principal("both", Role.CLIENT, frozenset({"team-a", "team-b"}))
    with pytest.raises(_Aborted):
        _run(lambda: authz.read_scope(ctx, gov, "GetUsage", Scope()), two)
    assert "scope.team: required" in gov.refusals[-1][3]
    with pytest.raises(_Aborted):
        _run(lambda: authz.read_scope(ctx, gov, "GetUsage", Scope("team-c")), two)
    assert len(gov.refusals) == 2
    # an auditor's read is served as asked
    assert _run(lambda: authz.read_scope(ctx, gov, "GetUsage", Scope()), AUDITOR) == Scope()

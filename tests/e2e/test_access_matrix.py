"""Who may call what: every RPC of the governance API (enumerated from the proto, so a new
RPC without a row here fails) and the OTLP Export, called by no token, a bad token, a
client of team-a on team-b's data, a client, an approver, an auditor and an admin, against
a real processor started with a credentials file. Each refusal is answered with the
expected status and leaves exactly one ``access.refused`` audit event."""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

from genops import attributes as attr
from genops.governance.v1 import governance_pb2 as pb
from genops.governance.v1 import governance_pb2_grpc as pb_grpc
from genops_processor import storage
from genops_processor.auth import credentials
from genops_processor.record import audit_events
from tests.helpers import start_processor

SERVICE = "/genops.governance.v1.GovernanceService/"
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
UNAUTH, DENIED = grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED

POLICY = """
budgets:
  - {name: a-daily, scope: {team: team-a}, daily_limit: "1000", mode: enforced}
  - {name: b-daily, scope: {team: team-b}, daily_limit: "1000", mode: enforced}
channels:
  ops: log://
"""

# Who may call each RPC (with a request for its own team; an admin: any team). The
# authorisation table in api/authorization.py must agree; this is the spec, kept apart.
C, P, U, A = "client", "approver", "auditor", "admin"
EXPECTED: dict[str, set[str]] = {
    "CheckBudget": {C, A},
    "CheckRun": {C, A},
    "RenewHold": {C, A},
    "ReleaseHold": {C, A},
    "ReportOfflineDecisions": {C, A},
    "RecordComplianceEvents": {C, A},
    "GetBudgetStatus": {C, P, U, A},
    "ListRuns": {C, P, U, A},
    "GetUsage": {C, P, U, A},
    "GetExperiment": {C, P, U, A},
    "GetCostSummary": {C, P, U, A},
    "GetTeamAttribution": {C, P, U, A},
    "GetForecast": {C, P, U, A},
    "GetRecommendations": {C, P, U, A},
    "GetAnomalies": {C, P, U, A},
    "GetPerformanceVsCost": {C, P, U, A},
    "GetApproval": {C, P, U, A},
    "ListApprovals": {C, P, U, A},
    "ListAlertRules": {C, P, U, A},
    "GetSecurityPosture": {C, P, U, A},
    "GetCustomerUsage": {C, P, U, A},
    "GetLineage": {C, P, U, A},
    "GetBackupStatus": {C, P, U, A},
    "ExportAuditTrail": {C, P, U, A},
    "AddAlertRule": {C, P, A},
    "DeleteAlertRule": {C, P, A},
    "DecideApproval": {P, A},
    "Notify": {C, P, A},
    "GetPolicy": {U, A},
    "ListAlerts": {U, A},
    "ListHolds": {U, A},
    "ListCatalogVersions": {U, A},
    "GetRetentionPlan": {U, A},
    "VerifyAuditTrail": {U, A},
    "SetBudget": {A},
    "RegisterCatalog": {A},
    "Reprice": {A},
    "AcknowledgeAlert": {A},
    "CreateBackup": {A},
}
# RPCs whose answer is narrowed to the caller's teams instead of refused (no team asked).
FILTERED = {
    "GetTeamAttribution",
    "ListApprovals",
    "GetSecurityPosture",
    "Notify",
    "GetCustomerUsage",
    "GetLineage",
    "GetBackupStatus",
    "ExportAuditTrail",
}


@dataclass
class World:
    """The processor, its principals' tokens, and data of both teams to aim at."""

    endpoint: str
    tokens: dict[str, str]
    approvals: dict[str, str]  # team -> a pending approval id
    experiments: dict[str, str]  # team -> a stored experiment id

    def stub(self) -> pb_grpc.GovernanceServiceStub:
        return pb_grpc.GovernanceServiceStub(grpc.insecure_channel(self.endpoint))

    def call(self, name: str, request, token: str | None):
        metadata = () if token is None else (("authorization", f"Bearer {token}"),)
        stub = self.stub()
        answer = getattr(stub, name)(request, timeout=30, metadata=metadata)
        return list(answer) if name == "Reprice" else answer

    def code(self, name: str, request, token: str | None) -> grpc.StatusCode:
        try:
            self.call(name, request, token)
        except grpc.RpcError as error:
            return error.code()
        return grpc.StatusCode.OK

    def as_(self, who: str, name: str, request):
        return self.call(name, request, self.tokens[who])

    def hold_of(self, who: str, team: str) -> str:
        answer = self.as_(
            who,
            "CheckBudget",
            pb.CheckBudgetRequest(scope=pb.Scope(team=team), requested_micros=1_000_000),
        )
        assert answer.hold_id, answer
        return answer.hold_id

    def pending_approval(self, team: str) -> str:
        answer = self.as_(
            "admin",
            "CheckBudget",
            pb.CheckBudgetRequest(
                scope=pb.Scope(team=team), requested_micros=1_000_000, require_approval=True
            ),
        )
        assert answer.approval_id, answer
        return answer.approval_id

    def rule_of(self, team: str) -> str:
        rule = self.as_("admin", "AddAlertRule", alert_rule(team))
        return rule.rule_id


def alert_rule(team: str) -> pb.AlertRule:
    return pb.AlertRule(kind="cost", scope=pb.Scope(team=team), threshold=80, channels=["ops"])


def _value(v: object) -> AnyValue:
    if isinstance(v, int):
        return AnyValue(int_value=v)
    return AnyValue(string_value=str(v))


def otlp_span(name: str, team: str, **extra: object) -> trace_pb2.Span:
    """A governance span of ``team`` (a finished one-hour run unless ``name`` says else)."""
    now = time.time_ns()
    attributes: dict[str, object] = {attr.TEAM: team, attr.PROJECT: "matrix"}
    if name == attr.SPAN_RUN:
        attributes.update(
            {
                attr.RUN_KEY: f"run-{os.urandom(4).hex()}",
                attr.RUN_STATUS: "finished",
                attr.HW_GPU_TYPE: "T4",
                attr.HW_GPU_COUNT: 1,
                attr.HW_CPU_COUNT: 0,
                attr.RUN_COMPUTE_START_NS: now - 3_600 * 10**9,
                attr.USAGE_AS_OF_NS: now,
            }
        )
    attributes.update({k.replace("__", "."): v for k, v in extra.items()})
    return trace_pb2.Span(
        trace_id=os.urandom(16),
        span_id=os.urandom(8),
        name=name,
        start_time_unix_nano=now - 3_600 * 10**9,
        end_time_unix_nano=now,
        attributes=[KeyValue(key=k, value=_value(v)) for k, v in attributes.items()],
    )


def export(endpoint: str, token: str | None, spans) -> trace_service_pb2.ExportTraceServiceResponse:
    request = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=spans)])]
    )
    metadata = () if token is None else (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(endpoint) as channel:
        return trace_service_pb2_grpc.TraceServiceStub(channel).Export(
            request, timeout=30, metadata=metadata
        )


def experiment_span(team: str, experiment_id: str) -> trace_pb2.Span:
    return otlp_span(
        attr.SPAN_EXPERIMENT,
        team,
        genops__experiment__id=experiment_id,
        genops__experiment__name=f"exp of {team}",
        genops__experiment__type="training",
        genops__experiment__status="finished",
    )


# name -> (request for ``team``): what each RPC is called with, for its own or a foreign
# team. Requests that would change the ledger for an allowed caller are invalid on purpose
# where the role check is what is tested (an allowed call then answers INVALID_ARGUMENT).
def requests(world: World) -> dict[str, Callable[[str, str], object]]:
    def scope(team: str) -> pb.Scope:
        return pb.Scope(team=team)

    def check_run(team: str, who: str) -> pb.CheckRunRequest:
        return pb.CheckRunRequest(
            scope=scope(team), run_id="matrix-run", usage=pb.RunSnapshot(gpu_type="T4")
        )

    def hold(team: str, who: str) -> str:
        # a hold the team's client created (client-a's own for team-a)
        return world.hold_of(f"client-{team[-1]}", team)

    now = dt.datetime.now(dt.timezone.utc).isoformat()
    return {
        "CheckBudget": lambda t, w: pb.CheckBudgetRequest(scope=scope(t), requested_micros=1),
        "CheckRun": check_run,
        "RenewHold": lambda t, w: pb.RenewHoldRequest(hold_id=hold(t, w)),
        "ReleaseHold": lambda t, w: pb.ReleaseHoldRequest(hold_id=hold(t, w)),
        "ReportOfflineDecisions": lambda t, w: pb.ReportOfflineDecisionsRequest(
            decisions=[
                pb.OfflineDecision(
                    scope=scope(t), decision="allow", decided_at=now, fail_mode="open"
                )
            ]
        ),
        # an unknown kind: an allowed caller gets INVALID_ARGUMENT, nothing is stored
        "RecordComplianceEvents": lambda t, w: pb.RecordComplianceEventsRequest(
            scope=scope(t), events=[pb.ComplianceEvent(kind="matrix")]
        ),
        "GetBudgetStatus": lambda t, w: pb.GetBudgetStatusRequest(scope=scope(t)),
        "ListRuns": lambda t, w: pb.ListRunsRequest(scope=scope(t)),
        "GetUsage": lambda t, w: pb.GetUsageRequest(scope=scope(t)),
        "GetExperiment": lambda t, w: pb.GetExperimentRequest(experiment_id=world.experiments[t]),
        "GetCostSummary": lambda t, w: pb.CostSummaryRequest(scope=scope(t)),
        "GetTeamAttribution": lambda t, w: pb.TeamAttributionRequest(),
        "GetForecast": lambda t, w: pb.ForecastRequest(scope=scope(t)),
        "GetRecommendations": lambda t, w: pb.RecommendationsRequest(scope=scope(t)),
        "GetAnomalies": lambda t, w: pb.AnomaliesRequest(scope=scope(t)),
        "GetPerformanceVsCost": lambda t, w: pb.PerformanceRequest(scope=scope(t)),
        "GetApproval": lambda t, w: pb.GetApprovalRequest(approval_id=world.approvals[t]),
        "ListApprovals": lambda t, w: pb.ListApprovalsRequest(),
        "ListAlertRules": lambda t, w: pb.ListAlertRulesRequest(scope=scope(t)),
        "GetSecurityPosture": lambda t, w: pb.GetSecurityPostureRequest(),
        "AddAlertRule": lambda t, w: alert_rule(t),
        "DeleteAlertRule": lambda t, w: pb.DeleteAlertRuleRequest(rule_id=world.rule_of(t)),
        "DecideApproval": lambda t, w: pb.DecideApprovalRequest(
            approval_id=world.pending_approval(t), approve=False, reason="matrix"
        ),
        "Notify": lambda t, w: pb.NotifyRequest(channels=["ops"], subject="matrix"),
        "GetPolicy": lambda t, w: pb.GetPolicyRequest(),
        "ListAlerts": lambda t, w: pb.ListAlertsRequest(limit=1),
        "ListHolds": lambda t, w: pb.ListHoldsRequest(),
        "ListCatalogVersions": lambda t, w: pb.ListCatalogVersionsRequest(),
        "SetBudget": lambda t, w: pb.SetBudgetRequest(budget_json="{}"),
        "RegisterCatalog": lambda t, w: pb.RegisterCatalogRequest(catalog_json="{}"),
        "Reprice": lambda t, w: pb.RepriceRequest(catalog_json="{}"),
        "AcknowledgeAlert": lambda t, w: pb.AcknowledgeAlertRequest(alert_id="no-such-alert"),
        "GetCustomerUsage": lambda t, w: pb.CustomerUsageRequest(billing_period="2026-11"),
        "GetLineage": lambda t, w: pb.LineageRequest(name="no-such-artifact"),
        "GetRetentionPlan": lambda t, w: pb.RetentionPlanRequest(),
        # no --backup-dir here: an allowed caller gets FAILED_PRECONDITION
        "CreateBackup": lambda t, w: pb.CreateBackupRequest(),
        "GetBackupStatus": lambda t, w: pb.GetBackupStatusRequest(),
        "ExportAuditTrail": lambda t, w: pb.ExportAuditTrailRequest(page_size=1),
        "VerifyAuditTrail": lambda t, w: pb.VerifyAuditTrailRequest(),
    }


@pytest.fixture
def world(tmp_path):
    cred = tmp_path / "credentials.yaml"
    tokens = {
        "admin": credentials.create(cred, "admin", "admin"),
        "auditor": credentials.create(cred, "auditor", "auditor"),
        "approver-a": credentials.create(cred, "approver-a", "approver", ["team-a"]),
        "client-a": credentials.create(cred, "client-a", "client", ["team-a"]),
        "client-b": credentials.create(cred, "client-b", "client", ["team-b"]),
    }
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    processor = start_processor(tmp_path, "--credentials", str(cred), "--policy", str(policy))
    try:
        world = World(processor.endpoint, tokens, {}, {})
        for team in ("team-a", "team-b"):
            world.approvals[team] = world.pending_approval(team)
            world.experiments[team] = f"exp-{team}"
            client = f"client-{team[-1]}"
            answer = export(
                processor.endpoint,
                tokens[client],
                [experiment_span(team, f"exp-{team}"), otlp_span(attr.SPAN_RUN, team)],
            )
            assert not answer.partial_success.rejected_spans, answer
        yield world, processor
    finally:
        processor.stop()


def refusals(processor) -> list[tuple[str, str, str]]:
    assert processor.stop() == 0
    with storage.Storage(processor.db, read_only=True) as db:
        events = db.call(lambda conn: audit_events(conn, "access.refused"))
    return [(e["actor"], e["detail"]["method"], e["detail"]["code"]) for e in events]


def test_every_rpc_of_the_api_has_a_row_here():
    methods = {m.name for m in pb.DESCRIPTOR.services_by_name["GovernanceService"].methods}
    assert methods == set(EXPECTED), (
        f"RPCs without a row: {sorted(methods - set(EXPECTED))}; "
        f"rows without an RPC: {sorted(set(EXPECTED) - methods)}"
    )


def test_every_rpc_by_every_caller(world):
    world, processor = world
    build = requests(world)
    callers = {C: "client-a", P: "approver-a", U: "auditor", A: "admin"}
    wrong: list[str] = []
    expected_events: list[tuple[str, str, str]] = []

    def expect(name, who, token, request, refused_with):
        got = world.code(name, request, token)
        if refused_with is None:
            if got in (UNAUTH, DENIED):
                wrong.append(f"{name} by {who}: {got.name}, expected it allowed")
            return
        if got != refused_with:
            wrong.append(f"{name} by {who}: {got.name}, expected {refused_with.name}")
            return
        actor = "anonymous" if refused_with is UNAUTH else who
        expected_events.append((actor, SERVICE + name, refused_with.name))

    for name in sorted(EXPECTED):
        own = build[name]
        expect(name, "no token", None, own("team-a", "anonymous"), UNAUTH)
        expect(name, "bad token", "genops_not-a-real-token", own("team-a", "anonymous"), UNAUTH)
        for role, who in callers.items():
            allowed = role in EXPECTED[name]
            expect(name, who, world.tokens[who], own("team-a", who), None if allowed else DENIED)
        # a client of team-a on team-b's data
        if name not in FILTERED:
            expect(name, "client-a", world.tokens["client-a"], own("team-b", "client-a"), DENIED)

    assert not wrong, "\n".join(wrong)
    got = refusals(processor)
    missing = collections.Counter(expected_events) - collections.Counter(got)
    extra = collections.Counter(got) - collections.Counter(expected_events)
    assert not missing and not extra, f"missing events: {missing}; unexpected events: {extra}"


def test_otlp_export_by_every_caller(world):
    world, processor = world
    spans = lambda: [otlp_span(attr.SPAN_RUN, "team-a")]  # noqa: E731
    for token in (None, "genops_bogus"):
        with pytest.raises(grpc.RpcError) as refused:
            export(world.endpoint, token, spans())
        assert refused.value.code() is UNAUTH
    for who in ("approver-a", "auditor"):
        with pytest.raises(grpc.RpcError) as refused:
            export(world.endpoint, world.tokens[who], spans())
        assert refused.value.code() is DENIED
        assert "may not call Export" in refused.value.details()
    for who in ("client-a", "admin"):
        assert not export(world.endpoint, world.tokens[who], spans()).partial_success.rejected_spans
    events = refusals(processor)
    assert sorted(events) == sorted(
        [
            ("anonymous", EXPORT, "UNAUTHENTICATED"),
            ("anonymous", EXPORT, "UNAUTHENTICATED"),
            ("approver-a", EXPORT, "PERMISSION_DENIED"),
            ("auditor", EXPORT, "PERMISSION_DENIED"),
        ]
    )


def test_spans_claiming_another_team_are_rejected_and_the_rest_stored(world):
    world, processor = world
    own = [otlp_span(attr.SPAN_RUN, "team-a", genops__run__key=f"own-{i}") for i in range(3)]
    foreign = [
        otlp_span(attr.SPAN_RUN, "team-b", genops__run__key=f"foreign-{i}") for i in range(2)
    ]
    answer = export(world.endpoint, world.tokens["client-a"], [own[0], *foreign, *own[1:]])
    assert answer.partial_success.rejected_spans == 2
    assert "team_not_permitted" in answer.partial_success.error_message
    assert "may not act for team 'team-b'" in answer.partial_success.error_message

    runs = world.as_("admin", "ListRuns", pb.ListRunsRequest()).runs
    keys = {r.run_key for r in runs}
    assert {"own-0", "own-1", "own-2"} <= keys
    assert not {"foreign-0", "foreign-1"} & keys
    events = [e for e in refusals(processor) if e[1] == EXPORT]
    assert events == [("client-a", EXPORT, "PERMISSION_DENIED")]  # one per request


def test_reads_are_narrowed_to_the_callers_teams(world):
    world, processor = world
    client = "client-a"
    runs = world.as_(client, "ListRuns", pb.ListRunsRequest(include_totals=True))
    assert runs.runs and {r.scope.team for r in runs.runs} == {"team-a"}
    assert [g.name for g in runs.totals.by_team] == ["team-a"]
    rows = world.as_(client, "GetTeamAttribution", pb.TeamAttributionRequest()).rows
    assert rows and {r.team for r in rows} == {"team-a"}
    approvals = world.as_(client, "ListApprovals", pb.ListApprovalsRequest()).approvals
    assert approvals and {a.scope.team for a in approvals} == {"team-a"}
    budgets = world.as_(client, "GetBudgetStatus", pb.GetBudgetStatusRequest()).budgets
    assert [b.name for b in budgets] == ["a-daily"]
    # a scope-less read by a principal of one team reads that team
    usage = world.as_(client, "GetCostSummary", pb.CostSummaryRequest())
    assert usage.runs == 1
    # an auditor reads every team
    everything = world.as_("auditor", "ListRuns", pb.ListRunsRequest()).runs
    assert {r.scope.team for r in everything} == {"team-a", "team-b"}


def test_an_approver_decides_only_its_teams_and_is_the_recorded_actor(world):
    world, processor = world
    with pytest.raises(grpc.RpcError) as refused:
        world.as_(
            "approver-a",
            "DecideApproval",
            pb.DecideApprovalRequest(approval_id=world.approvals["team-b"], approve=True),
        )
    assert refused.value.code() is DENIED
    assert refused.value.details() == (
        "principal 'approver-a' (approver of team-a) may not act for team 'team-b'"
    )
    decided = world.as_(
        "approver-a",
        "DecideApproval",
        pb.DecideApprovalRequest(
            approval_id=world.approvals["team-a"], approve=True, actor="alice-admin"
        ),
    )
    assert decided.status == "approved" and decided.actor == "approver-a"
    assert processor.stop() == 0
    with storage.Storage(processor.db, read_only=True) as db:
        events = db.call(lambda conn: audit_events(conn, "approval.approved"))
    assert [(e["actor"], e["detail"].get("reported_actor")) for e in events] == [
        ("approver-a", "alice-admin")
    ]


def test_a_client_may_not_touch_another_clients_hold_of_its_own_team(tmp_path):
    cred = tmp_path / "credentials.yaml"
    one = credentials.create(cred, "one", "client", ["team-a"])
    two = credentials.create(cred, "two", "client", ["team-a"])
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    processor = start_processor(tmp_path, "--credentials", str(cred), "--policy", str(policy))
    try:
        world = World(processor.endpoint, {"one": one, "two": two}, {}, {})
        hold = world.hold_of("one", "team-a")
        for name, request in (
            ("RenewHold", pb.RenewHoldRequest(hold_id=hold)),
            ("ReleaseHold", pb.ReleaseHoldRequest(hold_id=hold)),
            (
                "CheckRun",
                pb.CheckRunRequest(
                    scope=pb.Scope(team="team-a"), hold_id=hold, usage=pb.RunSnapshot(gpu_type="T4")
                ),
            ),
            (
                "CheckBudget",
                pb.CheckBudgetRequest(
                    scope=pb.Scope(team="team-a"), requested_micros=1, parent_hold_id=hold
                ),
            ),
        ):
            assert world.code(name, request, two) is DENIED, name
        assert world.as_("one", "RenewHold", pb.RenewHoldRequest(hold_id=hold)).open
        assert world.as_("one", "ReleaseHold", pb.ReleaseHoldRequest(hold_id=hold)).released
        events = refusals(processor)
    finally:
        processor.stop()
    assert len(events) == 4 and {e[0] for e in events} == {"two"}


def test_the_audit_actor_is_the_principal_not_the_request_field(world):
    world, processor = world
    budget = {"name": "a-daily", "scope": {"team": "team-a"}, "daily_limit": "5"}
    world.as_(
        "admin",
        "SetBudget",
        pb.SetBudgetRequest(budget_json=json.dumps(budget), actor="alice-admin", reason="r"),
    )
    assert processor.stop() == 0
    with storage.Storage(processor.db, read_only=True) as db:
        events = db.call(lambda conn: audit_events(conn, "policy.changed"))
    changed = [(e["actor"], e["detail"].get("reported_actor")) for e in events]
    assert changed[-1] == ("admin", "alice-admin"), changed


def artifact_span(run_key: str) -> trace_pb2.Span:
    """An artifact span as clients send it: its run by key, no team of its own."""
    now = time.time_ns()
    attributes = {
        attr.RUN_KEY: run_key,
        attr.ARTIFACT_NAME: "weights",
        attr.ARTIFACT_BYTES: 1_000,
        attr.ARTIFACT_FILES: 1,
    }
    return trace_pb2.Span(
        trace_id=os.urandom(16),
        span_id=os.urandom(8),
        name=attr.SPAN_ARTIFACT,
        start_time_unix_nano=now - 10**9,
        end_time_unix_nano=now,
        attributes=[KeyValue(key=k, value=_value(v)) for k, v in attributes.items()],
    )


def test_an_artifact_attached_to_another_teams_run_is_rejected(world):
    world, processor = world
    theirs = otlp_span(attr.SPAN_RUN, "team-b", genops__run__key="b-run")
    export(world.endpoint, world.tokens["client-b"], [theirs])
    # stored run of team-b; a new run of team-a in the same request as its artifact
    mine = otlp_span(attr.SPAN_RUN, "team-a", genops__run__key="a-run")
    answer = export(
        world.endpoint,
        world.tokens["client-a"],
        [mine, artifact_span("a-run"), artifact_span("b-run")],
    )
    assert answer.partial_success.rejected_spans == 1
    assert "may not act for team 'team-b'" in answer.partial_success.error_message
    assert processor.stop() == 0
    with storage.Storage(processor.db, read_only=True) as db:
        stored = db.call(lambda conn: conn.execute("SELECT run_key FROM artifacts").fetchall())
    assert stored == [("a-run",)]

"""Money cannot overflow or go negative, and the governance API refuses what it cannot
keep: a real ``genops-processor`` subprocess, raw OTLP and gRPC on 127.0.0.1, a DuckDB
file in tmp_path (poisoned with raw SQL where a test says so)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import time

import duckdb
import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

from genops import attributes as attr
from genops.governance.v1 import governance_pb2 as pb
from genops_processor import limits
from tests.helpers import BIN, ROUND_CATALOG, start_processor

HOUR_NS = 3_600 * 10**9
INT64_MAX = 2**63 - 1
TEAMS = ("alpha", "beta", "gamma")
POLICY = "budgets:\n" + "".join(
    f"  - {{name: {t}-guard, scope: {{team: {t}}}, limit: 100, period: total, mode: enforced}}\n"
    for t in TEAMS
)
CATALOG_ROW = {
    "sku": "T4",
    "category": "compute",
    "unit": "gpu-hour",
    "source": "test",
    "date": "2026-12-01",
    "region": "test",
}


@pytest.fixture
def guarded(start_processor_with, tmp_path):
    """A processor with an enforced $100 budget (all time) for each team."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    return start_processor_with("--policy", str(policy))


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One processor for the refusals below: none of them changes its ledger."""
    proc = start_processor(tmp_path_factory.mktemp("refusals"), "--catalog", str(ROUND_CATALOG))
    yield proc
    assert proc.stop() == 0, "".join(proc.log)


def stub_of(processor):
    return processor.stub()


def kv(key: str, v: object) -> KeyValue:
    if isinstance(v, int):
        return KeyValue(key=key, value=AnyValue(int_value=v))
    return KeyValue(key=key, value=AnyValue(string_value=str(v)))


def run_span(team: str, **usage: int) -> trace_pb2.Span:
    """A finished one-hour T4 run ending now, with ``usage`` attributes over it
    (``declared``: genops.usage.declared_storage_micros; ``start``/``as_of``: its times)."""
    end = time.time_ns()
    start = usage.pop("start", end - HOUR_NS)
    as_of = usage.pop("as_of", end)
    attributes = {
        attr.TEAM: team,
        attr.PROJECT: "money",
        attr.RUN_KEY: f"run-{os.urandom(4).hex()}:seg",
        attr.RUN_STATUS: "finished",
        attr.HW_GPU_TYPE: "T4",
        attr.HW_GPU_COUNT: 1,
        attr.HW_CPU_COUNT: 0,
        attr.RUN_COMPUTE_START_NS: start,
        attr.USAGE_AS_OF_NS: as_of,
    }
    if "declared" in usage:
        attributes[attr.USAGE_DECLARED_STORAGE_MICROS] = usage.pop("declared")
    return trace_pb2.Span(
        trace_id=os.urandom(16),
        span_id=os.urandom(8),
        name=attr.SPAN_RUN,
        start_time_unix_nano=max(0, min(start, INT64_MAX)),
        end_time_unix_nano=max(0, min(as_of, INT64_MAX)),
        attributes=[kv(k, v) for k, v in attributes.items()],
    )


def send(processor, spans) -> None:
    request = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=spans)])]
    )
    with processor.channel() as channel:
        try:
            trace_service_pb2_grpc.TraceServiceStub(channel).Export(request, timeout=30)
        except grpc.RpcError as error:  # a refused batch is fine; a stalled ledger is not
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error


def every_answer(processor) -> dict:
    """Every budget check and read a client or an operator makes; each must answer."""
    stub = stub_of(processor)
    status = stub.GetBudgetStatus(pb.GetBudgetStatusRequest(), timeout=10).budgets
    usage = {
        team: stub.GetUsage(pb.GetUsageRequest(scope=pb.Scope(team=team)), timeout=10)
        for team in TEAMS
    }
    runs = stub.ListRuns(pb.ListRunsRequest(), timeout=10).runs
    summary = stub.GetCostSummary(pb.CostSummaryRequest(period_days=30), timeout=10)
    teams = stub.GetTeamAttribution(pb.TeamAttributionRequest(period_days=30), timeout=10)
    versions = stub.ListCatalogVersions(pb.ListCatalogVersionsRequest(), timeout=10)
    checks = {  # last: an allowed check reserves its $1
        team: stub.CheckBudget(
            pb.CheckBudgetRequest(scope=pb.Scope(team=team), requested_micros=1_000_000),
            timeout=10,
        )
        for team in TEAMS
    }
    for run in runs:
        assert 0 <= run.cost_micros <= limits.MAX_RUN_MICROS, run
    for state in status:
        assert 0 <= state.spent_micros <= INT64_MAX
    return {
        "checks": checks,
        "status": {s.name: s for s in status},
        "usage": usage,
        "runs": runs,
        "summary": summary,
        "teams": teams,
        "versions": versions,
    }


def genops(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "genops"), *args], capture_output=True, text=True, timeout=60)


def report_from_db(db) -> list[dict]:
    result = genops("report", "--db", str(db), "--json")
    assert result.returncode == 0, result.stderr
    table = genops("report", "--db", str(db))
    assert table.returncode == 0, table.stderr
    return json.loads(result.stdout)


# -- hostile usage over OTLP -------------------------------------------------------------------


def test_two_runs_declaring_5e18_break_no_budget_and_no_report(guarded):
    send(guarded, [run_span("alpha", declared=5 * 10**18), run_span("alpha", declared=5 * 10**18)])
    send(guarded, [run_span("beta")])  # a normal hour of T4: $36
    answers = every_answer(guarded)
    assert answers["status"]["beta-guard"].spent_micros == 36_000_000
    assert answers["status"]["alpha-guard"].spent_micros <= 2 * 36_000_000
    assert answers["checks"]["gamma"].decision == pb.DECISION_ALLOW
    db = guarded.db
    assert guarded.stop() == 0, "".join(guarded.log)
    rows = report_from_db(db)
    assert {r["team"] for r in rows} >= {"beta"}
    assert all(0 <= r["cost_micros"] <= limits.MAX_RUN_MICROS for r in rows)


def test_int64_extreme_times_break_no_budget_and_no_report(guarded):
    send(guarded, [run_span("alpha", start=-(2**63 - 1), as_of=INT64_MAX)])
    send(guarded, [run_span("alpha", start=0)])  # 56 years of T4, if it were let in
    answers = every_answer(guarded)
    assert all(s.spent_micros <= limits.MAX_RUN_MICROS * 2 for s in answers["status"].values())
    db = guarded.db
    assert guarded.stop() == 0, "".join(guarded.log)
    report_from_db(db)


def test_negative_money_never_reduces_spend(guarded):
    """$1,000,000 spent by alpha, then a run declaring -$1,000,000: the enforced $100
    budget keeps denying."""
    send(guarded, [run_span("alpha", declared=10**12)])
    send(guarded, [run_span("alpha", declared=-(10**12))])
    answers = every_answer(guarded)
    assert answers["status"]["alpha-guard"].spent_micros >= 10**12
    assert answers["checks"]["alpha"].decision == pb.DECISION_DENY
    assert answers["usage"]["alpha"].spent_today_micros >= 10**12


# -- a ledger poisoned by hand -----------------------------------------------------------------


def poison(db) -> None:
    """Rows an older processor let in (written here with raw SQL)."""
    now = time.time_ns()
    conn = duckdb.connect(str(db))
    rows = [
        ("near-max", "alpha", INT64_MAX - 1, now - HOUR_NS, now, 0),
        ("negative", "alpha", -(10**13), now - HOUR_NS, now, -(10**13)),
        ("times", "beta", 0, -(2**63 - 1), INT64_MAX, 0),
        ("declared-1", "gamma", 5 * 10**18, now - HOUR_NS, now, 5 * 10**18),
        ("declared-2", "gamma", 5 * 10**18, now - HOUR_NS, now, 5 * 10**18),
        ("sane", "beta", 36_000_000, now - HOUR_NS, now, 0),
    ]
    for key, team, cost, start, as_of, declared in rows:
        conn.execute(
            "INSERT INTO runs (run_key, run_id, team, project, status, final, gpu_type, "
            "gpu_count, cpu_count, compute_start_ns, as_of_ns, log_calls, artifact_bytes, "
            "artifact_files, artifact_count, sequence, catalog_version, cost_micros, "
            "declared_storage_micros, compute_micros, storage_micros, data_transfer_micros, "
            "tracking_micros, unpriced_lines) VALUES (?, ?, ?, 'p', 'finished', TRUE, 'T4', 1, "
            "0, ?, ?, 0, 0, 0, 0, 1, 'test-round-1', ?, ?, ?, ?, 0, 0, 0)",
            [key, key, team, start, as_of, cost, declared, cost - declared, declared],
        )
    conn.close()


def test_a_poisoned_ledger_reports_read_only_before_any_processor_opens_it(tmp_path):
    processor = start_processor(tmp_path)  # makes the schema
    db = processor.db
    assert processor.stop() == 0
    poison(db)
    rows = report_from_db(db)
    assert [r["run_key"] for r in rows] == ["sane"]


def test_a_poisoned_ledger_opens_quarantines_and_answers_everything(start_processor_with, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    first = start_processor_with("--policy", str(policy))
    db = first.db
    assert first.stop() == 0
    poison(db)
    processor = start_processor_with("--policy", str(policy))
    answers = every_answer(processor)
    assert [r.run_key for r in answers["runs"]] == ["sane"]
    assert {n: s.spent_micros for n, s in answers["status"].items()} == {
        "alpha-guard": 0,
        "beta-guard": 36_000_000,
        "gamma-guard": 0,
    }
    assert answers["checks"]["alpha"].decision == pb.DECISION_ALLOW
    assert answers["summary"].total_micros == 36_000_000
    assert processor.stop() == 0, "".join(processor.log)
    conn = duckdb.connect(str(db), read_only=True)
    reasons = dict(
        conn.execute("SELECT row_key, reason FROM quarantine WHERE source = 'runs'").fetchall()
    )
    conn.close()
    assert set(reasons) == {"near-max", "negative", "times", "declared-1", "declared-2"}
    assert "outside 0.." in reasons["near-max"] and "negative" in reasons["times"]
    assert [r["run_key"] for r in report_from_db(db)] == ["sane"]


# -- the governance API refuses absurd money ---------------------------------------------------


def budget_json(limit) -> str:
    return json.dumps({"name": "absurd", "scope": {"team": "alpha"}, "limit": limit})


@pytest.mark.parametrize(
    "limit", ["1e30", 1e30, "-1", -5, "NaN", math.nan, math.inf, "1e999999999", "1000000000.01"]
)
def test_an_absurd_budget_limit_is_refused_naming_the_field(shared, limit):
    stub = stub_of(shared)
    with pytest.raises(grpc.RpcError) as refused:
        stub.SetBudget(pb.SetBudgetRequest(budget_json=budget_json(limit), actor="t"), timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "limit" in refused.value.details()
    assert stub.GetPolicy(pb.GetPolicyRequest(), timeout=10).version == 0


def test_the_largest_budget_limit_is_kept(processor):
    stub = stub_of(processor)
    stub.SetBudget(pb.SetBudgetRequest(budget_json=budget_json("1000000000")), timeout=10)
    (state,) = stub.GetBudgetStatus(pb.GetBudgetStatusRequest(), timeout=10).budgets
    assert state.limit_micros == limits.MAX_BUDGET_LIMIT_MICROS


def catalog_json(price) -> str:
    return json.dumps(
        {"version": "absurd-1", "rows": [{**CATALOG_ROW, "unit_price": price}]},
        allow_nan=True,
    )


@pytest.mark.parametrize("price", ["1e30", 1e30, "-1", "NaN", math.nan, "1000000.5"])
def test_an_absurd_unit_price_is_refused_naming_the_field(shared, price):
    stub = stub_of(shared)
    with pytest.raises(grpc.RpcError) as refused:
        stub.RegisterCatalog(
            pb.RegisterCatalogRequest(catalog_json=catalog_json(price)), timeout=10
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unit_price" in refused.value.details()
    with pytest.raises(grpc.RpcError) as again:
        next(iter(stub.Reprice(pb.RepriceRequest(catalog_json=catalog_json(price)), timeout=10)))
    assert again.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unit_price" in again.value.details()


def test_a_plain_catalog_registers(processor):
    stub = stub_of(processor)
    answer = stub.RegisterCatalog(
        pb.RegisterCatalogRequest(catalog_json=catalog_json("36.5")), timeout=10
    )
    assert answer.created and answer.version == "absurd-1"


LONG = "x" * (limits.MAX_API_STRING_CHARS + 1)
LONG_ID = "h" * (limits.MAX_API_ID_CHARS + 1)

# (RPC, request, the field path the refusal must name)
OUT_OF_RANGE = [
    ("CheckBudget", pb.CheckBudgetRequest(requested_micros=-1), "requested_micros"),
    (
        "CheckBudget",
        pb.CheckBudgetRequest(requested_micros=limits.MAX_REQUEST_MICROS + 1),
        "requested_micros",
    ),
    (
        "CheckBudget",
        pb.CheckBudgetRequest(client_limits=pb.ClientLimits(daily_limit_micros=-5)),
        "client_limits.daily_limit_micros",
    ),
    (
        "CheckBudget",
        pb.CheckBudgetRequest(estimate=pb.RunEstimate(gpu_count=2**31 - 1, horizon_ns=1)),
        "estimate.gpu_count",
    ),
    (
        "CheckBudget",
        pb.CheckBudgetRequest(estimate=pb.RunEstimate(gpu_count=1, horizon_ns=INT64_MAX)),
        "estimate.horizon_ns",
    ),
    ("CheckBudget", pb.CheckBudgetRequest(scope=pb.Scope(team=LONG)), "scope.team"),
    ("CheckBudget", pb.CheckBudgetRequest(parent_hold_id=LONG_ID), "parent_hold_id"),
    (
        "CheckRun",
        pb.CheckRunRequest(usage=pb.RunSnapshot(declared_micros=-(10**12))),
        "usage.declared_micros",
    ),
    (
        "CheckRun",
        pb.CheckRunRequest(usage=pb.RunSnapshot(compute_start_ns=-(2**63 - 1))),
        "usage.compute_start_ns",
    ),
    ("CheckRun", pb.CheckRunRequest(next_check_ns=-1), "next_check_ns"),
    ("CheckRun", pb.CheckRunRequest(hold_id=LONG_ID), "hold_id"),
    (
        "GetBudgetStatus",
        pb.GetBudgetStatusRequest(scope=pb.Scope(project=LONG)),
        "scope.project",
    ),
    (
        "GetUsage",
        pb.GetUsageRequest(client_limits=pb.ClientLimits(daily_limit_micros=2**62)),
        "client_limits.daily_limit_micros",
    ),
    (
        "GetUsage",
        pb.GetUsageRequest(client_limits=pb.ClientLimits(policy_mode=77)),
        "client_limits.policy_mode",
    ),
    ("SetBudget", pb.SetBudgetRequest(budget_json="{}", actor=LONG), "actor"),
    ("RegisterCatalog", pb.RegisterCatalogRequest(catalog_json="{}", origin=LONG), "origin"),
    ("DecideApproval", pb.DecideApprovalRequest(approval_id=LONG_ID), "approval_id"),
    ("DecideApproval", pb.DecideApprovalRequest(approval_id="a", reason=LONG), "reason"),
    ("ReleaseHold", pb.ReleaseHoldRequest(hold_id=LONG_ID), "hold_id"),
    ("RenewHold", pb.RenewHoldRequest(hold_id=LONG_ID), "hold_id"),
    (
        "ReportOfflineDecisions",
        pb.ReportOfflineDecisionsRequest(
            decisions=[
                pb.OfflineDecision(decision="allow", decided_at="2026-12-01T00:00:00"),
                pb.OfflineDecision(decision="allow", reason=LONG),
            ]
        ),
        "decisions[1].reason",
    ),
    ("GetExperiment", pb.GetExperimentRequest(experiment_id=LONG), "experiment_id"),
    ("GetCostSummary", pb.CostSummaryRequest(period_days=10**6), "period_days"),
    (
        "GetCostSummary",
        pb.CostSummaryRequest(include_forecast=True, forecast_confidence=math.nan),
        "forecast_confidence",
    ),
    ("GetTeamAttribution", pb.TeamAttributionRequest(period_days=-1), "period_days"),
    ("GetAnomalies", pb.AnomaliesRequest(sensitivity=math.inf), "sensitivity"),
    ("GetRecommendations", pb.RecommendationsRequest(lookback_days=-3), "lookback_days"),
]


@pytest.mark.parametrize(
    ("rpc", "request_message", "field"),
    OUT_OF_RANGE,
    ids=[f"{rpc}-{field}" for rpc, _, field in OUT_OF_RANGE],
)
def test_out_of_range_fields_are_refused_naming_the_field(shared, rpc, request_message, field):
    with pytest.raises(grpc.RpcError) as refused:
        getattr(stub_of(shared), rpc)(request_message, timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details().startswith(f"{field}:"), refused.value.details()


def test_a_streamed_rpc_is_checked_too(shared):
    with pytest.raises(grpc.RpcError) as refused:
        next(iter(stub_of(shared).Reprice(pb.RepriceRequest(actor=LONG), timeout=10)))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details().startswith("actor:")


def test_requests_at_the_bounds_are_answered(processor):
    stub = stub_of(processor)
    answer = stub.CheckBudget(
        pb.CheckBudgetRequest(
            scope=pb.Scope(team="t" * limits.MAX_API_STRING_CHARS),
            requested_micros=limits.MAX_REQUEST_MICROS,
            request_id="r" * limits.MAX_API_ID_CHARS,
        ),
        timeout=10,
    )
    assert answer.decision == pb.DECISION_ALLOW
    assert answer.requested_micros == limits.MAX_REQUEST_MICROS
    verdict = stub.CheckRun(
        pb.CheckRunRequest(
            scope=pb.Scope(team="t"),
            usage=pb.RunSnapshot(
                gpu_type="T4",
                gpu_count=limits.MAX_API_DEVICES,
                compute_start_ns=0,
                as_of_ns=limits.MAX_API_TIME_NS,
            ),
            next_check_ns=limits.MAX_API_DURATION_NS,
        ),
        timeout=10,
    )
    assert 0 <= verdict.accrued_micros <= limits.MAX_RUN_MICROS


def test_a_1e30_limit_and_price_stored_by_an_older_processor_do_not_stop_the_ledger(tmp_path):
    """main let SetBudget store "1e30" and RegisterCatalog a $1e30 price: the ledger opens,
    the limit reads as the maximum, the catalog is quarantined and may be registered again."""
    first = start_processor(tmp_path)
    db = first.db
    assert first.stop() == 0
    huge = {"name": "huge", "scope": {"team": "alpha"}, "limit": "1e30", "mode": "enforced"}
    conn = duckdb.connect(str(db))
    conn.execute(
        "INSERT INTO policy_versions VALUES (1, ?, now(), 'old', 'x')",
        [json.dumps({"budgets": [huge]})],
    )
    conn.execute(
        "INSERT INTO catalogs VALUES ('absurd-1', ?, now(), 'old')",
        [catalog_json("1e30")],
    )
    conn.close()
    processor = start_processor(tmp_path)
    try:
        stub = stub_of(processor)
        (state,) = stub.GetBudgetStatus(pb.GetBudgetStatusRequest(), timeout=10).budgets
        assert state.limit_micros == limits.MAX_BUDGET_LIMIT_MICROS
        check = pb.CheckBudgetRequest(scope=pb.Scope(team="alpha"), requested_micros=1_000_000)
        assert stub.CheckBudget(check, timeout=10).decision == pb.DECISION_ALLOW
        stub.SetBudget(pb.SetBudgetRequest(budget_json=budget_json("5")), timeout=10)
        again = stub.RegisterCatalog(
            pb.RegisterCatalogRequest(catalog_json=catalog_json("36")), timeout=10
        )
        assert again.created
    finally:
        assert processor.stop() == 0, "".join(processor.log)
    conn = duckdb.connect(str(db), read_only=True)
    (reason,) = conn.execute(
        "SELECT reason FROM quarantine WHERE source = 'catalogs' AND row_key = 'absurd-1'"
    ).fetchone()
    conn.close()
    assert "unit_price" in reason and "maximum" in reason


def test_an_estimate_too_large_to_price_is_decided_as_the_maximum_not_as_free(guarded):
    stub = stub_of(guarded)
    estimate = pb.RunEstimate(
        gpu_type="T4", gpu_count=limits.MAX_API_DEVICES, horizon_ns=limits.MAX_API_DURATION_NS
    )
    answer = stub.CheckBudget(
        pb.CheckBudgetRequest(scope=pb.Scope(team="alpha"), estimate=estimate), timeout=10
    )
    assert answer.requested_micros == limits.MAX_RUN_MICROS
    assert answer.decision == pb.DECISION_DENY
    small = stub.CheckBudget(
        pb.CheckBudgetRequest(
            scope=pb.Scope(team="alpha"),
            estimate=pb.RunEstimate(gpu_type="T4", gpu_count=1, horizon_ns=3_600 * 10**9),
        ),
        timeout=10,
    )
    assert (small.requested_micros, small.decision) == (36_000_000, pb.DECISION_ALLOW)

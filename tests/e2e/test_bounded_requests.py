"""Bounded work per request: a large offline-decision report or a huge forecast horizon
never stalls budget checks or ingest, and past its documented cap a request is refused
with INVALID_ARGUMENT naming the field. Real processor, real gRPC on 127.0.0.1."""

from __future__ import annotations

import concurrent.futures
import datetime as dt

import grpc
import pytest

from genops.governance.v1 import governance_pb2 as pb
from genops_processor import limits
from tests.e2e.test_analytics import MIDDAY_ZONE, run_span, send


def offline_report(count: int) -> pb.ReportOfflineDecisionsRequest:
    at = dt.datetime.now(dt.timezone.utc).isoformat()
    return pb.ReportOfflineDecisionsRequest(
        decisions=[
            pb.OfflineDecision(
                decided_at=at,
                scope=pb.Scope(team=f"team-{i % 7}", project="p"),
                decision="allow" if i % 2 else "deny",
                fail_mode="open" if i % 2 else "closed",
                reason="processor unreachable",
                wandb_run_name=f"run-{i}",
            )
            for i in range(count)
        ]
    )


@pytest.fixture
def enforced(start_processor_with, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "budgets:\n  - {name: guard, scope: {team: vision}, daily_limit: 100, mode: enforced, "
        f"timezone: {MIDDAY_ZONE}}}\n"
    )
    return start_processor_with("--policy", str(policy))


def check(stub) -> int:
    response = stub.CheckBudget(
        pb.CheckBudgetRequest(scope=pb.Scope(team="vision"), requested_micros=1_000_000),
        timeout=2,  # the client's deadline: past it, a client fails open
    )
    return response.decision


def test_budget_checks_and_ingest_go_on_while_10k_offline_decisions_are_recorded(enforced):
    stub = enforced.stub("trainer")
    report = offline_report(limits.MAX_OFFLINE_DECISIONS)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        reported = pool.submit(stub.ReportOfflineDecisions, report, timeout=300)
        decisions, during, ingested = [], 0, False
        while not reported.done() or not decisions:
            decisions.append(check(stub))  # raises DEADLINE_EXCEEDED past 2 s
            during += not reported.done()
            if not ingested:
                send(enforced, [run_span(days_ago=0.01, hours=0.1)])
                ingested = not reported.done()
        assert reported.result().recorded == limits.MAX_OFFLINE_DECISIONS
    assert during >= 1 and ingested  # checked and ingested while the report was in flight
    assert set(decisions) == {pb.DECISION_ALLOW}
    assert len(enforced.runs()) == 1


def test_a_small_offline_report_is_recorded(enforced):
    stub = enforced.stub("trainer")
    assert stub.ReportOfflineDecisions(offline_report(3), timeout=30).recorded == 3


def test_an_offline_report_past_the_cap_is_refused_naming_the_field(enforced):
    stub = enforced.stub("trainer")
    with pytest.raises(grpc.RpcError) as refused:
        stub.ReportOfflineDecisions(offline_report(limits.MAX_OFFLINE_DECISIONS + 1), timeout=60)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "decisions" in refused.value.details()
    assert str(limits.MAX_OFFLINE_DECISIONS) in refused.value.details()


def forecast(processor, **fields) -> pb.ForecastSummary:
    stub = processor.stub()
    request = pb.ForecastRequest(scope=pb.Scope(team="vision"), **fields)
    return stub.GetForecast(request, timeout=30).forecast


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("horizon_days", 2_000_000),
        ("horizon_days", limits.MAX_FORECAST_HORIZON_DAYS + 1),
        ("horizon_days", -1),
        ("history_days", 2_000_000_000),
        ("history_days", -5),
    ],
)
def test_a_forecast_past_its_caps_is_refused_naming_the_field(processor, field, value):
    with pytest.raises(grpc.RpcError) as refused:
        forecast(processor, **{field: value})
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in refused.value.details()


def test_a_forecast_at_the_cap_answers(processor):
    send(processor, [run_span(days_ago=d + 0.5, hours=1) for d in range(20)])
    predicted = forecast(
        processor,
        horizon_days=limits.MAX_FORECAST_HORIZON_DAYS,
        history_days=limits.MAX_FORECAST_HISTORY_DAYS,
    )
    assert predicted.horizon_days == limits.MAX_FORECAST_HORIZON_DAYS
    assert predicted.history_days == 20 and predicted.point_micros > 0

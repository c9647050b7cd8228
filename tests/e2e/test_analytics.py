"""Cost analytics read through a real processor, over a constructed history.

The history is sent as OTLP run spans (what the instrumentation would have sent
over 30 days), so every figure below has a known right answer.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

from genops import attributes as attr
from genops.governance_client import GovernanceClient
from genops.providers.wandb_cost_aggregator import WandbCostAggregator

HOUR_NS = 3_600 * 10**9
NOW = dt.datetime.now(dt.timezone.utc)


def midday_zone(now: dt.datetime) -> str:
    """A fixed-offset zone in which ``now`` falls between noon and one: a daily budget
    kept there holds the runs the alert tests place in the last hour at any UTC time of
    day (kept in UTC, a run ending 14 minutes ago started yesterday during the first hour
    after midnight, and only part of its cost counted today)."""
    offset = 12 - now.hour  # -11 .. 12 hours east of UTC
    return f"Etc/GMT{-offset:+d}" if offset else "UTC"  # Etc/GMT-5 is UTC+5


MIDDAY_ZONE = midday_zone(NOW)


def kv(key, value) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def run_span(
    days_ago: float,
    hours: float,
    team="vision",
    status="finished",
    gpu="T4",
    gpus=1,
    config="",
    capacity="on-demand",
) -> trace_pb2.Span:
    end = NOW - dt.timedelta(days=days_ago)
    end_ns = int(end.timestamp() * 1e9)
    start_ns = end_ns - int(hours * HOUR_NS)
    attributes = {
        attr.TEAM: team,
        attr.PROJECT: "analytics",
        attr.RUN_STATUS: status,
        attr.WANDB_RUN_ID: os.urandom(4).hex(),
        attr.HW_GPU_TYPE: gpu,
        attr.HW_GPU_COUNT: gpus,
        attr.HW_CPU_COUNT: 0,
        attr.RUN_COMPUTE_START_NS: start_ns,
        attr.USAGE_AS_OF_NS: end_ns,
        attr.CONFIG_HASH: config,
        attr.CAPACITY_TYPE: capacity,
    }
    return trace_pb2.Span(
        trace_id=os.urandom(16),
        span_id=os.urandom(8),
        name=attr.SPAN_RUN,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=end_ns,
        attributes=[kv(k, v) for k, v in attributes.items()],
    )


def send(processor, spans) -> None:
    request = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=spans)])]
    )
    with processor.channel() as channel:
        trace_service_pb2_grpc.TraceServiceStub(channel).Export(request, timeout=30)


@pytest.fixture
def history(processor):
    """30 days of one 1-hour T4 run a day (at $36/h in the round catalog), plus:
    an outlier run of 20 hours, a failed 3-minute run, and a config run twice."""
    spans = [run_span(days_ago=d + 0.5, hours=1) for d in range(30)]
    spans.append(run_span(days_ago=2.5, hours=20))  # the anomaly
    spans.append(run_span(days_ago=1.5, hours=0.05, status="failed"))  # failed early
    spans += [
        run_span(days_ago=3.5, hours=1, config="cfg-a"),
        run_span(days_ago=1.2, hours=1, config="cfg-a"),
    ]  # a repeat
    spans.append(run_span(days_ago=1.0, hours=2, team="nlp"))
    send(processor, spans)
    return processor


def aggregator(processor, team="vision") -> WandbCostAggregator:
    return WandbCostAggregator(team=team, client=GovernanceClient(processor.endpoint))


def test_summary_totals_match_the_ledger(history):
    summary = aggregator(history).get_comprehensive_cost_summary(
        time_period_days=7, include_forecasting=True
    )
    runs = [
        r
        for r in history.runs()
        if r.scope.team == "vision" and r.ended_at >= (NOW - dt.timedelta(days=7)).isoformat()
    ]
    assert summary.total_cost == sum(r.cost_micros for r in runs) / 1e6
    assert summary.total_cost == summary.compute_cost  # no storage or transfer here
    assert len(summary.cost_by_run) == len(runs)
    assert summary.cost_by_experiment_type == {"untracked": summary.total_cost}
    low, high = summary.forecast_interval
    assert low <= summary.forecasted_cost <= high and summary.forecasted_cost > 0


def test_attribution_splits_teams(history):
    teams = aggregator(history).calculate_team_attribution(time_period_days=40)
    assert teams["nlp"]["total_cost"] == 72.0  # 2 h x $36
    assert teams["nlp"]["projects"] == {"analytics": 72.0}
    assert teams["vision"]["total_cost"] > 30 * 36.0


def test_forecast_of_a_steady_daily_run(history):
    forecast = aggregator(history, team="vision").forecast_monthly_costs(confidence_interval=0.8)
    assert forecast["lower_bound"] <= forecast["forecasted_cost"] <= forecast["upper_bound"]
    assert forecast["history_days"] >= 28
    assert forecast["method"] == "trend+weekly"


def test_recommendations_find_the_repeat_and_the_early_failure(history):
    items = aggregator(history).generate_cost_optimization_recommendations(
        lookback_days=40, target_savings_percentage=20.0
    )
    by_category = {item["category"]: item for item in items}
    assert by_category["duplicate_configs"]["estimated_savings"] == 36.0  # the 1 h repeat
    assert by_category["failed_early"]["estimated_savings"] == 1.8  # 3 min at $36/h
    assert all(0 < item["confidence"] <= 100 for item in items)


def test_anomalies_flag_the_twenty_hour_run(history, monkeypatch, tmp_path):
    from genops.analytics import MLAnalytics
    from genops.providers.wandb import GenOpsWandbAdapter

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GENOPS_ENDPOINT", history.endpoint)
    adapter = GenOpsWandbAdapter(team="vision", project="analytics")  # does not instrument
    found = MLAnalytics(adapter).detect_cost_anomalies(sensitivity=0.95, lookback_days=40)
    assert [round(a["cost"], 2) for a in found] == [720.0]
    assert found[0]["expected_cost"] == 36.0
    adapter.cleanup()


def test_the_midday_zone_puts_every_hour_of_the_day_at_noon():
    from zoneinfo import ZoneInfo

    for hour in range(24):
        now = dt.datetime(2026, 12, 5, hour, 36, tzinfo=dt.timezone.utc)
        assert now.astimezone(ZoneInfo(midday_zone(now))).hour == 12, hour

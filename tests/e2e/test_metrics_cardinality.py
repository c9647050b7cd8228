"""Prometheus label values from clients are capped: made-up team names cannot grow the
scrape without bound, and every dollar and run is still counted (under ``other``)."""

from __future__ import annotations

import os
import re
import time
import urllib.request

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

from genops import attributes as attr
from genops.governance.v1 import governance_pb2 as pb
from genops_processor.limits import METRICS_MAX_SERIES, METRICS_MAX_TEAMS
from tests import helpers

SECOND = 10**9
POLICY = """
budgets:
  - name: late-team-daily
    scope: {team: zz-late-team}
    daily_limit: "1000000"
    mode: advisory
"""


def _kv(key: str, value) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def finished_run(team: str, project: str, now_ns: int) -> trace_pb2.Span:
    """A 6-minute finished T4 run (priced by the round catalog)."""
    start, end = now_ns - 420 * SECOND, now_ns - 60 * SECOND
    return trace_pb2.Span(
        trace_id=os.urandom(16),
        span_id=os.urandom(8),
        name=attr.SPAN_RUN,
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        attributes=[
            _kv(attr.TEAM, team),
            _kv(attr.PROJECT, project),
            _kv(attr.WANDB_RUN_ID, os.urandom(6).hex()),
            _kv(attr.RUN_STATUS, "finished"),
            _kv(attr.RUN_COMPUTE_START_NS, start),
            _kv(attr.USAGE_AS_OF_NS, end),
            _kv(attr.HW_GPU_TYPE, "T4"),
            _kv(attr.HW_GPU_COUNT, 1),
        ],
    )


def send(endpoint: str, spans: list[trace_pb2.Span]) -> None:
    request = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=spans)])]
    )
    with helpers.channel(endpoint) as channel:
        response = trace_service_pb2_grpc.TraceServiceStub(channel).Export(request, timeout=120)
    assert not response.partial_success.rejected_spans, response.partial_success


def scrape(processor) -> tuple[str, dict[str, float]]:
    text = urllib.request.urlopen(processor.metrics_url, timeout=30).read().decode()
    return text, processor.metrics()


def series(samples: dict[str, float], name: str) -> dict[str, float]:
    return {k: v for k, v in samples.items() if k.startswith(name + "{")}


def labels(key: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="([^"]*)"', key))


def scopes(samples: dict[str, float]) -> set[tuple[str, str]]:
    return {(labels(k)["team"], labels(k)["project"]) for k in samples}


def test_twenty_thousand_made_up_teams_keep_the_scrape_small_and_the_totals(
    start_processor_with, tmp_path
):
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    processor = start_processor_with("--policy", str(policy))
    now = time.time_ns()
    teams = [f"made-up-{i:05d}" for i in range(20_000)]
    for first in range(0, len(teams), 2_500):
        send(
            processor.endpoint,
            [finished_run(t, f"p-{t}", now) for t in teams[first : first + 2_500]],
        )
    # A budget's team arrives after every cap is full: it keeps its own series.
    send(processor.endpoint, [finished_run("zz-late-team", "late-project", now)])

    text, samples = scrape(processor)
    cost = series(samples, "genops_cost_usd")
    finished = series(samples, "genops_runs")
    # Count series, not time: bounded by the caps, whatever the number of teams.
    assert len(scopes(cost)) <= METRICS_MAX_SERIES + 2
    assert len(scopes(finished)) <= METRICS_MAX_SERIES + 2
    assert len(text) < 1_000_000, f"scrape of {len(text)} bytes"
    assert ("other", "other") in scopes(cost)
    assert ("zz-late-team", "other") in scopes(cost)  # a budget's team keeps its own
    assert len({t for t, _ in scopes(cost) if t.startswith("made-up-")}) == METRICS_MAX_TEAMS

    # Every run and every dollar is counted once, across all the label values.
    totals = (
        processor.stub()
        .ListRuns(pb.ListRunsRequest(page_size=1, include_totals=True), timeout=30)
        .totals
    )
    assert totals.runs == 20_001
    assert sum(finished.values()) == 20_001
    assert abs(sum(cost.values()) - totals.cost_micros / 1e6) < 1e-6 * totals.cost_micros / 1e6


def test_a_few_teams_each_keep_their_own_series(processor):
    now = time.time_ns()
    send(processor.endpoint, [finished_run(f"team-{i}", "shared", now) for i in range(5)])
    _, samples = scrape(processor)
    cost = series(samples, "genops_cost_usd")
    assert {team for team, _ in scopes(cost)} == {f"team-{i}" for i in range(5)}
    assert not any('"other"' in k for k in cost)

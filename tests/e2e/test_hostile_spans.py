"""Hostile spans at the ingest boundary: they are refused as OTLP partial success, the
rest of their batch is stored, and neither money nor any query is corrupted. A real
``genops-processor`` subprocess, raw OTLP over gRPC on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

from genops import attributes as attr
from genops.governance.v1 import governance_pb2 as pb
from genops_processor import storage
from tests.helpers import BIN

HOUR_NS = 3_600 * 10**9
INT64_MAX = 2**63 - 1
YEAR_2500_NS = 16_725_225_600 * 10**9

POLICY = "budgets:\n  - {name: guard, scope: {team: vision}, daily_limit: 100, mode: enforced}\n"


def value(v: object) -> AnyValue:
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    return AnyValue(string_value=str(v))


def span(
    name: str = attr.SPAN_HEARTBEAT,
    *,
    team: str = "vision",
    run_key: str | None = None,
    trace_id: bytes | None = None,
    span_id: bytes | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
    **extra: object,
) -> trace_pb2.Span:
    """A run or heartbeat span of a one-hour T4 run ending now, plus ``extra`` attributes
    (keyword names with ``__`` for ``.``, e.g. ``genops__hw__gpu__count``)."""
    now = time.time_ns()
    end_ns = now if end_ns is None else end_ns
    start_ns = end_ns - HOUR_NS if start_ns is None else start_ns
    attributes: dict[str, object] = {
        attr.TEAM: team,
        attr.PROJECT: "hostile",
        # "" sends none (an older client: the run is keyed by its trace id)
        attr.RUN_KEY: f"run-{os.urandom(4).hex()}:seg" if run_key is None else run_key or None,
        attr.RUN_STATUS: "finished" if name == attr.SPAN_RUN else "running",
        attr.HW_GPU_TYPE: "T4",
        attr.HW_GPU_COUNT: 1,
        attr.HW_CPU_COUNT: 0,
        attr.RUN_COMPUTE_START_NS: start_ns,
        attr.USAGE_AS_OF_NS: end_ns,
    }
    for key, v in extra.items():
        attributes[key.replace("__", ".")] = v
    sent = {k: v for k, v in attributes.items() if v is not None}
    return trace_pb2.Span(
        trace_id=trace_id or os.urandom(16),
        span_id=span_id or os.urandom(8),
        name=name,
        start_time_unix_nano=max(0, start_ns),
        end_time_unix_nano=max(0, end_ns),
        attributes=[KeyValue(key=k, value=value(v)) for k, v in sent.items()],
    )


def export(processor, spans) -> trace_service_pb2.ExportTraceServiceResponse:
    """Send one request; a non-OK status raises (the test fails on it)."""
    request = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=spans)])]
    )
    with processor.channel() as channel:
        return trace_service_pb2_grpc.TraceServiceStub(channel).Export(request, timeout=30)


def check(processor, team: str = "vision", usd: int = 1_000_000) -> int:
    response = processor.stub().CheckBudget(
        pb.CheckBudgetRequest(scope=pb.Scope(team=team), requested_micros=usd * 1_000_000),
        timeout=10,
    )
    return response.decision


def rejected(processor) -> dict[str, float]:
    prefix = "genops_spans_rejected_total{reason="
    return {
        k[len(prefix) + 1 : -2]: v for k, v in processor.metrics().items() if k.startswith(prefix)
    }


def db_rows(processor, sql: str) -> list[tuple]:
    assert processor.stop() == 0, "".join(processor.log)
    with storage.Storage(processor.db, read_only=True) as db:
        return db.call(lambda conn: conn.execute(sql).fetchall())


@pytest.fixture
def enforced(start_processor_with, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    return start_processor_with("--policy", str(policy))


def every_query_answers(processor) -> None:
    stub = processor.stub()
    assert check(processor, "vision", 1) in (pb.DECISION_ALLOW, pb.DECISION_WARN)
    assert check(processor, "someone-else", 1) in (pb.DECISION_ALLOW, pb.DECISION_WARN)
    stub.GetBudgetStatus(pb.GetBudgetStatusRequest(), timeout=10)
    stub.GetUsage(pb.GetUsageRequest(scope=pb.Scope(team="vision")), timeout=10)
    stub.ListRuns(pb.ListRunsRequest(), timeout=10)
    report = subprocess.run(
        [str(BIN / "genops"), "report", "--endpoint", processor.endpoint, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert report.returncode == 0, report.stdout + report.stderr
    for run in json.loads(report.stdout):
        assert run["cost_usd"] >= 0


# -- negative money ------------------------------------------------------------------------


def test_negative_declared_storage_is_refused_and_the_budget_keeps_denying(enforced):
    assert check(enforced) == pb.DECISION_DENY
    response = export(enforced, [span(genops__usage__declared_storage_micros=-(10**12))])
    assert response.partial_success.rejected_spans == 1
    assert "declared_storage_micros" in response.partial_success.error_message
    assert check(enforced) == pb.DECISION_DENY
    assert enforced.runs() == []
    assert rejected(enforced) == {"out_of_range": 1}


def test_a_positive_declared_storage_is_stored_and_counted(enforced):
    response = export(enforced, [span(genops__usage__declared_storage_micros=5_000_000)])
    assert not response.HasField("partial_success") or response.partial_success.rejected_spans == 0
    [run] = enforced.runs()
    assert run.cost_micros >= 5_000_000


@pytest.mark.parametrize(
    "key", ["genops.usage.artifact_bytes", "genops.storage.retention_days", "genops.run.sequence"]
)
def test_other_negative_usage_is_refused(processor, key):
    response = export(processor, [span(**{key.replace(".", "__"): -1})])
    assert response.partial_success.rejected_spans == 1
    assert key in response.partial_success.error_message
    assert processor.runs() == []


# -- int64 extremes and absurd times -------------------------------------------------------


def test_int64_extremes_leave_every_query_answering_also_after_a_restart(
    enforced, start_processor_with, tmp_path
):
    response = export(
        enforced,
        [
            span(genops__run__compute_start_ns=-INT64_MAX, genops__usage__as_of_ns=INT64_MAX),
            span(genops__usage__declared_storage_micros=5 * 10**18),
            span(genops__usage__declared_storage_micros=5 * 10**18),
        ],
    )
    assert response.partial_success.rejected_spans == 3
    every_query_answers(enforced)
    assert enforced.stop() == 0
    again = start_processor_with("--policy", str(tmp_path / "policy.yaml"))
    every_query_answers(again)
    assert again.runs() == []


def test_start_time_zero_does_not_price_56_years(processor):
    response = export(
        processor,
        [
            span(start_ns=0, genops__run__compute_start_ns=None),
            span(genops__run__compute_start_ns=0),
        ],
    )
    assert response.partial_success.rejected_spans == 2
    assert "time" in response.partial_success.error_message
    assert processor.runs() == []


def test_a_span_delivered_late_from_a_spool_is_still_stored(processor):
    """A client that was offline for a month replays its spool: legitimate."""
    month_ago = time.time_ns() - 30 * 24 * HOUR_NS
    response = export(processor, [span(attr.SPAN_RUN, end_ns=month_ago)])
    assert response.partial_success.rejected_spans == 0
    [run] = processor.runs()
    assert run.cost_micros == 36_000_000  # one T4 hour at $36


# -- a run belongs to the client that started it ---------------------------------------------


def test_re_attribution_of_a_victim_run_is_refused_and_recorded(processor):
    trace_id = os.urandom(16)
    victim = span(team="victim", run_key="victim-run:1", trace_id=trace_id)
    assert export(processor, [victim]).partial_success.rejected_spans == 0
    [before] = processor.runs()
    attack = span(
        attr.SPAN_RUN,
        team="attacker",
        run_key="victim-run:1",
        trace_id=trace_id,
        genops__usage__log_calls=0,
    )
    response = export(processor, [attack])
    assert response.partial_success.rejected_spans == 1
    assert "scope" in response.partial_success.error_message
    [after] = processor.runs()
    assert after == before and after.scope.team == "victim" and after.status == "running"
    assert rejected(processor) == {"scope_changed": 1}
    recorded = db_rows(processor, "SELECT span_id, run_key, reason FROM span_rejections")
    assert recorded == [(attack.span_id.hex(), "victim-run:1", "scope_changed")]
    sql = f"SELECT count(*) FROM spans WHERE span_id = '{attack.span_id.hex()}'"
    stored = db_rows(processor, sql)
    assert stored == [(0,)]


def test_usage_that_goes_down_is_refused_and_usage_that_advances_is_stored(processor):
    key, t0 = "victim-run:2", time.time_ns() - HOUR_NS

    def report(name=attr.SPAN_HEARTBEAT, minutes=30, **usage):
        return span(name, run_key=key, start_ns=t0, end_ns=t0 + minutes * 60 * 10**9, **usage)

    first = report(genops__usage__log_calls=100, genops__usage__artifact_bytes=10)
    assert export(processor, [first]).partial_success.rejected_spans == 0
    lower = report(minutes=40, genops__usage__log_calls=1, genops__usage__artifact_bytes=10)
    response = export(processor, [lower])
    assert response.partial_success.rejected_spans == 1
    assert "usage_decreased" in response.partial_success.error_message
    # an older heartbeat, delivered late: harmless, acknowledged
    late = report(minutes=10, genops__usage__log_calls=50, genops__usage__artifact_bytes=10)
    assert export(processor, [late]).partial_success.rejected_spans == 0
    final = report(
        attr.SPAN_RUN, minutes=60, genops__usage__log_calls=150, genops__usage__artifact_bytes=10
    )
    assert export(processor, [final]).partial_success.rejected_spans == 0
    [run] = processor.runs()
    assert (run.log_calls, run.status, run.cost_micros) == (150, "finished", 36_000_000)


def test_an_older_client_keyed_by_trace_id_cannot_be_re_attributed(processor):
    trace_id = os.urandom(16)
    export(processor, [span(team="victim", run_key="", trace_id=trace_id)])
    attack = span(team="attacker", run_key="", trace_id=trace_id)
    assert export(processor, [attack]).partial_success.rejected_spans == 1
    assert [r.scope.team for r in processor.runs()] == ["victim"]


# -- duplicate span ids ----------------------------------------------------------------------


def test_a_duplicate_span_id_with_other_content_is_refused_and_recorded(processor):
    original = span(genops__usage__log_calls=5)
    assert export(processor, [original]).partial_success.rejected_spans == 0
    again = export(processor, [original])  # a retry: acknowledged, changes nothing
    assert again.partial_success.rejected_spans == 0
    forged = trace_pb2.Span()
    forged.CopyFrom(original)
    forged.attributes.append(KeyValue(key=attr.USAGE_LOG_CALLS, value=value(500)))
    response = export(processor, [forged])
    assert response.partial_success.rejected_spans == 1
    assert "duplicate" in response.partial_success.error_message
    [run] = processor.runs()
    assert run.log_calls == 5
    assert rejected(processor) == {"duplicate_span_id": 1}
    recorded = db_rows(processor, "SELECT span_id, reason FROM span_rejections")
    assert recorded == [(original.span_id.hex(), "duplicate_span_id")]


# -- poisoned batches ------------------------------------------------------------------------


def test_a_poisoned_batch_stores_its_valid_spans_once_and_answers_ok(processor):
    valid = [span(attr.SPAN_RUN, run_key=f"good-{i}:s") for i in range(3)]
    poison = [
        span(genops__hw__gpu__count=2**40),
        span(genops__usage__log_calls=float("inf")),
        # fixed64 span times reach the year 2500; the usage times fall back to them
        span(
            end_ns=YEAR_2500_NS,
            genops__run__compute_start_ns=None,
            genops__usage__as_of_ns=None,
        ),
    ]
    mixed = [valid[0], poison[0], valid[1], poison[1], poison[2], valid[2]]
    response = export(processor, mixed)  # raises on a non-OK status
    assert response.partial_success.rejected_spans == 3
    message = response.partial_success.error_message
    assert "genops.hw.gpu.count" in message
    again = export(processor, mixed)  # the client's retry: nothing more stored
    assert again.partial_success.rejected_spans == 3
    runs = processor.runs()
    assert sorted(r.run_key for r in runs) == [f"good-{i}:s" for i in range(3)]
    assert all(r.cost_micros == 36_000_000 for r in runs)
    assert rejected(processor) == {"out_of_range": 2, "wrong_type": 2, "time_out_of_window": 2}
    stored = db_rows(processor, "SELECT count(*), count(DISTINCT span_id) FROM spans")
    assert stored == [(3, 3)]


def test_control_characters_in_a_team_are_refused(processor):
    response = export(processor, [span(team="ev\x1b[31mil")])
    assert response.partial_success.rejected_spans == 1
    assert "genops.team" in response.partial_success.error_message
    assert processor.runs() == []


def test_an_over_long_team_is_truncated_and_flagged(processor):
    response = export(processor, [span(team="t" * 5_000)])
    assert response.partial_success.rejected_spans == 0
    [run] = processor.runs()
    assert run.scope.team == "t" * 256
    assert any("genops.team" in v and "truncated" in v for v in run.violations)


# -- JSON attributes: what readers parse ----------------------------------------------------


def every_report_answers(processor) -> None:
    """The analytics that read clients' JSON back (final metrics, tags, artifacts used)."""
    stub = processor.stub()
    stub.GetPerformanceVsCost(pb.PerformanceRequest(period_days=30), timeout=30)
    stub.GetPerformanceVsCost(
        pb.PerformanceRequest(period_days=30, group_by=["model_type"]), timeout=30
    )
    stub.GetRecommendations(pb.RecommendationsRequest(lookback_days=30), timeout=30)
    every_query_answers(processor)


def test_json_attributes_that_are_not_json_are_dropped_and_the_run_kept(processor):
    # found by `make fuzz`: one run's final metrics of "x" failed GetPerformanceVsCost
    hostile = {
        attr.METRICS_LAST: "x",
        attr.TAGS: "[1, 2]",
        attr.ARTIFACTS_USED: '{"a": 1}',
        attr.WORKFLOW: "[" * 30_000 + "]" * 30_000,
    }
    keywords = {key.replace(".", "__"): text for key, text in hostile.items()}
    response = export(processor, [span(attr.SPAN_RUN, **keywords)])
    assert response.partial_success.rejected_spans == 0  # the run's usage is kept
    every_report_answers(processor)
    [run] = processor.runs()
    assert run.cost_micros == 36_000_000  # one T4 hour of the test catalog, priced as sent
    flags = "\n".join(run.violations)
    for key in (attr.METRICS_LAST, attr.TAGS, attr.ARTIFACTS_USED, attr.WORKFLOW):
        assert f"{key} dropped" in flags, flags


def test_a_ledger_holding_json_that_is_not_json_still_answers_every_report(
    processor, start_processor_with
):
    # an older processor stored clients' JSON unchecked: readers must not fail on it
    export(
        processor,
        [span(attr.SPAN_RUN, genops__metrics__last='{"acc": 0.5}', genops__tags='{"m": "a"}')],
    )
    assert processor.stop() == 0, "".join(processor.log)
    with storage.Storage(processor.db) as db:
        db.call(
            lambda conn: conn.execute(
                'UPDATE runs SET metrics_last = \'{"acc": "high", "f1": NaN, "n": {}}\', '
                "tags = 'x', artifacts_used = '[{\"a\": 1}, 5]'"
            )
        )
    again = start_processor_with()
    every_report_answers(again)
    groups = (
        again.stub().GetPerformanceVsCost(pb.PerformanceRequest(period_days=30), timeout=30).groups
    )
    assert [dict(g.avg_metrics) for g in groups] == [{}]  # no number among them

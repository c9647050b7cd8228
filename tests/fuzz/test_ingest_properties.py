"""Property-based: OTLP requests generated from the attribute schema never corrupt the ledger.

Each example is one ExportTraceServiceRequest sent to a real processor (in this
process, real gRPC on 127.0.0.1, real DuckDB file): a few *valid* spans of fresh
runs, mixed with hostile spans built from a valid span by replacing one to three
attributes (or the span's times and ids) with values from the schema's edges and
beyond. After each request, and after sending it again (a retry):

- the export is answered OK (bad spans are rejected by partial success, never with
  a retryable status that would make the client resend them forever);
- money: no run, cost line or hand-added cost is negative or above the per-run /
  per-line maximum, and the team's spend never goes below zero;
- every budget check and every report query still answers, and an enforced $100
  budget keeps denying $1,000,000;
- the valid spans are stored exactly once, and a valid run keeps its team (no
  hostile span re-attributes it).

CI runs a short mode (``GENOPS_FUZZ_EXAMPLES``, default 150); ``make fuzz`` runs
100,000 examples and prints the figures.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from genops import attributes as attr
from genops.governance.v1 import governance_pb2 as pb
from genops.governance.v1 import governance_pb2_grpc as pb_grpc
from genops_processor import limits
from genops_processor.ingest import validation
from genops_processor.server import start
from genops_processor.settings import ProcessorSettings

EXAMPLES = int(os.environ.get("GENOPS_FUZZ_EXAMPLES", "150"))
TEAM = "fuzz-team"
USD = 1_000_000
NS = 1_000_000_000
POLICY = f"""
budgets:
  - name: fuzz-daily
    scope: {{team: {TEAM}}}
    daily_limit: "100.00"
    mode: enforced
"""

# Every key the validation schema knows (the wire contract of genops.attributes).
ALL_KEYS = sorted(validation.SCHEMA)
SPAN_NAMES = [attr.SPAN_RUN, attr.SPAN_HEARTBEAT, attr.SPAN_ARTIFACT, attr.SPAN_EXPERIMENT]
SPAN_NAMES += [attr.SPAN_COST_LINE, "user.span"]

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT_EDGES = [INT64_MIN, INT64_MIN + 1, -(2**31), -1, 0, 1, 2, 2**31 - 1, 2**31, 2**40]
INT_EDGES += [2**53 + 1, 5 * 10**18, INT64_MAX]
FLOAT_EDGES = [math.nan, math.inf, -math.inf, -0.0, 1e-300, 0.5, 1e15, 1e30, 1.7e308, -1e30]
TEXT_EDGES = ["", " ", "[/]", "[bold red]x", "\x1b[31mred\x1b[0m", "a\x00b", "a\nb", "\u202e"]
TEXT_EDGES += ["x" * 5000, "1e30", "-1", "NaN", "inf", "9223372036854775808", "{", "[1,2]"]


def _schema_edges() -> list[int | float]:
    """The numeric bounds the validation schema declares, and one past each."""
    edges: set = set()
    for rule in validation.SCHEMA.values():
        for bound in (rule.min, rule.max):
            if isinstance(bound, int | float) and not isinstance(bound, bool):
                edges.update({bound, bound - 1, bound + 1})
    return sorted(e for e in edges if INT64_MIN <= e <= INT64_MAX)


def _text_edges() -> list[str]:
    """Text at each declared length bound and one past it, and each allowed choice."""
    edges: set[str] = set()
    for rule in validation.SCHEMA.values():
        if rule.max_len:
            edges.update({"x" * rule.max_len, "x" * (rule.max_len + 1)})
        edges.update(rule.choices)
    return sorted(edges)


def _any_value(value) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[_any_value(v) for v in value]))
    return AnyValue(string_value=str(value))


def hostile_values() -> st.SearchStrategy:
    ints = st.one_of(
        st.sampled_from(INT_EDGES + _schema_edges()),
        st.integers(INT64_MIN, INT64_MAX),
        st.integers(-1000, 10**6),
    )
    return st.one_of(
        ints,
        st.sampled_from(FLOAT_EDGES),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(TEXT_EDGES + _text_edges()),
        st.text(max_size=40),
        st.booleans(),
        st.binary(max_size=16),
        st.lists(st.integers(-5, 5), max_size=3),
    )


def _now_ns() -> int:
    return time.time_ns()


def valid_attributes(run_key: str, kind: str) -> dict:
    now = _now_ns()
    values = {
        attr.RUN_KEY: run_key,
        attr.TEAM: TEAM,
        attr.PROJECT: "fuzz",
        attr.WANDB_RUN_ID: run_key.split(":")[0],
        attr.WANDB_PROJECT: "fuzz",
        attr.HW_CPU_COUNT: 2,
        attr.HW_GPU_COUNT: 0,
        attr.RUN_COMPUTE_START_NS: now - 60 * NS,
        attr.USAGE_AS_OF_NS: now,
        attr.USAGE_LOG_CALLS: 10,
        attr.RUN_SEQUENCE: 1,
        attr.REGION: "us-east-1",
    }
    if kind == attr.SPAN_ARTIFACT:
        values.update({attr.ARTIFACT_NAME: "model", attr.ARTIFACT_BYTES: 1000})
    if kind == attr.SPAN_COST_LINE:
        values.update({attr.COST_SKU: "cpu", attr.COST_QUANTITY: "1.5", attr.COST_UNIT: "h"})
    if kind == attr.SPAN_EXPERIMENT:
        values.update({attr.EXPERIMENT_ID: f"x-{run_key}", attr.EXPERIMENT_NAME: "fuzz"})
    return values


def _span(name: str, values: dict, trace_id: bytes, span_id: bytes, start: int, end: int):
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        name=name,
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        attributes=[KeyValue(key=k, value=_any_value(v)) for k, v in values.items()],
    )


TIME_EDGES = [0, 1, 2**63 - 1, 2**64 - 1, 16_725_225_600 * NS]  # ... and year 2500


@st.composite
def hostile_span(draw, pool: list[str]) -> Span:
    name = draw(st.sampled_from(SPAN_NAMES))
    # draws never depend on the pool's size, so hypothesis can replay an example
    use_pool, index = draw(st.booleans()), draw(st.integers(0, 19))
    run_key = pool[index % len(pool)] if use_pool and pool else "h:" + uuid.uuid4().hex
    values = valid_attributes(run_key, name)
    for key in draw(st.lists(st.sampled_from(ALL_KEYS), min_size=1, max_size=3, unique=True)):
        values[key] = draw(hostile_values())
    if draw(st.booleans()):
        values[attr.TEAM] = draw(st.sampled_from(["attacker", "", "[/]", TEAM]))
    now = _now_ns()
    start = draw(st.one_of(st.just(now - 60 * NS), st.sampled_from(TIME_EDGES)))
    end = draw(st.one_of(st.just(now), st.sampled_from(TIME_EDGES)))
    trace_id = draw(st.one_of(st.binary(min_size=16, max_size=16), st.binary(max_size=20)))
    span_id = draw(st.one_of(st.binary(min_size=8, max_size=8), st.binary(max_size=10)))
    return _span(name, values, trace_id, span_id, start % 2**64, end % 2**64)


def valid_run_span(run_key: str, final: bool) -> Span:
    now = _now_ns()
    name = attr.SPAN_RUN if final else attr.SPAN_HEARTBEAT
    values = valid_attributes(run_key, name)
    return _span(name, values, os.urandom(16), os.urandom(8), now - 60 * NS, now)


class Harness:
    """A processor served from a background event loop, with blocking helpers."""

    def __init__(self, tmp: Path) -> None:
        policy = tmp / "policy.yaml"
        policy.write_text(POLICY)
        self.settings = ProcessorSettings(
            db_path=str(tmp / "fuzz.duckdb"), listen="127.0.0.1:0", policy_path=str(policy)
        )
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.processor = self.call(start(self.settings))
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.processor.port}")
        self.traces = trace_service_pb2_grpc.TraceServiceStub(self.channel)
        self.api = pb_grpc.GovernanceServiceStub(self.channel)
        self.stats: Counter = Counter()

    def call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=120)

    def sql(self, query: str, params=()):
        def job(conn, now):
            return conn.execute(query, params).fetchall()

        return self.call(self.processor.governance.run_job(job))

    def close(self) -> None:
        self.channel.close()
        self.call(self.processor.stop(1.0))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    h = Harness(tmp_path_factory.mktemp("fuzz"))
    yield h
    h.close()
    print(f"\nfuzz figures: {dict(sorted(h.stats.items()))}")


def _export(h: Harness, spans: list[Span]):
    request = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])]
    )
    return h.traces.Export(request, timeout=60)


def _check_money(h: Harness) -> None:
    ((low, high, total),) = h.sql(
        "SELECT min(cost_micros), max(cost_micros), sum(cost_micros::HUGEINT) FROM runs"
    )
    if low is not None:
        assert low >= 0, f"a run costs {low} micro-dollars"
        assert high <= limits.MAX_RUN_MICROS, f"a run costs {high} micro-dollars"
        assert total >= 0
    ((low, high),) = h.sql("SELECT min(amount_micros), max(amount_micros) FROM cost_lines")
    if low is not None:
        assert 0 <= low and high <= limits.MAX_LINE_MICROS, (low, high)
    ((low, high),) = h.sql("SELECT min(amount_micros), max(amount_micros) FROM manual_costs")
    if low is not None:
        assert 0 <= low and high <= limits.MAX_LINE_MICROS, (low, high)


def _check_queries_answer(h: Harness) -> None:
    scope = pb.Scope(team=TEAM, project="fuzz")
    denied = h.api.CheckBudget(
        pb.CheckBudgetRequest(scope=scope, requested_micros=1_000_000 * USD), timeout=30
    )
    assert denied.decision == pb.DECISION_DENY, denied.message
    small = h.api.CheckBudget(pb.CheckBudgetRequest(scope=scope, requested_micros=0), timeout=30)
    for budget in small.budgets:
        assert 0 <= budget.spent_micros <= limits.ANSWER_INT64_MAX
    status = h.api.GetBudgetStatus(pb.GetBudgetStatusRequest(), timeout=30)
    assert all(b.spent_micros >= 0 for b in status.budgets)
    usage = h.api.GetUsage(pb.GetUsageRequest(scope=scope), timeout=30)
    assert usage.spent_today_micros >= 0
    h.api.ListRuns(pb.ListRunsRequest(), timeout=60)
    summary = h.api.GetCostSummary(pb.CostSummaryRequest(period_days=30), timeout=60)
    assert summary.total_micros >= 0


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_hostile_requests_never_corrupt_the_ledger(harness: Harness, data) -> None:
    h = harness
    pool = h.__dict__.setdefault("valid_keys", [])
    valid = [valid_run_span(f"v{uuid.uuid4().hex[:12]}:s1", final=data.draw(st.booleans()))]
    hostile = data.draw(st.lists(hostile_span(pool[-20:]), min_size=1, max_size=6))
    spans = data.draw(st.permutations(valid + hostile))

    first = _export(h, spans)
    again = _export(h, spans)  # a retry of the same request changes nothing
    assert first.partial_success.rejected_spans <= len(hostile)
    assert again.partial_success.rejected_spans <= len(hostile)
    h.stats["examples"] += 1
    if h.stats["examples"] % 1000 == 0:  # progress on long runs (make fuzz)
        print(f"fuzz: {dict(sorted(h.stats.items()))}", flush=True)
    h.stats["requests"] += 2
    h.stats["spans"] += 2 * len(spans)
    h.stats["rejected"] += first.partial_success.rejected_spans

    for span in valid:
        ((stored,),) = h.sql(
            "SELECT count(*) FROM spans WHERE trace_id = ? AND span_id = ?",
            (span.trace_id.hex(), span.span_id.hex()),
        )
        assert stored == 1, f"valid span stored {stored} times"
        key = next(kv.value.string_value for kv in span.attributes if kv.key == attr.RUN_KEY)
        pool.append(key)
    for key in pool[-20:]:
        rows = h.sql("SELECT team, project FROM runs WHERE run_key = ?", (key,))
        assert rows == [(TEAM, "fuzz")], f"run {key} re-attributed: {rows}"

    _check_money(h)
    _check_queries_answer(h)

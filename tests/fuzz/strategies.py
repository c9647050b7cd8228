"""OTLP spans for the ingest fuzz, generated from the validation schema.

A *valid* span is a fresh run's run or heartbeat span; a *hostile* span starts from
a valid one and replaces one to three attributes (or its times, ids and team) with
values from the schema's edges and beyond. Each example gets a project of its own,
so what it can change is found again with one scoped query; a hostile span aimed at
an earlier example's run therefore also tries to move that run to another project.
"""

from __future__ import annotations

import math
import os
import time
import uuid

from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from genops import attributes as attr
from genops_processor.ingest import validation

TEAM = "fuzz-team"
NS = 1_000_000_000
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# Every key the validation schema knows (the wire contract of genops.attributes).
ALL_KEYS = sorted(validation.SCHEMA)
SPAN_NAMES = [attr.SPAN_RUN, attr.SPAN_HEARTBEAT, attr.SPAN_ARTIFACT, attr.SPAN_EXPERIMENT]
SPAN_NAMES += [attr.SPAN_COST_LINE, "user.span"]

INT_EDGES = [INT64_MIN, INT64_MIN + 1, -(2**31), -1, 0, 1, 2, 2**31 - 1, 2**31, 2**40]
INT_EDGES += [2**53 + 1, 5 * 10**18, INT64_MAX]
FLOAT_EDGES = [math.nan, math.inf, -math.inf, -0.0, 1e-300, 0.5, 1e15, 1e30, 1.7e308, -1e30]
TEXT_EDGES = ["", " ", "[/]", "[bold red]x", "\x1b[31mred\x1b[0m", "a\x00b", "a\nb", "\u202e"]
TEXT_EDGES += ["x" * 5000, "1e30", "-1", "NaN", "inf", "9223372036854775808", "{", "[1,2]"]
TIME_EDGES = [0, 1, 2**63 - 1, 2**64 - 1, 16_725_225_600 * NS]  # ... and year 2500
TEAMS_TRIED = ["attacker", "", "[/]", TEAM]  # "attacker" is no team the sender acts for


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


# Built once: a strategy built per draw costs more than the processor's whole answer.
HOSTILE_VALUES = st.one_of(
    st.one_of(
        st.sampled_from(INT_EDGES + _schema_edges()),
        st.integers(INT64_MIN, INT64_MAX),
        st.integers(-1000, 10**6),
    ),
    st.sampled_from(FLOAT_EDGES),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(TEXT_EDGES + _text_edges()),
    st.text(max_size=40),
    st.booleans(),
    st.binary(max_size=16),
    st.lists(st.integers(-5, 5), max_size=3),
)
SPAN_NAME = st.sampled_from(SPAN_NAMES)
HOSTILE_KEYS = st.lists(st.sampled_from(ALL_KEYS), min_size=1, max_size=3, unique=True)
TEAM_TRIED = st.sampled_from(TEAMS_TRIED)
START = st.sampled_from(TIME_EDGES)
TRACE_ID = st.one_of(st.binary(min_size=16, max_size=16), st.binary(max_size=20))
SPAN_ID = st.one_of(st.binary(min_size=8, max_size=8), st.binary(max_size=10))


def valid_attributes(run_key: str, kind: str, project: str) -> dict:
    now = time.time_ns()
    values = {
        attr.RUN_KEY: run_key,
        attr.TEAM: TEAM,
        attr.PROJECT: project,
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


@st.composite
def hostile_span(draw, pool: list[str], project: str) -> Span:
    """A span of ``project`` with hostile values; its run is new, or one of ``pool``
    (earlier examples' valid runs, which it must not change)."""
    name = draw(SPAN_NAME)
    # draws never depend on the pool's size, so hypothesis can replay an example
    use_pool, index = draw(st.booleans()), draw(st.integers(0, 19))
    run_key = pool[index % len(pool)] if use_pool and pool else "h:" + uuid.uuid4().hex
    values = valid_attributes(run_key, name, project)
    for key in draw(HOSTILE_KEYS):
        values[key] = draw(HOSTILE_VALUES)
    if draw(st.booleans()):
        values[attr.TEAM] = draw(TEAM_TRIED)
    now = time.time_ns()
    start = draw(START) if draw(st.booleans()) else now - 60 * NS
    end = draw(START) if draw(st.booleans()) else now
    trace_id, span_id = draw(TRACE_ID), draw(SPAN_ID)
    return _span(name, values, trace_id, span_id, start % 2**64, end % 2**64)


def valid_run_span(run_key: str, final: bool, project: str) -> Span:
    now = time.time_ns()
    name = attr.SPAN_RUN if final else attr.SPAN_HEARTBEAT
    values = valid_attributes(run_key, name, project)
    return _span(name, values, os.urandom(16), os.urandom(8), now - 60 * NS, now)


def run_key_of(span: Span) -> str | None:
    """The span's run key when it is a string (a hostile span may carry anything)."""
    for kv in span.attributes:
        if kv.key == attr.RUN_KEY and kv.value.WhichOneof("value") == "string_value":
            return kv.value.string_value
    return None

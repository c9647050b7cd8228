"""Governance spans built by hand, as the instrumentation sends them, for tests that need
runs at chosen times (a billing month, past a retention), W&B links that real wandb
cannot make offline (``use_artifact`` raises "Cannot use artifact when in offline mode")
or many runs quickly (a ledger that grows while a backup is taken)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

from genops import attributes as attr

HOUR_NS = 3_600 * 10**9
DAY_NS = 24 * HOUR_NS


def _value(v: object) -> AnyValue:
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    return AnyValue(string_value=str(v))


def _span(name: str, attributes: dict[str, object], start_ns: int, end_ns: int) -> trace_pb2.Span:
    return trace_pb2.Span(
        trace_id=os.urandom(16),
        span_id=os.urandom(8),
        name=name,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=end_ns,
        attributes=[KeyValue(key=k, value=_value(v)) for k, v in attributes.items() if v != ""],
    )


def run_span(
    team: str,
    *,
    project: str = "p",
    customer: str = "",
    run_id: str = "",
    as_of_ns: int | None = None,
    hours: float = 1.0,
    status: str = "finished",
    used: Sequence[str] = (),
    experiment_id: str = "",
    retention_days: int = 0,
) -> trace_pb2.Span:
    """A finished run of ``hours`` on one T4 ending at ``as_of_ns`` (default: now)."""
    end = as_of_ns or time.time_ns()
    start = end - int(hours * HOUR_NS)
    run_id = run_id or f"run-{os.urandom(4).hex()}"
    attributes: dict[str, object] = {
        attr.TEAM: team,
        attr.PROJECT: project,
        attr.CUSTOMER_ID: customer,
        attr.RUN_KEY: run_id,
        attr.WANDB_RUN_ID: run_id,
        attr.WANDB_PROJECT: project,
        attr.RUN_STATUS: status,
        attr.HW_GPU_TYPE: "T4",
        attr.HW_GPU_COUNT: 1,
        attr.HW_CPU_COUNT: 0,
        attr.RUN_COMPUTE_START_NS: start,
        attr.USAGE_AS_OF_NS: end,
        attr.EXPERIMENT_ID: experiment_id,
    }
    if used:
        attributes[attr.ARTIFACTS_USED] = json.dumps(list(used))
    if retention_days:
        attributes[attr.STORAGE_RETENTION_DAYS] = retention_days
    return _span(attr.SPAN_RUN, attributes, start, end)


def artifact_span(
    team: str,
    run_id: str,
    name: str,
    *,
    project: str = "p",
    logged_ns: int | None = None,
    metadata: dict | None = None,
) -> trace_pb2.Span:
    at = logged_ns or time.time_ns()
    attributes: dict[str, object] = {
        attr.TEAM: team,
        attr.PROJECT: project,
        attr.RUN_KEY: run_id,
        attr.WANDB_RUN_ID: run_id,
        attr.ARTIFACT_NAME: name,
        attr.ARTIFACT_TYPE: "model",
        attr.ARTIFACT_BYTES: 1000,
        attr.ARTIFACT_FILES: 1,
    }
    if metadata is not None:
        attributes[attr.ARTIFACT_GOVERNANCE_METADATA] = json.dumps(metadata)
    return _span(attr.SPAN_ARTIFACT, attributes, at, at + 1)


def export(endpoint: str, token: str | None, spans: Sequence[trace_pb2.Span]):
    """Send spans over OTLP as the principal whose token is given; the answer."""
    request = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=list(spans))])
        ]
    )
    metadata = () if token is None else (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(endpoint) as channel:
        answer = trace_service_pb2_grpc.TraceServiceStub(channel).Export(
            request, timeout=60, metadata=metadata
        )
    assert not answer.partial_success.rejected_spans, answer.partial_success.error_message
    return answer

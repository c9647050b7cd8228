"""Unit tests for decoding a hand-built OTLP ExportTraceServiceRequest into domain events."""

from __future__ import annotations

import json

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from genops import attributes as attr
from genops_processor.domain import (
    ArtifactEvent,
    HardwareUse,
    RunUsage,
    Scope,
    SpanRecord,
    UsageEvent,
)
from genops_processor.ingest import decode_request

TRACE_ID = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
RUN_SPAN_ID = bytes.fromhex("b7ad6b7169203331")
HEARTBEAT_SPAN_ID = bytes.fromhex("00f067aa0ba902b7")
ARTIFACT_SPAN_ID = bytes.fromhex("53995c3f42cd8ad8")
OTHER_TRACE_ID = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
OTHER_SPAN_ID = bytes.fromhex("1111111111111111")

T0 = 1_764_000_000_000_000_000  # compute start (process start), ns
RUN_START = T0 + 2_000_000_000
HEARTBEAT_AT = T0 + 15_000_000_001
ARTIFACT_AT = T0 + 20_000_000_000
RUN_END = T0 + 3_600_000_000_007
NOW = RUN_END + 60_000_000_000  # the processor's clock: a minute after the run ended


def value(v: object) -> AnyValue:
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    if isinstance(v, (list, tuple)):
        return AnyValue(array_value=ArrayValue(values=[value(x) for x in v]))
    return AnyValue(string_value=str(v))


def kvs(attributes: dict[str, object]) -> list[KeyValue]:
    return [KeyValue(key=k, value=value(v)) for k, v in attributes.items()]


ATTRIBUTION = {
    attr.TEAM: "nlp",
    attr.PROJECT: "churn",
    attr.CUSTOMER_ID: "acme",
    attr.COST_CENTER: "cc-42",
    attr.ENVIRONMENT: "staging",
    attr.WANDB_RUN_ID: "abc123",
    attr.WANDB_RUN_NAME: "brisk-fog-1",
    attr.WANDB_PROJECT: "churn-wandb",
    attr.HW_GPU_TYPE: "T4",
    attr.HW_GPU_COUNT: 2,
    attr.HW_CPU_COUNT: 4,
    attr.HW_INSTANCE_TYPE: "g4dn.12xlarge",
    attr.HW_GPU_SOURCE: "env",
    attr.RUN_COMPUTE_START_NS: T0,
}

RUN_ATTRIBUTES = {
    **ATTRIBUTION,
    attr.RUN_STATUS: attr.STATUS_FINISHED,
    attr.USAGE_AS_OF_NS: RUN_END,
    attr.USAGE_LOG_CALLS: 1000,
    attr.USAGE_ARTIFACT_BYTES: 4096,
    attr.USAGE_ARTIFACT_FILES: 3,
    attr.USAGE_ARTIFACT_COUNT: 1,
    attr.RUN_SEQUENCE: 240,
    attr.CATALOG_VERSION: "2026-11-default",
}

HEARTBEAT_ATTRIBUTES = {
    **ATTRIBUTION,
    attr.RUN_STATUS: attr.STATUS_RUNNING,
    attr.USAGE_AS_OF_NS: HEARTBEAT_AT,
    attr.USAGE_LOG_CALLS: 17,
    attr.USAGE_ARTIFACT_BYTES: 0,
    attr.RUN_SEQUENCE: 1,
}

ARTIFACT_ATTRIBUTES = {
    attr.ARTIFACT_NAME: "model-weights",
    attr.ARTIFACT_TYPE: "model",
    attr.ARTIFACT_BYTES: 4096,
    attr.ARTIFACT_FILES: 3,
}


def span(name, trace_id, span_id, start, end, attributes, parent=b"") -> Span:
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        attributes=kvs(attributes),
    )


def build_request() -> ExportTraceServiceRequest:
    scope = InstrumentationScope(name="opentelemetry.instrumentation.wandb", version="0.1.0")
    genops_spans = ResourceSpans(
        resource=Resource(attributes=kvs({"service.name": "train"})),
        scope_spans=[
            ScopeSpans(
                scope=scope,
                spans=[
                    span(
                        attr.SPAN_HEARTBEAT,
                        TRACE_ID,
                        HEARTBEAT_SPAN_ID,
                        HEARTBEAT_AT,
                        HEARTBEAT_AT,
                        HEARTBEAT_ATTRIBUTES,
                        parent=RUN_SPAN_ID,
                    ),
                    span(
                        attr.SPAN_ARTIFACT,
                        TRACE_ID,
                        ARTIFACT_SPAN_ID,
                        ARTIFACT_AT,
                        ARTIFACT_AT + 5,
                        ARTIFACT_ATTRIBUTES,
                        parent=RUN_SPAN_ID,
                    ),
                    span(attr.SPAN_RUN, TRACE_ID, RUN_SPAN_ID, RUN_START, RUN_END, RUN_ATTRIBUTES),
                ],
            )
        ],
    )
    other_spans = ResourceSpans(
        resource=Resource(attributes=kvs({"service.name": "web"})),
        scope_spans=[
            ScopeSpans(
                scope=InstrumentationScope(name="opentelemetry.instrumentation.flask"),
                spans=[
                    span(
                        "GET /health",
                        OTHER_TRACE_ID,
                        OTHER_SPAN_ID,
                        T0,
                        T0 + 1,
                        {"http.method": "GET", attr.TEAM: "nlp"},
                    )
                ],
            )
        ],
    )
    return ExportTraceServiceRequest(resource_spans=[genops_spans, other_spans])


@pytest.fixture(scope="module")
def batch():
    request = build_request()
    # decode what really goes over the wire
    return decode_request(ExportTraceServiceRequest.FromString(request.SerializeToString()), NOW)


EXPECTED_SCOPE = Scope(
    team="nlp", project="churn", customer_id="acme", cost_center="cc-42", environment="staging"
)
EXPECTED_HARDWARE = HardwareUse(
    gpu_type="T4", gpu_count=2, cpu_count=4, instance_type="g4dn.12xlarge"
)


def test_decode_counts_the_unrelated_span_as_ignored(batch):
    assert batch.ignored_spans == 1
    assert len(batch.usage) == 2
    assert len(batch.artifacts) == 1


def test_decode_run_key_is_the_trace_id_hex(batch):
    for span_record in batch.spans:
        assert span_record.run_key == "0af7651916cd43dd8448eb211c80319c"
        assert span_record.trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert [s.span_id for s in batch.spans] == [
        "00f067aa0ba902b7",
        "b7ad6b7169203331",
        "53995c3f42cd8ad8",
    ]


def test_decode_heartbeat_span(batch):
    heartbeat = batch.usage[0]
    assert heartbeat == UsageEvent(
        span=SpanRecord(
            trace_id="0af7651916cd43dd8448eb211c80319c",
            span_id="00f067aa0ba902b7",
            kind="heartbeat",
            name="wandb.run.heartbeat",
            run_key="0af7651916cd43dd8448eb211c80319c",
            start_ns=HEARTBEAT_AT,
            end_ns=HEARTBEAT_AT,
            attributes_json=heartbeat.span.attributes_json,
        ),
        run_id="abc123",
        run_name="brisk-fog-1",
        wandb_project="churn-wandb",
        scope=EXPECTED_SCOPE,
        hardware=EXPECTED_HARDWARE,
        usage=RunUsage(
            compute_start_ns=T0,
            as_of_ns=HEARTBEAT_AT,
            log_calls=17,
            artifact_bytes=0,
            artifact_files=0,
            artifact_count=0,
            sequence=1,
        ),
        status="running",
        final=False,
        error="",
        catalog_version="",
        compute_start_declared=True,
    )
    assert json.loads(heartbeat.span.attributes_json) == HEARTBEAT_ATTRIBUTES


def test_decode_run_span(batch):
    run = batch.usage[1]
    assert run.span.kind == "run"
    assert run.span.name == "wandb.run"
    assert (run.span.start_ns, run.span.end_ns) == (RUN_START, RUN_END)
    assert run.final is True
    assert run.status == "finished"
    assert run.scope == EXPECTED_SCOPE
    assert run.hardware == EXPECTED_HARDWARE
    assert run.usage == RunUsage(
        compute_start_ns=T0,
        as_of_ns=RUN_END,
        log_calls=1000,
        artifact_bytes=4096,
        artifact_files=3,
        artifact_count=1,
        sequence=240,
    )
    assert run.usage.duration_ns == 3_600_000_000_007
    assert run.catalog_version == "2026-11-default"
    assert (run.run_id, run.run_name, run.wandb_project) == ("abc123", "brisk-fog-1", "churn-wandb")
    assert json.loads(run.span.attributes_json) == RUN_ATTRIBUTES


def test_decode_artifact_span(batch):
    (artifact,) = batch.artifacts
    assert artifact == ArtifactEvent(
        span=SpanRecord(
            trace_id="0af7651916cd43dd8448eb211c80319c",
            span_id="53995c3f42cd8ad8",
            kind="artifact",
            name="wandb.artifact",
            run_key="0af7651916cd43dd8448eb211c80319c",
            start_ns=ARTIFACT_AT,
            end_ns=ARTIFACT_AT + 5,
            attributes_json=json.dumps(ARTIFACT_ATTRIBUTES, sort_keys=True),
        ),
        name="model-weights",
        type="model",
        bytes=4096,
        files=3,
    )


def one_span_request(name: str, attributes: dict[str, object], start=RUN_START, end=RUN_END):
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                scope_spans=[
                    ScopeSpans(spans=[span(name, TRACE_ID, RUN_SPAN_ID, start, end, attributes)])
                ]
            )
        ]
    )


@pytest.mark.parametrize(
    "name, status, expected",
    [
        (attr.SPAN_RUN, None, "finished"),
        (attr.SPAN_RUN, "running", "finished"),
        (attr.SPAN_RUN, "failed", "failed"),
        (attr.SPAN_HEARTBEAT, None, "running"),
        (attr.SPAN_HEARTBEAT, "running", "running"),
    ],
)
def test_decode_status_defaults(name, status, expected):
    attributes = {} if status is None else {attr.RUN_STATUS: status}
    (event,) = decode_request(one_span_request(name, attributes), NOW).usage
    assert event.status == expected
    assert event.final is (name == attr.SPAN_RUN)


def test_decode_failed_run_keeps_its_error():
    request = one_span_request(
        attr.SPAN_RUN, {attr.RUN_STATUS: "failed", attr.RUN_ERROR: "ValueError: boom"}
    )
    (event,) = decode_request(request, NOW).usage
    assert (event.status, event.error) == ("failed", "ValueError: boom")


def test_decode_missing_usage_times_fall_back_to_the_span_times():
    (event,) = decode_request(one_span_request(attr.SPAN_RUN, {}), NOW).usage
    assert event.usage == RunUsage(compute_start_ns=RUN_START, as_of_ns=RUN_END)
    assert event.scope == Scope()
    assert event.hardware == HardwareUse()


def test_decode_an_integer_attribute_keeps_an_integer():
    request = one_span_request(attr.SPAN_HEARTBEAT, {attr.HW_GPU_COUNT: 2})
    (event,) = decode_request(request, NOW).usage
    assert event.hardware.gpu_count == 2


@pytest.mark.parametrize("raw", ["3", 2.0, True, "two", [1, 2], 2**40, -1])
def test_decode_rejects_a_span_whose_integer_attribute_is_not_a_sane_integer(raw):
    batch = decode_request(one_span_request(attr.SPAN_HEARTBEAT, {attr.HW_GPU_COUNT: raw}), NOW)
    assert batch.usage == ()
    [rejection] = batch.rejected
    assert rejection.reason in ("wrong_type", "out_of_range")
    assert attr.HW_GPU_COUNT in rejection.message
    assert (rejection.trace_id, rejection.span_id) == (TRACE_ID.hex(), RUN_SPAN_ID.hex())


def test_decode_rejects_a_span_from_the_year_2500_and_keeps_the_rest():
    request = build_request()
    request.resource_spans[0].scope_spans[0].spans[0].end_time_unix_nano = 16_725_225_600 * 10**9
    batch = decode_request(request, NOW)
    assert [r.reason for r in batch.rejected] == ["time_out_of_window"]
    assert len(batch.usage) == 1 and len(batch.artifacts) == 1


def test_decode_empty_request():
    batch = decode_request(ExportTraceServiceRequest(), NOW)
    assert (batch.usage, batch.artifacts, batch.ignored_spans) == ((), (), 0)


def test_decode_only_unrelated_spans():
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                scope_spans=[
                    ScopeSpans(
                        spans=[
                            span("wandb.run.other", TRACE_ID, RUN_SPAN_ID, 1, 2, {}),
                            span("", TRACE_ID, HEARTBEAT_SPAN_ID, 1, 2, {}),
                        ]
                    ),
                    ScopeSpans(spans=[span("db.query", TRACE_ID, OTHER_SPAN_ID, 1, 2, {})]),
                ]
            )
        ]
    )
    batch = decode_request(request, NOW)
    assert (batch.usage, batch.artifacts, batch.ignored_spans) == ((), (), 3)

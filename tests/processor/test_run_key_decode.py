"""The decoder keys runs on the run key W&B identity gives them, not on the trace."""

from __future__ import annotations

import time

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from genops import attributes as attr
from genops_processor.ingest import decode_request
from genops_processor.ingest.ledger import merge

NOW = time.time_ns()


def spans_under_one_trace(*attribute_sets):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("user job"):
        for name, attributes in attribute_sets:
            tracer.start_span(name, attributes=attributes).end()
    return [s for s in exporter.get_finished_spans() if s.name != "user job"]


def test_runs_sharing_a_trace_are_apart_by_run_key_and_old_spans_use_the_trace():
    spans = spans_under_one_trace(
        (attr.SPAN_RUN, {attr.RUN_KEY: "aaaa:1", attr.USAGE_LOG_CALLS: 3}),
        (attr.SPAN_RUN, {attr.RUN_KEY: "bbbb:2", attr.USAGE_LOG_CALLS: 7}),
        (attr.SPAN_ARTIFACT, {attr.RUN_KEY: "bbbb:2", attr.ARTIFACT_BYTES: 5}),
        (attr.SPAN_HEARTBEAT, {attr.USAGE_LOG_CALLS: 1}),  # an older client's
    )
    batch = decode_request(encode_spans(spans))
    trace_id = f"{spans[0].context.trace_id:032x}"
    assert [e.span.run_key for e in batch.usage] == ["aaaa:1", "bbbb:2", trace_id]
    assert [e.usage.log_calls for e in batch.usage] == [3, 7, 1]
    assert [a.span.run_key for a in batch.artifacts] == ["bbbb:2"]


def test_the_exit_code_of_the_final_span_is_kept():
    spans = spans_under_one_trace(
        (attr.SPAN_HEARTBEAT, {attr.RUN_KEY: "r:1", attr.USAGE_AS_OF_NS: NOW - 2}),
        (
            attr.SPAN_RUN,
            {
                attr.RUN_KEY: "r:1",
                attr.RUN_STATUS: attr.STATUS_FAILED,
                attr.RUN_EXIT_CODE: 3,
                attr.USAGE_AS_OF_NS: NOW - 1,
            },
        ),
    )
    heartbeat, final = decode_request(encode_spans(spans)).usage
    assert (heartbeat.exit_code, final.exit_code) == (None, 3)
    state = merge(merge(None, heartbeat), final)
    assert (state.status, state.exit_code) == (attr.STATUS_FAILED, 3)
    assert merge(state, heartbeat).exit_code == 3  # a late heartbeat changes nothing


def test_a_run_span_without_an_exit_code_has_none():
    [span] = spans_under_one_trace((attr.SPAN_RUN, {attr.RUN_KEY: "r:1"}))
    [event] = decode_request(encode_spans([span])).usage
    assert event.exit_code is None

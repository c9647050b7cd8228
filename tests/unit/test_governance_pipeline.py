"""The governance pipeline ignores the user's switches for their own telemetry."""

from __future__ import annotations

import multiprocessing

from opentelemetry import trace
from opentelemetry.instrumentation.wandb import pipeline
from opentelemetry.instrumentation.wandb.pipeline import GovernancePipeline
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from genops.config import ExportSettings


def test_always_sampled_unlimited_by_env_and_never_disabled(tmp_path, monkeypatch, unused_port):
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    monkeypatch.setenv("OTEL_ATTRIBUTE_COUNT_LIMIT", "1")
    settings = ExportSettings(
        target=f"127.0.0.1:{unused_port}", spool_dir=tmp_path, exit_wait_s=0.0
    )
    built = GovernancePipeline(settings)
    try:
        assert built.provider.sampler is ALWAYS_ON
        span = built.provider.get_tracer("t").start_span("s", attributes={"a": 1, "b": 2})
        assert span.is_recording() and span.get_span_context().trace_flags.sampled
        assert dict(span.attributes) == {"a": 1, "b": 2}
        span.end()
        assert built.provider.resource.attributes["service.name"] == "wandb-training"
        assert not isinstance(trace.get_tracer_provider(), type(built.provider))
    finally:
        built.close(1_000)  # the processor is absent: the span stays in the spool
    assert len(built.spool) == 1 and built.spool.path.exists()


def _child_has_no_pipeline(queue) -> None:
    queue.put(pipeline.current() is None)


def test_a_forked_child_builds_its_own_pipeline(tmp_path, unused_port, monkeypatch):
    monkeypatch.setattr(pipeline, "_state", pipeline._State())  # this test's own, undone after
    settings = ExportSettings(target=f"127.0.0.1:{unused_port}", spool_dir=tmp_path)
    pipeline.configure(settings)
    assert pipeline.tracer_provider() is not None and pipeline.current() is not None
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_has_no_pipeline, args=(queue,))
    child.start()
    child.join(30)
    assert queue.get(timeout=5) is True
    pipeline.close_at_exit(1_000)

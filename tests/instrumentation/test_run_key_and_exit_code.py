"""A run's identity comes from W&B: its own trace, its run key on every span of it."""

from __future__ import annotations

import sys

import pytest
import wandb
from opentelemetry.instrumentation.wandb.run_tracker import wandb_exit_code
from opentelemetry.sdk.trace import TracerProvider

from genops import attributes as attr


def spans_named(exporter, name):
    return [s for s in exporter.get_finished_spans() if s.name == name]


@pytest.mark.heartbeat(0.1)
def test_run_span_is_a_root_and_every_span_of_the_run_carries_its_key(instrumented, tmp_path):
    user_tracer = TracerProvider().get_tracer("user")  # the user's own tracing
    (tmp_path / "w.bin").write_bytes(b"1" * 5)
    with user_tracer.start_as_current_span("job") as job:
        run = wandb.init(project="identity")
        artifact = wandb.Artifact("w", type="model")
        artifact.add_file(str(tmp_path / "w.bin"))
        run.log_artifact(artifact)
        run.finish()
    [run_span] = spans_named(instrumented, attr.SPAN_RUN)
    assert run_span.parent is None
    assert run_span.context.trace_id != job.get_span_context().trace_id
    key = run_span.attributes[attr.RUN_KEY]
    run_id, segment = key.split(":")
    assert run_id == run.id and len(segment) == 16
    children = spans_named(instrumented, attr.SPAN_HEARTBEAT) + spans_named(
        instrumented, attr.SPAN_ARTIFACT
    )
    assert len(children) >= 2
    assert {s.attributes[attr.RUN_KEY] for s in children} == {key}
    assert {s.context.trace_id for s in children} == {run_span.context.trace_id}


def test_a_resumed_run_is_a_new_segment(instrumented):
    first = wandb.init(project="identity", id="resumable")
    first.finish()
    again = wandb.init(project="identity", id="resumable", resume="allow")
    again.finish()
    keys = [s.attributes[attr.RUN_KEY] for s in spans_named(instrumented, attr.SPAN_RUN)]
    assert len(keys) == 2 and len(set(keys)) == 2
    assert all(key.startswith("resumable:") for key in keys)


@pytest.mark.parametrize(("code", "status"), [(0, "finished"), (3, "failed")])
def test_the_exit_code_given_to_finish_is_recorded(instrumented, code, status):
    run = wandb.init(project="identity")
    run.finish(exit_code=code)
    [span] = spans_named(instrumented, attr.SPAN_RUN)
    assert (span.attributes[attr.RUN_EXIT_CODE], span.attributes[attr.RUN_STATUS]) == (code, status)


def test_the_exit_code_at_exit_is_the_one_w_and_b_hooked(instrumented, monkeypatch):
    run = wandb.init(project="identity")  # W&B's service hooks sys.exit when it starts
    hooks = getattr(sys.exit, "__self__", None)
    assert type(hooks).__name__ == "ExitHooks"
    monkeypatch.setattr(hooks, "exit_code", 7)
    assert wandb_exit_code() == 7
    run.finish()

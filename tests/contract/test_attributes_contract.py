"""The instrumentation writes, and the processor's decoder reads, the same attributes."""

from __future__ import annotations

import wandb
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from genops import attributes as attr
from genops_processor.ingest import decode_request


def written_keys(spans) -> set[str]:
    return {key for span in spans for key in span.attributes}


def test_every_attribute_written_is_declared_and_decoded(instrumented, tmp_path):
    run = wandb.init(project="contract", name="contract-run")
    for step in range(3):
        run.log({"step": step})
    (tmp_path / "f.bin").write_bytes(b"x" * 10)
    artifact = wandb.Artifact("data", type="dataset")
    artifact.add_file(str(tmp_path / "f.bin"))
    run.log_artifact(artifact)
    run.finish()
    spans = instrumented.get_finished_spans()

    declared = {
        value
        for name, value in vars(attr).items()
        if name.isupper()
        and isinstance(value, str)
        and "." in value
        and not name.startswith(("SPAN_", "STATUS_"))
    }
    assert written_keys(spans) <= declared
    assert {s.name for s in spans} == {attr.SPAN_RUN, attr.SPAN_HEARTBEAT, attr.SPAN_ARTIFACT}

    batch = decode_request(encode_spans(spans))
    assert batch.ignored_spans == 0
    final = [e for e in batch.usage if e.final]
    assert len(final) == 1
    event = final[0]
    assert (event.scope.team, event.scope.project) == ("contract-team", "contract-project")
    assert (event.hardware.gpu_type, event.hardware.gpu_count) == ("T4", 1)
    assert event.usage.log_calls == 3
    assert event.usage.artifact_bytes == 10
    assert event.usage.artifact_files == event.usage.artifact_count == 1
    assert event.run_id == run.id and event.run_name == "contract-run"
    assert event.wandb_project == "contract"
    assert event.status == attr.STATUS_FINISHED
    [run_span] = [s for s in spans if s.name == attr.SPAN_RUN]
    assert event.usage.as_of_ns == run_span.end_time
    [artifact_event] = batch.artifacts
    assert (artifact_event.name, artifact_event.type, artifact_event.bytes) == (
        "data",
        "dataset",
        10,
    )
    heartbeats = [e for e in batch.usage if not e.final]
    assert heartbeats and all(h.scope.team == "contract-team" for h in heartbeats)
    assert {e.span.run_key for e in batch.usage} == {event.span.run_key}

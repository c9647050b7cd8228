"""The same OTLP request delivered twice (a retry) leaves every total unchanged."""

from __future__ import annotations

import grpc
import wandb
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from genops_processor import storage


def test_duplicate_request_changes_no_totals(instrumented, processor, tmp_path):
    run = wandb.init(project="dup")
    for step in range(9):
        run.log({"step": step})
    (tmp_path / "w.bin").write_bytes(b"\0" * 777)
    artifact = wandb.Artifact("w", type="model")
    artifact.add_file(str(tmp_path / "w.bin"))
    run.log_artifact(artifact)
    run.finish()
    request = encode_spans(instrumented.get_finished_spans())
    span_count = len(instrumented.get_finished_spans())

    with processor.channel() as channel:
        export = trace_service_pb2_grpc.TraceServiceStub(channel).Export
        export(request, timeout=10, compression=grpc.Compression.Gzip)
        [first] = processor.runs()
        export(request, timeout=10, compression=grpc.Compression.Gzip)
        [second] = processor.runs()

    assert first.log_calls == 9 and first.artifact_bytes == 777 and first.cost_micros > 0
    assert second == first
    assert processor.stop() == 0
    with storage.Storage(processor.db, read_only=True) as db:
        stored = db.call(lambda conn: conn.execute("SELECT count(*) FROM spans").fetchone()[0])
        artifacts = db.call(lambda conn: conn.execute("SELECT count(*) FROM artifacts").fetchone())
    assert stored == span_count
    assert artifacts == (1,)

"""WandbInstrumentor on real wandb (offline), in process, spans captured in memory."""

from __future__ import annotations

import time

import pytest
import wandb
from opentelemetry.instrumentation.wandb import WandbInstrumentor
from opentelemetry.trace import StatusCode

from genops import attributes as attr
from genops.config import ConfigError
from genops.errors import BudgetExceededError


def by_name(exporter, name):
    return [s for s in exporter.get_finished_spans() if s.name == name]


@pytest.mark.heartbeat(30)
def test_log_creates_no_span(instrumented):
    run = wandb.init(project="unit")
    before = len(instrumented.get_finished_spans())
    for step in range(200):
        run.log({"step": step})
    assert len(instrumented.get_finished_spans()) == before
    run.finish()
    [span] = by_name(instrumented, attr.SPAN_RUN)
    assert span.attributes[attr.USAGE_LOG_CALLS] == 200


def test_heartbeats_carry_cumulative_usage_while_the_run_lives(instrumented):
    run = wandb.init(project="unit")
    for step in range(3):
        run.log({"step": step})
    time.sleep(0.7)
    alive = by_name(instrumented, attr.SPAN_HEARTBEAT)
    assert by_name(instrumented, attr.SPAN_RUN) == []  # still running
    assert len(alive) >= 2
    assert alive[-1].attributes[attr.USAGE_LOG_CALLS] == 3
    assert alive[-1].attributes[attr.RUN_STATUS] == attr.STATUS_RUNNING
    sequences = [h.attributes[attr.RUN_SEQUENCE] for h in alive]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    run_span_context = alive[-1].parent
    run.finish()
    [span] = by_name(instrumented, attr.SPAN_RUN)
    assert run_span_context.span_id == span.context.span_id
    count = len(by_name(instrumented, attr.SPAN_HEARTBEAT))
    time.sleep(0.5)
    assert len(by_name(instrumented, attr.SPAN_HEARTBEAT)) == count  # no beats after finish


def test_exception_inside_with_block_marks_the_run_failed(instrumented):
    with pytest.raises(KeyError):
        with wandb.init(project="unit") as run:
            run.log({"a": 1})
            raise KeyError("missing batch")
    [span] = by_name(instrumented, attr.SPAN_RUN)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[attr.RUN_STATUS] == attr.STATUS_FAILED
    assert "KeyError" in span.attributes[attr.RUN_ERROR]


def test_finish_with_nonzero_exit_code_is_failed(instrumented):
    run = wandb.init(project="unit")
    run.finish(exit_code=3)
    [span] = by_name(instrumented, attr.SPAN_RUN)
    assert span.attributes[attr.RUN_STATUS] == attr.STATUS_FAILED


def test_artifact_span_counts_bytes_and_files(instrumented, tmp_path):
    for name, size in (("a.bin", 100), ("b.bin", 23)):
        (tmp_path / name).write_bytes(b"\1" * size)
    run = wandb.init(project="unit")
    artifact = wandb.Artifact("two-files", type="dataset")
    artifact.add_file(str(tmp_path / "a.bin"))
    artifact.add_file(str(tmp_path / "b.bin"))
    run.log_artifact(artifact)
    run.log_artifact(str(tmp_path / "a.bin"), name="raw", type="raw")
    run.finish()
    first, second = by_name(instrumented, attr.SPAN_ARTIFACT)
    assert (first.attributes[attr.ARTIFACT_BYTES], first.attributes[attr.ARTIFACT_FILES]) == (
        123,
        2,
    )
    assert second.attributes[attr.ARTIFACT_BYTES] == 100
    [span] = by_name(instrumented, attr.SPAN_RUN)
    assert span.attributes[attr.USAGE_ARTIFACT_BYTES] == 223
    assert span.attributes[attr.USAGE_ARTIFACT_COUNT] == 2


def test_invalid_setting_raises_before_wandb_creates_a_run(instrumented, monkeypatch, tmp_path):
    monkeypatch.setenv("GENOPS_GPU_COUNT", "two")
    with pytest.raises(ConfigError, match="GENOPS_GPU_COUNT"):
        wandb.init(project="unit")
    assert not (tmp_path / "wandb").exists() or not list((tmp_path / "wandb").glob("offline-run-*"))
    assert instrumented.get_finished_spans() == ()


def test_uninstrument_restores_wandb(instrumented):
    WandbInstrumentor().uninstrument()
    try:
        run = wandb.init(project="unit")
        run.log({"a": 1})
        run.finish()
        assert instrumented.get_finished_spans() == ()
        assert not hasattr(wandb.init, "__wrapped__")
    finally:
        WandbInstrumentor().instrument(tracer_provider=None)


def test_budget_exceeded_error_is_a_value_error():
    assert issubclass(BudgetExceededError, ValueError)


def test_gpus_are_detected_through_nvidia_smi(monkeypatch, tmp_path):
    # No GPU on these machines: a stand-in `nvidia-smi` prints what a real one
    # prints for two A100 80GB cards. Only the executable is faked.
    from opentelemetry.instrumentation.wandb import hardware

    from genops.config import HardwareOverrides

    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'NVIDIA A100-SXM4-80GB'\necho 'NVIDIA A100-SXM4-80GB'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    hardware._detected_gpus.cache_clear()
    try:
        found = hardware.detect(HardwareOverrides(cpu_count=8))
    finally:
        hardware._detected_gpus.cache_clear()
    assert (found.gpu_type, found.gpu_count, found.gpu_source) == ("A100-80GB", 2, "nvidia-smi")
    assert found.cpu_count == 8


def test_hardware_is_detected_once_per_init_for_the_budget_check_and_the_run(
    instrumented, monkeypatch
):
    from opentelemetry.instrumentation.wandb import hardware
    from opentelemetry.instrumentation.wandb.budget_gate import BudgetGate

    detected, checked = [], []
    real_detect, real_check = hardware.detect, BudgetGate.check

    def detect(overrides):
        detected.append(real_detect(overrides))
        return detected[-1]

    def check(self, settings, wandb_kwargs, hw=None, accrued_ns=0):
        checked.append(hw)
        return real_check(self, settings, wandb_kwargs, hw, accrued_ns)

    monkeypatch.setattr(hardware, "detect", detect)
    monkeypatch.setattr(BudgetGate, "check", check)
    wandb.init(project="unit").finish()
    assert len(detected) == 1 and checked == detected
    [span] = by_name(instrumented, attr.SPAN_RUN)
    assert (span.attributes[attr.HW_GPU_TYPE], span.attributes[attr.HW_GPU_COUNT]) == ("T4", 1)

"""An unchanged W&B script under `opentelemetry-instrument` ends up priced in DuckDB.

Everything here is real: the processor is a subprocess on 127.0.0.1, wandb
runs offline in a subprocess, the ledger is a DuckDB file in a temp dir.
"""

from __future__ import annotations

import pytest

from tests.helpers import expected_cost_micros, governed_env, run_training


def only_run(processor):
    runs = processor.runs()
    assert len(runs) == 1, runs
    return runs[0]


def test_plain_script_is_attributed_measured_and_priced_exactly(processor, tmp_path):
    env = governed_env(processor.endpoint, LOG_CALLS="25", ARTIFACT_BYTES="12345")
    training = run_training("train_basic.py", tmp_path / "job", env)
    assert training.returncode == 0, training.result.stderr
    run = only_run(processor)

    assert (run.scope.team, run.scope.project, run.scope.customer_id) == (
        "ml-team",
        "churn",
        "acme",
    )
    assert (run.scope.cost_center, run.scope.environment) == ("cc-42", "staging")
    assert run.status == "finished"
    assert abs(run.duration_ns / 1e9 - training.wall_s) <= 1.0, (run.duration_ns, training.wall_s)
    assert run.log_calls == 25
    assert run.artifact_bytes == 12345
    assert run.artifact_files == 1
    assert (run.gpu_type, run.gpu_count, run.cpu_count) == ("T4", 2, 4)
    assert run.cost_micros == expected_cost_micros(run)
    assert run.cost_micros > 0


def test_attribution_can_come_from_otel_resource_attributes(processor, tmp_path):
    env = governed_env(
        processor.endpoint,
        TRAIN_SECONDS="0.3",
        OTEL_RESOURCE_ATTRIBUTES="genops.team=vision,genops.customer_id=globex,"
        "deployment.environment=prod",
    )
    for key in ("GENOPS_TEAM", "GENOPS_CUSTOMER_ID", "GENOPS_ENVIRONMENT"):
        del env[key]
    training = run_training("train_basic.py", tmp_path / "job", env)
    assert training.returncode == 0, training.result.stderr
    run = only_run(processor)
    assert (run.scope.team, run.scope.customer_id, run.scope.environment) == (
        "vision",
        "globex",
        "prod",
    )
    assert run.scope.project == "churn"  # GENOPS_PROJECT still set


def test_context_manager_run_is_recorded(processor, tmp_path):
    env = governed_env(processor.endpoint, LOG_CALLS="7")
    training = run_training("train_context_manager.py", tmp_path / "job", env)
    assert training.returncode == 0, training.result.stderr
    run = only_run(processor)
    assert run.status == "finished"
    assert run.log_calls == 7
    assert abs(run.duration_ns / 1e9 - training.wall_s) <= 1.0
    assert run.cost_micros == expected_cost_micros(run)


def test_script_that_raises_is_failed_and_still_costs(processor, tmp_path):
    training = run_training("train_raises.py", tmp_path / "job", governed_env(processor.endpoint))
    assert training.returncode == 1
    assert "diverged at step 5" in training.result.stderr
    run = only_run(processor)
    assert run.status == "failed"
    assert run.log_calls == 5
    assert abs(run.duration_ns / 1e9 - training.wall_s) <= 1.0
    assert run.cost_micros == expected_cost_micros(run) > 0


def test_run_never_finished_is_closed_at_exit(processor, tmp_path):
    training = run_training(
        "train_unfinished.py", tmp_path / "job", governed_env(processor.endpoint)
    )
    assert training.returncode == 0, training.result.stderr
    run = only_run(processor)
    assert run.status == "finished"
    assert run.log_calls == 4
    assert abs(run.duration_ns / 1e9 - training.wall_s) <= 1.0
    assert run.cost_micros == expected_cost_micros(run)


def test_two_runs_in_one_process_are_two_priced_runs(processor, tmp_path):
    training = run_training("train_two_runs.py", tmp_path / "job", governed_env(processor.endpoint))
    assert training.returncode == 0, training.result.stderr
    runs = sorted(processor.runs(), key=lambda r: r.started_at)
    assert [r.run_name for r in runs] == ["first", "second"]
    assert [r.log_calls for r in runs] == [3, 6]
    assert all(r.status == "finished" for r in runs)
    assert len({r.run_key for r in runs}) == 2
    # The second run's compute starts where the first ended: no time is billed twice.
    assert runs[0].ended_at <= runs[1].started_at
    total_s = sum(r.duration_ns for r in runs) / 1e9
    assert abs(total_s - training.wall_s) <= 1.0
    for run in runs:
        assert run.cost_micros == expected_cost_micros(run)


@pytest.mark.parametrize("value", ["wandb", "requests,wandb"])
def test_disabled_instrumentation_emits_nothing(processor, tmp_path, value):
    env = governed_env(processor.endpoint, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=value)
    training = run_training("train_basic.py", tmp_path / "job", env)
    assert training.returncode == 0, training.result.stderr
    assert processor.runs() == []
    assert processor.spans_received() == 0

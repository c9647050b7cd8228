"""One W&B run is one ledger row, whatever span is current when it starts."""

from __future__ import annotations

from tests.helpers import expected_cost_micros, governed_env, run_training


def run_ids(stdout: str) -> dict[str, str]:
    """{"run-a": id, "run-b": id} from the script's "run NAME ID" lines."""
    return {
        line.split()[1]: line.split()[2] for line in stdout.splitlines() if line.startswith("run ")
    }


def test_two_runs_inside_one_user_span_are_two_rows_each_exact(processor, tmp_path):
    # The script sets its own tracer provider and opens both runs inside its span.
    env = governed_env(processor.endpoint, USER_PROVIDER="console")
    training = run_training("user_span_two_runs.py", tmp_path / "job", env)
    assert training.returncode == 0, training.result.stderr
    ids = run_ids(training.result.stdout)

    rows = {run.run_id: run for run in processor.runs()}
    assert sorted(rows) == sorted(ids.values()), rows
    for name, log_calls in (("run-a", 3), ("run-b", 7)):
        run = rows[ids[name]]
        assert run.run_key.startswith(f"{run.run_id}:"), run.run_key
        assert (run.status, run.log_calls) == ("finished", log_calls)
        assert run.cost_micros == expected_cost_micros(run) > 0
    assert len({run.run_key for run in rows.values()}) == 2

"""A running run is stopped when it would pass an enforced budget (real runs)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from tests.helpers import SCRIPTS, governed_env, run_training

# T4 x2 at $36/h + 4 vCPU at $3.60/h (round catalog): $0.024 per second.
RATE_PER_S = Decimal("0.024")
LIMIT = Decimal("0.20")
POLICY = """
budgets:
  - {name: tight, scope: {team: ml-team}, daily_limit: "0.20", mode: %s}
"""


def test_enforced_budget_stops_the_run_after_the_users_hook(start_processor_with, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY % "enforced")
    processor = start_processor_with("--policy", str(policy))
    checkpoint = tmp_path / "checkpoint.txt"
    env = governed_env(
        processor.endpoint,
        GENOPS_MAX_EXPERIMENT_COST="0.05",
        GENOPS_HEARTBEAT_INTERVAL="1",
        GENOPS_ON_BUDGET_EXCEEDED="budget_hook:on_budget_exceeded",
        PYTHONPATH=str(SCRIPTS),
        CHECKPOINT_FILE=str(checkpoint),
        MAX_SECONDS="60",
    )
    training = run_training("train_long.py", tmp_path / "job", env)
    assert training.returncode != 0
    assert "BudgetExceededError: run stopped: budget 'tight' (enforced)" in training.result.stderr
    assert "finished without being stopped" not in training.result.stdout
    hook_ns = int(checkpoint.read_text().split()[0])  # the hook ran
    [run] = processor.runs()
    assert run.status == "failed"
    cost = Decimal(run.cost_micros) / 1_000_000
    crossing_s = LIMIT / RATE_PER_S  # seconds of compute at which the budget is passed
    stopped_s = Decimal(run.duration_ns) / 10**9
    assert stopped_s - crossing_s <= 1 + 1  # within one heartbeat interval plus a second
    assert cost - LIMIT <= RATE_PER_S * 1  # overshoot at most one heartbeat's cost
    # The hook ran before the run was finished (the run's end is its last usage report).
    ended_ns = int(dt.datetime.fromisoformat(run.ended_at).timestamp() * 1e9)
    assert hook_ns <= ended_ns
    assert "budget 'tight' (enforced) exceeded" in checkpoint.read_text()


def test_advisory_budget_warns_once_and_the_run_goes_on(start_processor_with, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY % "advisory")
    processor = start_processor_with("--policy", str(policy))
    env = governed_env(
        processor.endpoint,
        GENOPS_MAX_EXPERIMENT_COST="0.05",
        GENOPS_HEARTBEAT_INTERVAL="1",
        MAX_SECONDS="12",
    )
    training = run_training("train_long.py", tmp_path / "job", env)
    assert training.returncode == 0, training.result.stderr
    assert training.result.stderr.count("BudgetWarning") == 1
    [run] = processor.runs()
    assert run.status == "finished" and Decimal(run.cost_micros) / 1_000_000 > LIMIT

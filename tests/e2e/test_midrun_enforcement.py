"""A running run is stopped when it would pass an enforced budget (real runs)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

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


@pytest.mark.parametrize(
    ("heartbeat_s", "gpus"),
    [
        (1, 9),  # $0.094 a second: one heartbeat fits the $0.10 limit, the start-up does not
        (5, 1),  # $0.011 a second: the run gets about nine seconds
    ],
)
def test_an_estimated_run_never_passes_the_limit_by_more_than_one_heartbeat(
    start_processor_with, tmp_path, heartbeat_s, gpus
):
    """No declared maximum: the first hold covers the compute accrued before wandb.init
    (from the process start, a couple of seconds) plus one heartbeat; each check holds
    until the next one. A run whose start-up alone would pass the limit is refused."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.replace('"0.20"', '"0.10"') % "enforced")
    processor = start_processor_with("--policy", str(policy))
    rate_per_s = (Decimal(36) * gpus + Decimal("3.6") * 4) / 3600  # T4s and 4 vCPUs
    env = governed_env(
        processor.endpoint,
        GENOPS_GPU_COUNT=str(gpus),
        GENOPS_HEARTBEAT_INTERVAL=str(heartbeat_s),
        MAX_SECONDS="60",
    )
    training = run_training("train_long.py", tmp_path / "job", env)
    assert training.returncode != 0, training.result.stdout
    assert "BudgetExceededError" in training.result.stderr
    runs = processor.runs()
    cost = sum((Decimal(r.cost_micros) for r in runs), Decimal(0)) / 1_000_000
    one_heartbeat = rate_per_s * heartbeat_s
    outcome = f"stopped after {runs[0].duration_ns / 1e9:.1f} s" if runs else "refused at start"
    print(
        f"heartbeat {heartbeat_s} s at ${rate_per_s:.4f}/s: {outcome}, cost ${cost:.6f} "
        f"(limit $0.10, one heartbeat ${one_heartbeat:.6f}, "
        f"overshoot ${max(Decimal(0), cost - Decimal('0.10')):.6f})"
    )
    assert cost <= Decimal("0.10") + one_heartbeat

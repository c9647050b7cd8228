"""Budgets are asked before a run starts: enforced denies, advisory warns, audit-only records."""

from __future__ import annotations

from genops_processor import storage
from genops_processor.budgets import decisions
from tests.helpers import governed_env, run_training

POLICY = """
budgets:
  - name: ml-team-daily
    scope: {{team: ml-team}}
    daily_limit: "0.01"
    mode: {mode}
"""


def spend_then_try_again(start_processor_with, tmp_path, mode):
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(mode=mode))
    processor = start_processor_with("--policy", str(policy))
    # These runs reserve nothing at start (GENOPS_RESERVATION_HOURS=0): the first one
    # must be allowed to spend past the tiny budget, which its start reservation (one
    # heartbeat interval of its hardware, $0.36) would not fit in.
    env = governed_env(
        processor.endpoint, TRAIN_SECONDS="0.5", LOG_CALLS="5", GENOPS_RESERVATION_HOURS="0"
    )
    first = run_training("train_basic.py", tmp_path / "first", env)
    assert first.returncode == 0, first.result.stderr
    spent = processor.runs()[0].cost_micros
    assert spent > 10_000, "the first run must exhaust the $0.01 budget"
    second = run_training("train_basic.py", tmp_path / "second", env)
    return processor, spent, second


def test_enforced_budget_stops_the_run_before_wandb_creates_it(start_processor_with, tmp_path):
    processor, spent, second = spend_then_try_again(start_processor_with, tmp_path, "enforced")
    assert second.returncode != 0
    stderr = second.result.stderr
    assert "BudgetExceededError" in stderr
    assert "budget 'ml-team-daily' exceeded" in stderr
    assert "limit $0.01" in stderr
    assert f"spent ${spent / 1e6:.6f}".rstrip("0") in stderr
    assert "requested $0.00" in stderr
    assert second.wandb_run_dirs() == []
    assert len(processor.runs()) == 1


def test_enforced_denial_names_the_requested_amount(start_processor_with, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(mode="enforced").replace('"0.01"', '"5.00"'))
    processor = start_processor_with("--policy", str(policy))
    env = governed_env(processor.endpoint, GENOPS_MAX_EXPERIMENT_COST="7.5")
    training = run_training("train_basic.py", tmp_path / "job", env)
    assert training.returncode != 0
    assert "limit $5.00, spent $0.00, requested $7.50" in training.result.stderr
    assert training.wandb_run_dirs() == []


def test_advisory_budget_warns_and_the_run_completes(start_processor_with, tmp_path):
    processor, _spent, second = spend_then_try_again(start_processor_with, tmp_path, "advisory")
    assert second.returncode == 0, second.result.stderr
    assert "advisory budget 'ml-team-daily' exceeded" in second.result.stderr
    assert "BudgetWarning" in second.result.stderr
    assert len(second.wandb_run_dirs()) == 1
    assert len(processor.runs()) == 2


def test_audit_only_budget_records_the_decision_and_the_run_completes(
    start_processor_with, tmp_path
):
    processor, _spent, second = spend_then_try_again(start_processor_with, tmp_path, "audit_only")
    assert second.returncode == 0, second.result.stderr
    assert "budget" not in second.result.stderr.lower()
    assert len(processor.runs()) == 2
    assert processor.stop() == 0
    with storage.Storage(processor.db, read_only=True) as db:
        logged = db.call(decisions.list_decisions)
    assert [d["decision"] for d in logged] == ["allow", "allow"]
    first, last = logged
    assert first["budget_name"] is None  # within budget
    assert last["budget_name"] == "ml-team-daily"
    assert last["budget_mode"] == "audit_only"
    assert last["spent_micros"] > last["limit_micros"] == 10_000
    assert (last["team"], last["project"]) == ("ml-team", "churn")


def test_client_declared_limit_tightens_an_unlimited_policy(start_processor_with, tmp_path):
    processor = start_processor_with()  # no policy at all
    env = governed_env(
        processor.endpoint,
        TRAIN_SECONDS="0.5",
        GENOPS_DAILY_BUDGET_LIMIT="0.01",
        GENOPS_GOVERNANCE_POLICY="enforced",
        GENOPS_RESERVATION_HOURS="0",  # no start reservation: the first run spends the $0.01
    )
    first = run_training("train_basic.py", tmp_path / "first", env)
    assert first.returncode == 0, first.result.stderr
    second = run_training("train_basic.py", tmp_path / "second", env)
    assert second.returncode != 0
    assert "budget 'client:ml-team/churn' exceeded" in second.result.stderr


def test_fail_closed_refuses_when_the_processor_is_unreachable(tmp_path, unused_port):
    env = governed_env(f"127.0.0.1:{unused_port}", GENOPS_BUDGET_FAIL_MODE="closed")
    training = run_training("train_basic.py", tmp_path / "job", env)
    assert training.returncode != 0
    assert "GENOPS_BUDGET_FAIL_MODE=closed" in training.result.stderr
    assert training.wandb_run_dirs() == []

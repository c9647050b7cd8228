"""A run that declares no maximum reserves its hardware's catalog cost at its start
(real processor, real training subprocesses, the round-rate catalog)."""

from __future__ import annotations

from decimal import Decimal

import grpc
import pytest

from genops.governance.v1 import governance_pb2 as pb
from genops_processor import storage
from genops_processor.budgets import decisions, reservations
from tests.helpers import ROUND_RATES, governed_env, run_training

# governed_env: GENOPS_GPU_TYPE=T4, GENOPS_GPU_COUNT=2, GENOPS_CPU_COUNT=4; no max cost.
GPUS, CPUS = 2, 4
SMALL_POLICY = """
budgets:
  - {name: small, scope: {team: ml-team}, daily_limit: "40", mode: enforced}
"""


def by_hand(hours: Decimal) -> int:
    """hours x devices x hourly rate, one line for the GPUs, one for the vCPUs."""
    dollars = hours * GPUS * ROUND_RATES["T4"] + hours * CPUS * ROUND_RATES["vcpu"]
    return int(dollars * 1_000_000)


def ledger(processor):
    assert processor.stop() == 0
    with storage.Storage(processor.db, read_only=True) as db:
        return db.call(reservations.holds), db.call(decisions.list_decisions)


def test_reservation_hours_of_the_run_s_hardware_are_held_at_start(processor, tmp_path):
    env = governed_env(processor.endpoint, GENOPS_RESERVATION_HOURS="0.5", TRAIN_SECONDS="0.2")
    assert "GENOPS_MAX_EXPERIMENT_COST" not in env
    training = run_training("train_basic.py", tmp_path / "job", env)
    assert training.returncode == 0, training.result.stderr
    [run] = processor.runs()
    holds, logged = ledger(processor)
    expected = by_hand(Decimal("0.5"))
    assert expected == 43_200_000  # 0.5 h x (2 x $36 + 4 x $3.60)
    [decision] = logged
    assert (decision["decision"], decision["requested_micros"]) == ("allow", expected)
    [hold] = holds
    assert hold["decision_id"] == decision["decision_id"]
    assert hold["amount_micros"] == expected
    # The run's end commits what it really cost, not the estimate.
    assert hold["status"] == "committed"
    assert hold["committed_micros"] == run.cost_micros < expected


def test_an_enforced_budget_smaller_than_the_estimate_refuses_the_run(
    start_processor_with, tmp_path
):
    policy = tmp_path / "policy.yaml"
    policy.write_text(SMALL_POLICY)
    processor = start_processor_with("--policy", str(policy))
    env = governed_env(processor.endpoint, GENOPS_RESERVATION_HOURS="0.5")
    training = run_training("train_basic.py", tmp_path / "job", env)
    assert training.returncode != 0
    assert "BudgetExceededError" in training.result.stderr
    assert "budget 'small' exceeded" in training.result.stderr
    assert "limit $40.00, spent $0.00, requested $43.20" in training.result.stderr
    assert training.wandb_run_dirs() == []
    assert processor.runs() == []
    holds, logged = ledger(processor)
    assert holds == []
    assert [(d["decision"], d["requested_micros"]) for d in logged] == [("deny", 43_200_000)]


def test_without_reservation_hours_the_accrued_compute_and_one_heartbeat_are_held(
    processor, tmp_path
):
    """The hardware is billed from the process start: the first hold covers that, up to
    wandb.init, and one heartbeat interval more (the run's first check may extend it)."""
    # The run ends long before its first check (10 s), which could extend the hold.
    env = governed_env(processor.endpoint, GENOPS_HEARTBEAT_INTERVAL="10", TRAIN_SECONDS="0.2")
    training = run_training("train_basic.py", tmp_path / "job", env)
    assert training.returncode == 0, training.result.stderr
    holds, logged = ledger(processor)
    one_heartbeat = by_hand(Decimal(10) / 3600)
    assert one_heartbeat == 240_000  # 10 s x $0.024/s
    at_most = by_hand((Decimal(10) + Decimal(str(training.wall_s))) / 3600)
    [requested] = [d["requested_micros"] for d in logged]
    assert one_heartbeat < requested <= at_most  # the start-up is held too
    [hold] = holds
    assert hold["amount_micros"] == requested
    assert hold["status"] == "committed"


def test_zero_reservation_hours_reserves_nothing_at_start(processor, tmp_path):
    env = governed_env(processor.endpoint, GENOPS_RESERVATION_HOURS="0", TRAIN_SECONDS="0.2")
    training = run_training("train_basic.py", tmp_path / "job", env)
    assert training.returncode == 0, training.result.stderr
    holds, logged = ledger(processor)
    assert [d["requested_micros"] for d in logged] == [0]
    assert holds == []


def test_a_bad_reservation_hours_value_stops_wandb_init(processor, tmp_path):
    env = governed_env(processor.endpoint, GENOPS_RESERVATION_HOURS="-2")
    training = run_training("train_basic.py", tmp_path / "job", env)
    assert training.returncode != 0
    assert "ConfigError: invalid GENOPS_RESERVATION_HOURS='-2'" in training.result.stderr
    assert training.wandb_run_dirs() == []


def test_the_api_prices_an_estimate_only_when_no_maximum_is_declared(processor):
    stub = processor.stub()
    estimate = pb.RunEstimate(gpu_type="T4", gpu_count=2, cpu_count=4, horizon_ns=3600 * 10**9)

    def ask(**fields) -> pb.CheckBudgetResponse:
        request = pb.CheckBudgetRequest(scope=pb.Scope(team="api"), **fields)
        return stub.CheckBudget(request, timeout=10)

    priced = ask(estimate=estimate)
    assert priced.requested_micros == by_hand(Decimal(1)) == 86_400_000 and priced.hold_id
    declared = ask(requested_micros=7_000_000, estimate=estimate)
    assert declared.requested_micros == 7_000_000  # a declared maximum wins
    estimate.region = "nowhere"  # no price there: nothing to reserve
    unpriced = ask(estimate=estimate)
    assert (unpriced.requested_micros, unpriced.hold_id) == (0, "")
    estimate.region, estimate.catalog_version = "", "no-such-version"
    assert ask(estimate=estimate).requested_micros == 0
    with pytest.raises(grpc.RpcError) as caught:
        ask(estimate=pb.RunEstimate(gpu_count=-1, horizon_ns=1))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT

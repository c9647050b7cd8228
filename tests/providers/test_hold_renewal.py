"""An experiment block keeps its reservation open while it runs, however long, and gives
it back at exit: the adapter in this interpreter against a real genops-processor whose
hold timeout is 2 s (its sweeper expires holds nobody reports on or renews)."""

from __future__ import annotations

import logging
import os
import time

import pytest

from genops.adapter import GenOpsWandbAdapter
from genops.governance.v1 import governance_pb2 as pb
from genops_processor import storage
from genops_processor.budgets import reservations
from tests.helpers import token_of

POLICY = """
budgets:
  - {name: experiments, scope: {team: t}, daily_limit: "100", mode: enforced}
  - {name: control, scope: {team: control}, daily_limit: "100", mode: enforced}
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No GENOPS_/OTEL_/WANDB_ variables, HOME = tmp_path, heartbeats every second."""
    for name in list(os.environ):
        if name.startswith(("GENOPS_", "OTEL_", "WANDB_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GENOPS_HEARTBEAT_INTERVAL", "1")
    return monkeypatch


@pytest.fixture
def governed(start_processor_with, tmp_path, clean_env):
    """A processor with a 2 s hold timeout, and an adapter pointed at it."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    processor = start_processor_with("--policy", str(policy), "--hold-timeout", "2")
    clean_env.setenv("GENOPS_ENDPOINT", processor.endpoint)
    clean_env.setenv("GENOPS_TOKEN", token_of("trainer"))
    adapter = GenOpsWandbAdapter(
        team="t", project="p", governance_policy="enforced", retry_attempts=0
    )
    yield processor, adapter
    adapter.cleanup()


def spent(processor, team: str) -> int:
    [state] = (
        processor.stub()
        .GetBudgetStatus(pb.GetBudgetStatusRequest(scope=pb.Scope(team=team)), timeout=10)
        .budgets
    )
    return state.spent_micros


def wait_for(condition, what: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_a_block_longer_than_the_hold_timeout_keeps_its_hold_until_exit(governed):
    processor, adapter = governed
    with adapter.track_experiment_lifecycle("long", max_cost=5) as experiment:
        assert experiment.hold_id
        # A control hold, made after the block's and never renewed, must expire first.
        control = processor.stub().CheckBudget(
            pb.CheckBudgetRequest(scope=pb.Scope(team="control"), requested_micros=1_000_000),
            timeout=10,
        )
        assert control.hold_id and spent(processor, "control") == 1_000_000
        wait_for(lambda: spent(processor, "control") == 0, "the control hold to expire")
        # Older than the control hold and past the timeout: still held, thanks to renewals.
        assert spent(processor, "t") == 5_000_000
        renewal = experiment.hold_renewal
        assert renewal.renewals >= 2 and not renewal.closed
    assert experiment.status == "finished"
    assert spent(processor, "t") == 0  # given back at exit
    renewal.stop(wait_s=5)
    assert not renewal.running
    assert processor.stop() == 0
    with storage.Storage(processor.db, read_only=True) as db:
        holds = {h["hold_id"]: h for h in db.call(reservations.holds)}
    mine, theirs = holds[experiment.hold_id], holds[control.hold_id]
    assert (mine["status"], mine["committed_micros"]) == ("released", 0)
    assert theirs["status"] == "expired"
    assert mine["last_seen_ns"] - mine["created_ns"] > 2e9  # renewed past the timeout


def test_renewal_stops_when_the_processor_says_the_hold_is_gone(governed, caplog):
    processor, adapter = governed
    stub = processor.stub()
    unknown = stub.RenewHold(pb.RenewHoldRequest(hold_id="no-such-hold"), timeout=10)
    assert (unknown.open, unknown.amount_micros, unknown.timeout_s) == (False, 0, 2.0)
    with caplog.at_level(logging.WARNING, logger="genops"):
        with adapter.track_experiment_lifecycle("gone", max_cost=5) as experiment:
            renewal = experiment.hold_renewal
            wait_for(lambda: renewal.renewals >= 1, "a first renewal")
            answer = stub.RenewHold(pb.RenewHoldRequest(hold_id=experiment.hold_id), timeout=10)
            assert (answer.open, answer.amount_micros) == (True, 5_000_000)
            # The hold goes away under the block (an operator, or a sweeper that got there
            # first): the next renewal hears it is no longer open.
            assert stub.ReleaseHold(pb.ReleaseHoldRequest(hold_id=experiment.hold_id)).released
            wait_for(lambda: not renewal.running, "the renewals to stop")
            assert renewal.closed
    assert experiment.status == "finished"  # nothing was raised into the block
    gone = [r for r in caplog.records if "no longer open" in r.getMessage()]
    assert len(gone) == 1 and gone[0].levelno == logging.WARNING
    assert "experiment 'gone'" in gone[0].getMessage()


def test_renewal_failures_are_logged_once_and_retried(governed, caplog):
    processor, adapter = governed
    with caplog.at_level(logging.WARNING, logger="genops"):
        with adapter.track_experiment_lifecycle("offline", max_cost=5) as experiment:
            renewal = experiment.hold_renewal
            wait_for(lambda: renewal.renewals >= 1, "a first renewal")
            assert processor.stop() == 0
            attempts = adapter.client.calls
            wait_for(lambda: adapter.client.calls >= attempts + 3, "three failed renewals")
            assert renewal.running and not renewal.closed
    assert experiment.status == "finished"
    failed = [r for r in caplog.records if "could not renew" in r.getMessage()]
    assert len(failed) == 1 and failed[0].levelno == logging.WARNING

"""Processor down: fail-closed denies, fail-open proceeds, and both decisions reach the
audit trail once the processor is back."""

from __future__ import annotations

from genops_processor import storage
from genops_processor.budgets import decisions
from genops_processor.record import audit_events
from tests.helpers import governed_env, run_training


def test_decisions_taken_alone_are_audited_when_the_processor_is_back(
    start_processor_with, tmp_path, unused_port
):
    endpoint = f"127.0.0.1:{unused_port}"
    spool = tmp_path / "spool.jsonl"
    env = governed_env(endpoint, GENOPS_OFFLINE_SPOOL=str(spool), TRAIN_SECONDS="0.2")
    closed = run_training(
        "train_basic.py", tmp_path / "closed", {**env, "GENOPS_BUDGET_FAIL_MODE": "closed"}
    )
    assert closed.returncode != 0 and "GENOPS_BUDGET_FAIL_MODE=closed" in closed.result.stderr
    assert closed.wandb_run_dirs() == []
    opened = run_training("train_basic.py", tmp_path / "open", env)
    assert opened.returncode == 0, opened.result.stderr
    assert len(spool.read_text().splitlines()) == 2

    processor = start_processor_with("--listen", endpoint)  # back, on the same address
    later = run_training("train_basic.py", tmp_path / "later", env)
    assert later.returncode == 0, later.result.stderr
    assert not spool.exists()  # reported, so forgotten
    assert processor.stop() == 0
    with storage.Storage(processor.db, read_only=True) as db:
        logged = db.call(decisions.list_decisions)
        audited = db.call(lambda c: audit_events(c, "decision.offline"))
    offline = [d for d in logged if "decided by the client alone" in (d["message"] or "")]
    assert sorted(d["decision"] for d in offline) == ["allow", "deny"]
    assert {d["team"] for d in offline} == {"ml-team"}
    assert any("fail mode closed" in d["message"] for d in offline if d["decision"] == "deny")
    assert len(audited) == 2
    assert len(logged) == 3  # and the live decision of the last run


def test_a_budget_that_fails_closed_refuses_runs_while_the_processor_is_away(
    start_processor_with, tmp_path, unused_port
):
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "budgets:\n  - {name: strict, scope: {team: ml-team}, daily_limit: 100,"
        " fail_mode: closed}\n"
    )
    endpoint = f"127.0.0.1:{unused_port}"
    processor = start_processor_with("--policy", str(policy), "--listen", endpoint)
    env = governed_env(endpoint, TRAIN_SECONDS="0.2")  # the client's own fail mode: open
    first = run_training("train_basic.py", tmp_path / "first", env)
    assert first.returncode == 0, first.result.stderr  # learns: this scope fails closed
    assert processor.stop() == 0
    second = run_training("train_basic.py", tmp_path / "second", env)
    assert second.returncode != 0
    assert "a budget of this scope fails closed" in second.result.stderr
    assert second.wandb_run_dirs() == []

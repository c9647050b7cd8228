"""Approvals: a production run waits for a person; approve, deny, or time out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from genops_processor import storage
from genops_processor.record import audit_events
from tests.helpers import BIN, SCRIPTS, governed_env, token_of

POLICY = """
approvals:
  - {scope: {environment: production}, timeout_s: %s}
"""


def start_waiting_run(processor, tmp_path, name):
    env = governed_env(
        processor.endpoint,
        GENOPS_ENVIRONMENT="production",
        TRAIN_SECONDS="0.2",
        GENOPS_MAX_EXPERIMENT_COST="1",
    )
    cwd = tmp_path / name
    cwd.mkdir()
    return subprocess.Popen(
        [str(BIN / "opentelemetry-instrument"), sys.executable, str(SCRIPTS / "train_basic.py")],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def genops(*args, as_: str = "admin"):
    """``genops`` authenticated as a test principal (approve/deny: the approver)."""
    env = dict(os.environ, GENOPS_TOKEN=token_of(as_))
    return subprocess.run(
        [str(BIN / "genops"), *args], capture_output=True, text=True, timeout=60, env=env
    )


def pending_id(processor) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rows = json.loads(genops("approvals", "--endpoint", processor.endpoint, "--json").stdout)
        if rows:
            return rows[0]["approval_id"]
        time.sleep(0.2)
    raise AssertionError("no pending approval appeared")


def finish(proc):
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def test_approved_run_starts_and_every_step_is_audited(start_processor_with, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY % 300)
    processor = start_processor_with("--policy", str(policy))
    proc = start_waiting_run(processor, tmp_path, "approved")
    approval_id = pending_id(processor)
    assert processor.runs() == []  # nothing runs while it waits
    result = genops(
        "approve", approval_id, "--endpoint", processor.endpoint, "--actor", "lead", as_="approver"
    )
    # the decider is who authenticated, not the --actor it reports
    assert f"approval {approval_id}: approved by approver" in result.stdout
    code, out, err = finish(proc)
    assert code == 0, err
    assert f"waits for approval {approval_id}" in err
    [run] = processor.runs()
    assert run.status == "finished" and run.scope.environment == "production"
    assert processor.stop() == 0
    with storage.Storage(processor.db, read_only=True) as db:
        kinds = [e["kind"] for e in db.call(audit_events) if e["kind"].startswith("approval.")]
    assert kinds == ["approval.requested", "approval.approved"]


def test_denied_run_raises(start_processor_with, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY % 300)
    processor = start_processor_with("--policy", str(policy))
    proc = start_waiting_run(processor, tmp_path, "denied")
    approval_id = pending_id(processor)
    genops(
        "deny",
        approval_id,
        "--endpoint",
        processor.endpoint,
        "--actor",
        "lead",
        "--reason",
        "no budget this week",
        as_="approver",
    )
    code, _out, err = finish(proc)
    assert code != 0
    denied = f"approval {approval_id} denied by approver: no budget this week"
    assert f"ApprovalDeniedError: {denied}" in err
    assert processor.runs() == []
    again = genops("approve", approval_id, "--endpoint", processor.endpoint, as_="approver")
    assert again.returncode == 1 and "is denied, not pending" in again.stderr


def test_undecided_run_times_out(start_processor_with, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY % 2)
    processor = start_processor_with("--policy", str(policy))
    proc = start_waiting_run(processor, tmp_path, "timeout")
    code, _out, err = finish(proc)
    assert code != 0
    assert "ApprovalTimeoutError" in err and "was not given in time (2 s)" in err
    assert processor.runs() == []
    rows = json.loads(
        genops(
            "approvals", "--endpoint", processor.endpoint, "--status", "timed_out", "--json"
        ).stdout
    )
    assert len(rows) == 1

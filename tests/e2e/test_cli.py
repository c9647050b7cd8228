"""The command lines: `genops report` (endpoint and file) and `genops-processor` errors."""

from __future__ import annotations

import json
import subprocess

from tests.helpers import BIN, governed_env, run_training

REQUIRED = {
    "run_id",
    "team",
    "project",
    "customer_id",
    "cost_center",
    "environment",
    "status",
    "duration_s",
    "log_calls",
    "artifact_bytes",
    "cost_usd",
}


def genops(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "genops"), *args], capture_output=True, text=True, timeout=60)


def test_report_json_from_the_endpoint_and_from_the_file_agree(processor, tmp_path):
    env = governed_env(processor.endpoint, LOG_CALLS="4", TRAIN_SECONDS="0.4")
    assert run_training("train_basic.py", tmp_path / "job", env).returncode == 0
    live = genops("report", "--endpoint", processor.endpoint, "--json")
    assert live.returncode == 0, live.stderr
    [row] = json.loads(live.stdout)
    assert REQUIRED <= set(row)
    assert (row["team"], row["project"], row["status"], row["log_calls"]) == (
        "ml-team",
        "churn",
        "finished",
        4,
    )
    assert row["cost_usd"] == row["cost_micros"] / 1_000_000
    table = genops("report", "--endpoint", processor.endpoint)
    assert "Cost by team" in table.stdout and "ml-team" in table.stdout

    assert processor.stop() == 0
    offline = genops("report", "--db", str(processor.db), "--json")
    assert offline.returncode == 0, offline.stderr
    assert json.loads(offline.stdout) == [row]


def test_report_without_a_processor_says_so(unused_port):
    result = genops("report", "--endpoint", f"127.0.0.1:{unused_port}")
    assert result.returncode == 1
    assert "cannot reach the processor" in result.stderr
    assert "Traceback" not in result.stderr


def test_processor_rejects_a_policy_with_a_typo(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("budgets:\n  - name: b\n    daily_limt: 5\n")
    result = subprocess.run(
        [
            str(BIN / "genops-processor"),
            "--db",
            str(tmp_path / "x.duckdb"),
            "--listen",
            "127.0.0.1:0",
            "--policy",
            str(policy),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "daily_limt" in result.stderr

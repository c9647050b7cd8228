"""Budgets changed through the admin API are versioned, audited and in force at once."""

from __future__ import annotations

import datetime as dt
import json
import subprocess

from genops.governance.v1 import governance_pb2 as pb
from genops_processor import storage
from genops_processor.record import audit_events
from tests.helpers import BIN, governed_env, run_training


def genops(*args):
    return subprocess.run([str(BIN / "genops"), *args], capture_output=True, text=True, timeout=60)


def test_set_show_and_enforce_a_new_budget(processor, tmp_path):
    shown = json.loads(genops("budgets", "show", "--endpoint", processor.endpoint, "--json").stdout)
    assert shown["version"] == 0 and shown.get("budgets", []) == []
    result = genops(
        "budgets",
        "set",
        "ml-none",
        "--limit",
        "0",
        "--scope",
        "team=ml-team",
        "--endpoint",
        processor.endpoint,
        "--actor",
        "finance",
        "--reason",
        "freeze",
    )
    assert result.returncode == 0, result.stderr
    assert "policy version 1" in result.stdout
    training = run_training("train_basic.py", tmp_path / "job", governed_env(processor.endpoint))
    assert training.returncode != 0 and "budget 'ml-none'" in training.result.stderr
    genops(
        "budgets",
        "set",
        "ml-none",
        "--limit",
        "100",
        "--scope",
        "team=ml-team",
        "--endpoint",
        processor.endpoint,
        "--actor",
        "finance",
        "--reason",
        "thaw",
    )
    shown = json.loads(genops("budgets", "show", "--endpoint", processor.endpoint, "--json").stdout)
    # the actor is who authenticated (the admin token), not the --actor it reports
    assert shown["version"] == 2 and shown["actor"] == "admin"
    assert [b["limit"] for b in shown["budgets"]] == ["100"]
    again = run_training("train_basic.py", tmp_path / "again", governed_env(processor.endpoint))
    assert again.returncode == 0, again.result.stderr
    bad = genops("budgets", "set", "x", "--limit", "-1", "--endpoint", processor.endpoint)
    assert bad.returncode == 1 and "limit" in bad.stderr
    assert processor.stop() == 0
    with storage.Storage(processor.db, read_only=True) as db:
        changes = db.call(lambda c: audit_events(c, "policy.changed"))
    assert [(e["actor"], e["detail"]["reason"]) for e in changes] == [
        ("admin", "freeze"),
        ("admin", "thaw"),
    ]
    assert all(e["detail"].get("reported_actor") == "finance" for e in changes), changes


def test_a_budget_set_without_a_zone_keeps_the_policy_s_and_a_bad_zone_is_refused(
    start_processor_with, tmp_path
):
    policy = tmp_path / "policy.yaml"
    policy.write_text("timezone: Asia/Tokyo\n")
    processor = start_processor_with("--policy", str(policy))

    def set_budget(name, *extra):
        return genops(
            "budgets", "set", name, "--limit", "5", "--endpoint", processor.endpoint, *extra
        )

    assert set_budget("tokyo").returncode == 0
    assert set_budget("paris", "--timezone", "Europe/Paris").returncode == 0
    refused = set_budget("nowhere", "--timezone", "Europe")  # a directory, not a zone
    assert refused.returncode == 1 and "'Europe' is not a known time zone" in refused.stderr
    states = processor.stub().GetBudgetStatus(pb.GetBudgetStatusRequest(), timeout=10).budgets
    starts = {s.name: dt.datetime.fromisoformat(s.period_start) for s in states}
    assert set(starts) == {"tokyo", "paris"}  # the refused one changed nothing
    # each period starts at a local midnight: 15:00 UTC in Tokyo, 23:00 UTC in Paris
    utc = {name: start.astimezone(dt.timezone.utc).time() for name, start in starts.items()}
    assert utc == {"tokyo": dt.time(15), "paris": dt.time(23)}, starts
    shown = json.loads(genops("budgets", "show", "--endpoint", processor.endpoint, "--json").stdout)
    assert {b["name"]: b.get("timezone") for b in shown["budgets"]} == {
        "tokyo": None,  # not written: it follows the policy's zone if that changes
        "paris": "Europe/Paris",
    }

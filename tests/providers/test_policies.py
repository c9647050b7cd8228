"""The three policies act differently at experiment enter, at run start, and past max_cost."""

from __future__ import annotations

import pytest

from genops_processor import storage
from genops_processor.budgets import decisions
from tests.helpers import adapter_env, last_json_line, run_python

POLICY = """
budgets:
  - name: exhausted-project
    scope: {team: t, project: exhausted}
    daily_limit: "0"
    mode: audit_only
"""

SCRIPT = r"""
import json, warnings
import wandb
from genops.providers.wandb import BudgetExceededError, instrument_wandb

POLICY = "%s"
out = {}

def attempt(name, fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fn()
            out[name] = "warned" if caught else "proceeded"
        except BudgetExceededError as error:
            out[name] = "raised"
            out[name + "_message"] = str(error)

adapter = instrument_wandb(team="t", project="ok", max_experiment_cost=25.0,
                           governance_policy=POLICY)
ids = {}

def enter():
    with adapter.track_experiment_lifecycle("too-big", max_cost=30.0) as x:
        ids["enter"] = x.experiment_id
attempt("enter", enter)

tight = instrument_wandb(team="t", project="left", daily_budget_limit=10.0,
                         max_experiment_cost=50.0, governance_policy=POLICY)
def enter_budget():
    with tight.track_experiment_lifecycle("more-than-left", max_cost=20.0) as x:
        ids["enter_budget"] = x.experiment_id
attempt("enter_budget", enter_budget)

def inside():
    with adapter.track_experiment_lifecycle("small", max_cost=5.0) as x:
        ids["inside"] = x.experiment_id
        x.estimated_cost += 6.0
        out["after_spend"] = True
attempt("inside", inside)

starved = instrument_wandb(team="t", project="exhausted", governance_policy=POLICY)
def run_start():
    run = wandb.init(project="exhausted", name="starved")
    run.finish()
attempt("run_start", run_start)
out["ids"] = ids
out["summary_inside"] = adapter.get_experiment_cost_summary(ids["inside"]).violations
print(json.dumps(out))
"""


def run_policy(start_processor_with, tmp_path, policy):
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(POLICY)
    processor = start_processor_with("--policy", str(policy_file))
    result = run_python(
        SCRIPT % policy, tmp_path / "job", adapter_env(processor.endpoint, tmp_path)
    )
    assert result.returncode == 0, result.stderr
    return processor, last_json_line(result.stdout), tmp_path / "job"


def test_enforced_raises_at_enter_at_run_start_and_past_max_cost(start_processor_with, tmp_path):
    processor, out, job = run_policy(start_processor_with, tmp_path, "enforced")
    assert out["enter"] == out["inside"] == out["run_start"] == out["enter_budget"] == "raised"
    assert "max_cost $30.00 is above max_experiment_cost $25.00" in out["enter_message"]
    assert (
        "max_cost $20.00 is above what budget 'client:t/left' has left today "
        "($10.00 of $10.00)" in out["enter_budget_message"]
    )
    assert "spent $6.00, past its max_cost $5.00" in out["inside_message"]
    assert "budget 'exhausted-project' exceeded: daily limit $0.00" in out["run_start_message"]
    assert "after_spend" not in out
    assert not list((job / "wandb").glob("offline-run-*"))  # denied before W&B made it
    assert any("[enforced]" in v and "past its max_cost" in v for v in out["summary_inside"])


def test_advisory_warns_everywhere_and_carries_on(start_processor_with, tmp_path):
    processor, out, job = run_policy(start_processor_with, tmp_path, "advisory")
    assert out["enter"] == out["inside"] == out["run_start"] == out["enter_budget"] == "warned"
    assert out["after_spend"] is True
    assert len(list((job / "wandb").glob("offline-run-*"))) == 1
    assert any("[advisory]" in v and "past its max_cost" in v for v in out["summary_inside"])


def test_audit_only_records_without_a_word(start_processor_with, tmp_path):
    processor, out, job = run_policy(start_processor_with, tmp_path, "audit_only")
    assert out["enter"] == out["inside"] == out["run_start"] == out["enter_budget"] == "proceeded"
    assert out["after_spend"] is True
    assert any("[audit_only]" in v and "past its max_cost" in v for v in out["summary_inside"])
    assert processor.stop() == 0
    with storage.Storage(processor.db, read_only=True) as db:
        logged = db.call(decisions.list_decisions)
        experiments = db.call(
            lambda c: dict(c.execute("SELECT name, violations FROM experiments").fetchall())
        )
    run_decision = [d for d in logged if d["project"] == "exhausted"]
    assert run_decision[-1]["decision"] == "allow"
    assert run_decision[-1]["budget_name"] == "exhausted-project"
    assert "above max_experiment_cost" in experiments["too-big"]
    assert "has left today" in experiments["more-than-left"]


@pytest.mark.parametrize("policy", ["strict", "ENFORCE", ""])
def test_unknown_policy_name_is_a_clear_error(tmp_path, policy):
    from genops.config import ConfigError, resolve_adapter_options

    with pytest.raises(ConfigError, match="governance_policy") as caught:
        resolve_adapter_options({"governance_policy": policy or " "}, {"HOME": str(tmp_path)})
    assert "keyword" in str(caught.value)

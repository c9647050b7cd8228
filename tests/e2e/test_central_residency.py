"""Data residency in the processor's central policy (``data_residency``), against a real
processor and real wandb (offline): a run whose region the policy does not allow for its
classification is denied at its start under enforced (whatever the client says of its own
policy), a ``residency.violation`` audit event under advisory; every run's record keeps
the verdict (ListRuns, ``genops report --json``)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from genops.governance.v1 import governance_pb2 as pb
from genops_processor import storage
from genops_processor.record.audit_log import audit_events
from tests.helpers import adapter_env, last_json_line, run_python

BIN = Path(sys.executable).parent

SCRIPT = r"""
import json, warnings, wandb
from genops.providers.wandb import instrument_wandb
out = {}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    adapter = instrument_wandb(team="global-ml", project="residency", __KEYWORDS__)
    try:
        run = wandb.init(project="residency", name="r1")
        wandb.log({"loss": 0.5})
        run.finish()
        out["started"] = True
        out["warned"] = [str(w.message) for w in caught if "genops" in str(w.message)]
    except Exception as error:
        out["refused"] = f"{type(error).__name__}: {error}"
print(json.dumps(out))
"""


def genops(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "genops"), *args], capture_output=True, text=True, timeout=60)


def _policy(tmp_path, mode: str, allowed: str = "us_only") -> str:
    path = tmp_path / "policy.yaml"
    path.write_text(f"data_residency: {{policy: {allowed}, mode: {mode}}}\n")
    return str(path)


def _run(processor, tmp_path, keywords: str):
    cwd = tmp_path / "job"
    code = SCRIPT.replace("__KEYWORDS__", keywords)
    result = run_python(code, cwd, adapter_env(processor.endpoint, tmp_path))
    assert result.returncode == 0, result.stderr
    return last_json_line(result.stdout), result.stderr


def _events(processor, kind: str) -> list[dict]:
    assert processor.stop() == 0
    with storage.Storage(processor.db, read_only=True) as db:
        return db.call(lambda conn: audit_events(conn, kind))


def test_enforced_central_policy_refuses_a_run_outside_it(start_processor_with, tmp_path):
    processor = start_processor_with("--policy", _policy(tmp_path, "enforced"))
    # The adapter has no residency policy of its own: only the processor's stands.
    out, _ = _run(processor, tmp_path, 'region="eu-west-1", governance_policy="advisory"')
    assert "started" not in out, out
    assert "region eu-west-1 is outside data_residency_policy 'us_only'" in out["refused"]
    assert "(processor policy)" in out["refused"]
    assert processor.runs() == []
    [event] = _events(processor, "residency.violation")
    assert event["detail"]["outcome"] == "refused" and event["actor"] == "trainer"
    assert event["detail"]["region"] == "eu-west-1" and event["region"] == "eu-west-1"
    assert event["detail"]["data_residency_policy"] == "us_only"


@pytest.mark.parametrize("client_mode", [pb.POLICY_MODE_AUDIT_ONLY, pb.POLICY_MODE_ADVISORY])
def test_a_client_cannot_loosen_the_central_residency_policy(
    start_processor_with, tmp_path, client_mode
):
    processor = start_processor_with("--policy", _policy(tmp_path, "enforced"))
    request = pb.CheckBudgetRequest(
        scope=pb.Scope(team="global-ml", project="residency"),
        client_limits=pb.ClientLimits(policy_mode=client_mode),
        region="EU-WEST-1",
        data_classification="confidential",
    )
    answer = processor.stub("trainer").CheckBudget(request)
    assert answer.decision == pb.DECISION_DENY and not answer.hold_id
    assert "region eu-west-1 is outside data_residency_policy 'us_only'" in answer.message
    # No region at all is no way around it either.
    request.region = ""
    answer = processor.stub("trainer").CheckBudget(request)
    assert answer.decision == pb.DECISION_DENY and "no region is known" in answer.message


def test_an_allowed_region_runs_and_the_verdict_is_part_of_the_record(
    start_processor_with, tmp_path
):
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "data_residency:\n  name: eu-personal\n  mode: enforced\n"
        "  policy: {restricted: [eu-west-1], '*': [eu-west-1, us-east-1]}\n"
    )
    processor = start_processor_with("--policy", str(policy))
    out, _ = _run(processor, tmp_path, 'region="us-east-1", security_level="internal"')
    assert out == {"started": True, "warned": []}
    [run] = processor.runs()
    assert run.region == "us-east-1"
    assert run.residency.startswith("allowed: run ") and "'eu-personal'" in run.residency
    report = genops("report", "--endpoint", processor.endpoint, "--json")
    assert report.returncode == 0, report.stderr
    [row] = json.loads(report.stdout)
    assert row["residency"] == run.residency
    # The same region for restricted data is outside the policy.
    answer = processor.stub("trainer").CheckBudget(
        pb.CheckBudgetRequest(
            scope=pb.Scope(team="global-ml"), region="us-east-1", data_classification="restricted"
        )
    )
    assert answer.decision == pb.DECISION_DENY
    assert "for restricted data (allowed: eu-west-1)" in answer.message


def test_advisory_lets_the_run_go_and_records_the_violation(start_processor_with, tmp_path):
    processor = start_processor_with("--policy", _policy(tmp_path, "advisory"))
    out, _ = _run(processor, tmp_path, 'region="eu-west-1"')
    assert out["started"] is True
    [warned] = out["warned"]  # the client was warned
    assert "outside data_residency_policy 'us_only'" in warned and "the run continues" in warned
    [run] = processor.runs()
    assert run.residency.startswith("violation (advisory): run ")
    assert "region eu-west-1 is outside data_residency_policy 'us_only'" in run.residency
    events = _events(processor, "residency.violation")
    print(events)
    [event] = events
    assert event["detail"]["outcome"] == "recorded" and event["detail"]["mode"] == "advisory"


def test_a_bad_data_residency_policy_is_refused_at_start(tmp_path):
    from genops_processor.budgets.policy import Policy, PolicyError

    for body, named in (
        ({"data_residency": {"policy": "mars_only"}}, "data_residency.policy"),
        ({"data_residency": {"policy": "us_only", "mode": "strict"}}, "data_residency.mode"),
        ({"data_residency": {"policy": {"pii": "eu-west-1"}}}, "data_residency.policy"),
        ({"data_residency": {"regions": ["eu-west-1"]}}, "unknown key(s) regions"),
    ):
        with pytest.raises(PolicyError, match=re.escape(named)):
            Policy.from_dict(body)

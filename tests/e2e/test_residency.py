"""Data residency on real wandb (offline) against a real processor: the adapter's region
is stored with every run; a region outside the data_residency_policy is refused before
any run starts under enforced (no W&B run, nothing in the ledger) and is a violation,
warned about, under advisory; a governed artifact is held to its classification's
regions the same way."""

from __future__ import annotations

from tests.helpers import adapter_env, last_json_line, run_python

SCRIPT = r"""
import json, warnings, wandb
from genops.providers.wandb import instrument_wandb
from genops.errors import DataResidencyError
out = {}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        adapter = instrument_wandb(team="global-ml", project="residency", __KEYWORDS__)
    except DataResidencyError as error:
        out["refused"] = str(error)
        adapter = None
    if adapter is not None:
        run = wandb.init(project="residency", name="r1")
        wandb.log({"loss": 0.5})
        with open("model.pkl", "wb") as fh:
            fh.write(b"weights")
        artifact = wandb.Artifact("customer-model", type="model")
        artifact.add_file("model.pkl")
        try:
            adapter.log_governed_artifact(artifact, governance_metadata=__METADATA__)
            out["artifact"] = "logged"
        except DataResidencyError as error:
            out["artifact"] = f"refused: {error}"
        run.finish()
        status = adapter.get_compliance_status()
        out["score"] = status.overall_score
        out["violations"] = [[v.policy, v.subject] for v in status.violations]
out["warned"] = [str(w.message) for w in caught if "genops" in str(w.message)]
print(json.dumps(out))
"""


def _run(processor, tmp_path, keywords, metadata="{}"):
    code = SCRIPT.replace("__KEYWORDS__", keywords).replace("__METADATA__", metadata)
    cwd = tmp_path / "job"
    result = run_python(code, cwd, adapter_env(processor.endpoint, tmp_path))
    assert result.returncode == 0, result.stderr
    return last_json_line(result.stdout), cwd


def test_the_region_is_stored_with_the_run_and_a_compliant_one_passes(processor, tmp_path):
    out, _ = _run(
        processor, tmp_path, 'region="eu-west-1", data_residency_policy="eu_gdpr_compliant"'
    )
    assert out["artifact"] == "logged" and out["violations"] == [] and out["warned"] == []
    [run] = processor.runs()
    assert run.region == "eu-west-1"


def test_enforced_refuses_before_any_run_starts(processor, tmp_path):
    out, cwd = _run(
        processor,
        tmp_path,
        'region="eu-west-1", data_residency_policy="us_only", governance_policy="enforced"',
    )
    assert "region eu-west-1 is outside data_residency_policy 'us_only'" in out["refused"]
    assert not (cwd / "wandb").exists()  # W&B never started
    assert processor.runs() == []


def test_advisory_runs_warns_and_reports_the_violation(processor, tmp_path):
    out, _ = _run(processor, tmp_path, 'region="eu-west-1", data_residency_policy="us_only"')
    assert out["artifact"] == "logged"
    policies = {tuple(v) for v in out["violations"]}
    assert ("data_residency", "adapter") in policies
    assert any(p == "data_residency" and s.startswith("run:") for p, s in policies)
    assert ("data_residency", "artifact:customer-model") in policies
    assert any("outside data_residency_policy 'us_only'" in w for w in out["warned"])
    [run] = processor.runs()
    assert run.region == "eu-west-1"  # the record says where it ran


def test_no_region_under_a_residency_policy_is_refused_when_enforced(processor, tmp_path):
    out, _ = _run(
        processor, tmp_path, 'data_residency_policy="us_only", governance_policy="enforced"'
    )
    assert "no region is known" in out["refused"]


def test_an_artifact_outside_its_classifications_regions_is_refused_before_logging(
    processor, tmp_path
):
    policy = '{"personal_data": ["eu-west-1"], "*": ["us-east-1", "eu-west-1"]}'
    out, _ = _run(
        processor,
        tmp_path,
        f'region="us-east-1", data_residency_policy={policy}, governance_policy="enforced"',
        metadata='{"data_classification": "personal_data", "retention_period_days": 30}',
    )
    assert out["artifact"].startswith("refused: artifact:customer-model: region us-east-1")
    assert "for personal_data data" in out["artifact"]
    [run] = processor.runs()
    assert run.artifact_bytes == 0  # never logged, never charged

"""Frameworks named by track_experiment_lifecycle(compliance_requirements=[...]) are
checked before the block (enforced: refused, the block never runs; advisory: warned,
run, reported) and take part in get_compliance_status; residency of governed artifacts
with a declared region. In process, no processor (budget checks fail open): the rules
are local."""

from __future__ import annotations

import warnings

import pytest

from genops.adapter_compliance import ComplianceWarning
from genops.errors import ComplianceViolationError
from genops.providers.wandb import GenOpsWandbAdapter


@pytest.fixture
def make(tmp_path, monkeypatch, unused_port):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GENOPS_ENDPOINT", f"127.0.0.1:{unused_port}")
    made = []

    def make(**keywords):
        adapter = GenOpsWandbAdapter(team="ml", project="p", retry_attempts=0, **keywords)
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        adapter.cleanup()


def test_enforced_refuses_the_block_before_it_runs(make):
    adapter = make(governance_policy="enforced", audit_log_retention_years=3)
    ran = []
    with pytest.raises(ComplianceViolationError) as refused:
        with adapter.track_experiment_lifecycle("q4", compliance_requirements=["SOX"]):
            ran.append(True)
    assert ran == []
    policies = {(v.policy, v.framework) for v in refused.value.violations}
    assert policies == {("framework:sox", "sox")}
    assert "SOX needs at least 7" in str(refused.value)
    assert "runs do not wait for approval" in str(refused.value)


def test_a_compliant_block_runs_under_enforced(make):
    adapter = make(governance_policy="enforced", audit_log_retention_years=7, require_approval=True)
    with adapter.track_experiment_lifecycle(
        "q4", compliance_requirements=["sox", "internal_audit"]
    ):
        pass
    status = adapter.get_compliance_status()
    assert status.frameworks == ["sox", "internal_audit"]
    assert [v for v in status.violations if v.policy.startswith("framework:")] == []


def test_advisory_warns_runs_and_reports(make):
    adapter = make()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with adapter.track_experiment_lifecycle("eu", compliance_requirements=["gdpr"]) as exp:
            pass
    assert any(issubclass(w.category, ComplianceWarning) for w in caught)
    assert any(event == "genops.policy.compliance" for event, _, _ in exp.violations)
    status = adapter.get_compliance_status()
    gdpr = [v for v in status.violations if v.framework == "gdpr"]
    assert {v.subject for v in gdpr} == {"adapter"} and len(gdpr) == 3
    report = adapter.generate_comprehensive_compliance_report()
    assert report["framework_scores"]["gdpr"] == 0.0
    assert report["checkpoints"][0]["frameworks"] == ["gdpr"]


@pytest.mark.parametrize("bad", ["sox", ["sox", "hipaa"], [None], 5])
def test_bad_requirements_are_refused_naming_the_keyword(make, bad):
    adapter = make()
    with pytest.raises(ValueError, match="^compliance_requirements: "):
        with adapter.track_experiment_lifecycle("x", compliance_requirements=bad):
            pass


def test_a_declared_artifact_region_that_is_no_region_name_fails_residency(make):
    from types import SimpleNamespace

    adapter = make(region="us-east-1", data_residency_policy="us_only")
    artifact = SimpleNamespace(name="a", type="dataset")
    facts = adapter._artifact_facts(artifact, {"region": "us east\n1"}, "run-1")
    assert facts.region == "'us east\\n1'"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        adapter._check_artifact(facts)
    assert any("outside data_residency_policy 'us_only'" in str(w.message) for w in caught)

"""Compliance rules and scoring (genops.compliance): a constructed violation of each kind
is found and named, the score is the documented 100 × passed / evaluated, frameworks
are rule sets, and reports are written as JSON and Markdown. Pure logic: no processor."""

from __future__ import annotations

import json

import pytest

from genops import compliance
from genops.compliance import ArtifactFacts, BudgetFacts, Facts


def artifact(name="model", type_="model", region="us-east-1", **metadata):
    return ArtifactFacts(name, type_, "run-1", metadata, region)


CLEAN = Facts(
    team="ml",
    project="p",
    environment="staging",
    region="us-east-1",
    residency=compliance.residency_policy("us_only"),
    security_level="internal",
    audit_log_retention_years=7,
    require_approval=True,
    budgets=(BudgetFacts("daily", 10_000_000, 1_000_000, False),),
    runs=(("run-1", "us-east-1"),),
    artifacts=(artifact(retention_period_days=30, data_classification="internal"),),
)


def test_a_clean_scope_scores_100_with_no_violations():
    status = compliance.evaluate(CLEAN)
    assert status.overall_score == status["overall_score"] == 100.0
    assert status.violations == [] and status.checks_evaluated == status.checks_passed == 5


def replace(**changes):
    import dataclasses

    return dataclasses.replace(CLEAN, **changes)


@pytest.mark.parametrize(
    "changes, policy, words",
    [
        (
            {"budgets": (BudgetFacts("daily", 10_000_000, 10_000_000, True),)},
            "budget",
            "budget 'daily' spent $10.00 of $10.00",
        ),
        ({"region": "eu-west-1"}, "data_residency", "region eu-west-1 is outside"),
        ({"region": None}, "data_residency", "no region is known"),
        ({"runs": (("r9", "eu-central-1"),)}, "data_residency", "run:r9: region eu-central-1"),
        (
            {"artifacts": (artifact(region="europe-west4"),)},
            "data_residency",
            "artifact:model: region europe-west4",
        ),
        (
            {"artifacts": (artifact(data_classification="personal_data"),)},
            "retention",
            "personal_data data without retention_period_days",
        ),
        (
            {"artifacts": (artifact(retention_period_days=-3),)},
            "retention",
            "retention_period_days -3 is not a whole number",
        ),
        (
            {"environment": "production", "artifacts": (artifact(),)},
            "artifact_metadata",
            "production model without model_approval_status 'approved'",
        ),
        (
            {"environment": "production", "require_approval": False},
            "production_approval",
            "runs do not wait for approval",
        ),
        (
            {"frameworks": ("sox",), "audit_log_retention_years": 1},
            "framework:sox",
            "audit_log_retention_years is 1; SOX needs at least 7",
        ),
        ({"frameworks": ("sox",), "team": None}, "framework:sox", "no named owner"),
        ({"frameworks": ("gdpr",)}, "framework:gdpr", "region us-east-1 is not an EU region"),
        (
            {"frameworks": ("internal_audit",), "enable_governance": False},
            "framework:internal_audit",
            "governance is off",
        ),
    ],
)
def test_each_kind_of_violation_is_found_and_scored(changes, policy, words):
    status = compliance.evaluate(replace(**changes))
    found = [v for v in status.violations if v.policy == policy]
    assert found, status.violations
    assert any(words in v.description for v in found), [v.description for v in found]
    expected = round(100 * status.checks_passed / status.checks_evaluated, 1)
    assert status.overall_score == expected < 100.0


def test_the_score_is_passed_over_evaluated_checks():
    facts = replace(
        runs=(("a", "us-east-1"), ("b", "eu-west-1"), ("c", "eu-west-1")),
    )
    status = compliance.evaluate(facts)
    assert (status.checks_evaluated, status.checks_passed) == (7, 5)
    assert status.overall_score == 71.4
    assert compliance.evaluate(Facts()).overall_score == 100.0  # nothing to evaluate


def test_frameworks_are_documented_rule_sets():
    assert compliance.FRAMEWORKS == {
        "sox": ("approval", "audit_trail", "owner"),
        "gdpr": ("eu_residency", "retention", "classification"),
        "internal_audit": ("audit_trail", "owner"),
    }
    eu = replace(region="eu-west-1", residency=compliance.residency_policy("eu_gdpr_compliant"))
    assert all(c.passed for c in compliance.framework_checks(eu, "gdpr"))
    assert all(c.passed for c in compliance.framework_checks(CLEAN, "sox"))
    assert compliance.frameworks(["SOX", "Internal-Audit", "sox"]) == ("sox", "internal_audit")


@pytest.mark.parametrize("bad", ["hipaa", "", 7, None])
def test_an_unknown_framework_is_refused_naming_the_known_ones(bad):
    with pytest.raises(ValueError, match="expected one of sox, gdpr, internal_audit"):
        compliance.framework(bad)


def test_residency_policies_by_name_and_by_classification():
    us = compliance.residency_policy("US_ONLY")
    assert us.allows("us-west-2", None) and us.allows("EASTUS", "pii")
    assert not us.allows("eu-west-1", None) and not us.allows(None, None)
    eu = compliance.residency_policy("eu_gdpr_compliant")
    assert eu.allows("europe-west4", "x") and not eu.allows("eu-west-2", "x")  # London
    custom = compliance.residency_policy({"pii": ["eu-west-1"], "*": ["us-east-1", "eu-west-1"]})
    assert custom.allows("us-east-1", "public") and not custom.allows("us-east-1", "PII")
    only_pii = compliance.residency_policy({"pii": ["eu-west-1"]})
    assert only_pii.allows("ap-south-1", "public")  # unnamed classifications: no constraint


@pytest.mark.parametrize(
    "bad, words",
    [
        ("mars_only", "expected one of us_only, eu_gdpr_compliant"),
        ({}, "expected a policy name or a mapping"),
        ({"pii": "eu-west-1"}, "'pii': expected a list of regions"),
        ({"pii": []}, "'pii': expected a non-empty list"),
        ({"pii": ["eu-west-1", 3]}, "'pii': expected a non-empty list"),
        ({"": ["eu-west-1"]}, "expected a name or '*'"),
        (42, "expected a policy name or a mapping"),
    ],
)
def test_a_bad_residency_policy_is_refused_naming_why(bad, words):
    with pytest.raises(ValueError, match=words.replace("*", r"\*")):
        compliance.residency_policy(bad)


@pytest.mark.parametrize("bad", ["us east 1", "eu-west-1\n", "us-\x1b[31m", 7])
def test_a_region_with_spaces_or_control_characters_is_refused(bad):
    with pytest.raises(ValueError, match="expected a region name"):
        compliance.region(bad)


def test_reports_are_written_as_json_and_markdown(tmp_path):
    status = compliance.evaluate(replace(region="eu-west-1", frameworks=("sox",)))
    path = compliance.write_report(status, tmp_path / "status.json")
    assert json.loads(path.read_text()) == json.loads(json.dumps(status, default=str))
    text = compliance.write_report(status, tmp_path / "status.md").read_text()
    assert text.startswith("# Compliance report\n\n**Compliance score: ")
    assert "| data_residency | adapter | False |" in text
    with pytest.raises(ValueError, match="expected a .json or .md file"):
        compliance.write_report(status, tmp_path / "status.html")


def test_hostile_text_cannot_break_the_markdown_document(tmp_path):
    nasty = "evil | cell\n# Injected heading\n|---|"
    status = compliance.evaluate(
        replace(artifacts=(artifact(name=nasty, data_classification="pii"),))
    )
    text = compliance.to_markdown(status)
    assert "\n# Injected heading" not in text  # newlines folded: one row per check
    row = next(line for line in text.splitlines() if "Injected" in line and "retention" in line)
    assert row.count(" | ") == 3 and "evil \\| cell" in row  # pipes escaped: 4 cells


def test_the_compliance_log_is_bounded():
    log = compliance.ComplianceLog(limit=3)
    for i in range(10):
        log.add("runs", (f"r{i}", None))
        log.add("frameworks", "sox")
    assert [r for r, _ in log.runs] == ["r7", "r8", "r9"] and log.frameworks == ["sox"]

"""The adapter's data_residency check and the processor's central one agree: the same
policy (named or a mapping), region and classification give the same verdict and the
same words (one definition: genops.governance.residency)."""

from __future__ import annotations

import pytest

from genops import compliance
from genops_processor.budgets import residency
from genops_processor.domain import Scope

MAPPING = {"personal_data": ["eu-west-1"], "*": ["us-east-1", "eu-west-1"]}
CASES = [
    ("us_only", "us-east-1", None),
    ("us_only", "eu-west-1", None),
    ("eu_gdpr_compliant", "EU-WEST-1", "confidential"),
    ("eu_gdpr_compliant", "", None),
    (MAPPING, "us-east-1", "personal_data"),
    (MAPPING, "us-east-1", "internal"),
    (MAPPING, "ap-south-1", None),
]


@pytest.mark.parametrize(("policy", "region", "kind"), CASES)
def test_both_sides_give_the_same_verdict_and_words(policy, region, kind):
    facts = compliance.Facts(
        region=compliance.region(region) if region else None,
        residency=compliance.residency_policy(policy),
        security_level=kind,
    )
    adapter = compliance.residency_verdict(facts, "run r", facts.region, kind)
    rule = residency.parse({"policy": policy}, "data_residency")
    central = residency.judge(rule, Scope(team="t"), region, kind or "", "run r")
    assert central is not None and adapter is not None
    assert central.allowed == adapter.passed
    assert central.text.removesuffix(" (processor policy)") == adapter.description


def test_a_rule_scoped_to_production_leaves_other_runs_alone():
    rule = residency.parse(
        {"policy": "us_only", "scope": {"environment": "production"}}, "data_residency"
    )
    assert residency.judge(rule, Scope(team="t"), "eu-west-1", "", "run r") is None
    verdict = residency.judge(rule, Scope(environment="production"), "eu-west-1", "", "run r")
    assert verdict is not None and not verdict.allowed and verdict.mode == "enforced"


def test_a_client_tightens_the_mode_never_loosens_it():
    rule = residency.parse({"policy": "us_only", "mode": "advisory"}, "data_residency")
    assert residency.judge(rule, Scope(), "eu-west-1", "", "r", "enforced").mode == "enforced"
    rule = residency.parse({"policy": "us_only"}, "data_residency")
    assert residency.judge(rule, Scope(), "eu-west-1", "", "r", "audit_only").mode == "enforced"

"""ProductionConfiguration (genops.providers.wandb_production): every field validated
with an error naming it; instrument_wandb(production_config=...) applies them (the
daily cost cap enforced by the processor whatever the policy, security requirements
checked before any run); generate_production_report summarises cost, budgets,
failures, alerts, compliance and the processor's backup state."""

from __future__ import annotations

import pytest

from genops.adapter_options import AdapterOptions
from genops.config import daily_limit_mode, resolve_adapter_options
from genops.providers import wandb_production
from genops.providers.wandb_production import ProductionConfigError, ProductionConfiguration
from tests.helpers import adapter_env, last_json_line, run_python

GUIDE = dict(
    environment="production",
    security_level="enterprise",
    max_concurrent_experiments=100,
    max_daily_cost=10000.0,
    enable_encryption_at_rest=True,
    enable_encryption_in_transit=True,
    require_mfa=True,
    audit_log_retention_years=7,
    backup_frequency_hours=6,
    disaster_recovery_rpo_hours=2,
)


def test_the_guides_configuration_is_valid_and_says_what_its_numbers_allow():
    config = ProductionConfiguration(**GUIDE)
    assert config.max_daily_cost_micros == 10_000_000_000
    assert config.to_dict() == GUIDE
    [warning] = config.warnings()  # backups every 6 h cannot meet a 2 h RPO
    assert "backup_frequency_hours 6 is longer than disaster_recovery_rpo_hours 2" in warning


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("environment", "", "expected a name"),
        ("environment", "prod uction", "expected a name"),
        ("security_level", "top-secret", "expected one of public, internal"),
        ("max_concurrent_experiments", 0, "from 1 to 10000"),
        ("max_concurrent_experiments", 2.5, "expected a whole number"),
        ("max_concurrent_experiments", True, "expected a whole number"),
        ("max_daily_cost", -5, "non-negative"),
        ("max_daily_cost", "lots", "not a number of dollars"),
        ("max_daily_cost", float("nan"), "non-negative"),
        ("max_daily_cost", 0.0000001, "more precise than a micro-dollar"),
        ("enable_encryption_at_rest", "yes", "expected True or False"),
        ("require_mfa", 1, "expected True or False"),
        ("audit_log_retention_years", 0, "from 1 to 100"),
        ("audit_log_retention_years", 10**9, "from 1 to 100"),
        ("backup_frequency_hours", 0, "above 0"),
        ("backup_frequency_hours", "6", "expected a number of hours"),
        ("disaster_recovery_rpo_hours", float("inf"), "above 0"),
    ],
)
def test_each_invalid_field_is_refused_naming_it(field, value, words):
    with pytest.raises(ProductionConfigError, match=f"{field}=") as refused:
        ProductionConfiguration(**{**GUIDE, field: value})
    assert words in str(refused.value)


def test_unknown_fields_and_other_types_are_refused():
    with pytest.raises(ProductionConfigError, match="unknown field"):
        ProductionConfiguration.from_dict({**GUIDE, "max_daily_kost": 5})
    with pytest.raises(Exception, match="production_config"):
        resolve_adapter_options({"production_config": "production"}, {"HOME": "/nonexistent"})


def _options(keywords: dict) -> AdapterOptions:
    options = resolve_adapter_options(keywords, {"HOME": "/nonexistent"})
    return wandb_production.apply(options)


def test_applied_fields_only_tighten_the_keywords():
    config = ProductionConfiguration(
        max_daily_cost=50.0,
        max_concurrent_experiments=4,
        require_mfa=False,
        audit_log_retention_years=7,
    )
    options = _options(
        {
            "production_config": config,
            "daily_budget_limit": 80.0,
            "max_concurrent_experiments": 10,
            "require_mfa": True,
            "audit_log_retention_years": 10,
            "governance_policy": "audit_only",
        }
    )
    assert options.daily_budget_limit == 50_000_000  # the lower
    assert daily_limit_mode(options) == "enforced"  # whatever the policy
    assert options.max_concurrent_experiments == 4
    assert options.require_mfa is True  # either asks: required
    assert options.audit_log_retention_years == 10  # the longer
    assert (options.environment, options.security_level) == ("production", "enterprise")


def test_a_keyword_that_contradicts_the_configuration_is_refused():
    with pytest.raises(ProductionConfigError, match="environment='staging' disagrees"):
        _options({"production_config": ProductionConfiguration(), "environment": "staging"})


SCRIPT = r"""
import json, warnings
from genops.providers.wandb import instrument_wandb, BudgetExceededError
from genops.providers.wandb_production import ProductionConfiguration
from genops.errors import SecurityRequirementError
out = {}
config = ProductionConfiguration(__CONFIG__)
try:
    adapter = instrument_wandb(team="production-ml", project="prod", production_config=config,
                               governance_policy="advisory")
except SecurityRequirementError as error:
    print(json.dumps({"refused": str(error)}))
    raise SystemExit(0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    try:
        with adapter.track_experiment_lifecycle("too-big", max_cost=5.0):
            out["ran"] = True
    except BudgetExceededError as error:
        out["denied"] = str(error)
report = adapter.generate_production_report()
out["report"] = report
print(json.dumps(out, default=str))
"""


def _production(processor, tmp_path, config: str) -> dict:
    code = SCRIPT.replace("__CONFIG__", config)
    result = run_python(code, tmp_path / "job", adapter_env(processor.endpoint, tmp_path))
    assert result.returncode == 0, result.stderr
    return last_json_line(result.stdout)


def test_max_daily_cost_is_an_enforced_budget_at_the_processor(processor, tmp_path):
    out = _production(
        processor,
        tmp_path,
        "max_daily_cost=1.0, backup_frequency_hours=6, disaster_recovery_rpo_hours=2",
    )
    assert "ran" not in out  # advisory policy, yet the production cap denied it
    assert "$1.00" in out["denied"]
    report = out["report"]
    assert set(report) >= {"cost", "budgets", "failures", "alerts", "compliance", "backup"}
    assert report["cost"]["daily_budget_limit"] == 1.0
    assert report["production_config"]["max_daily_cost"] == "$1.00"
    assert report["compliance"]["compliance_score"] < 100  # production without approval
    assert report["backup"]["state"] == "none"  # the processor answers: no backup taken
    assert report["backup"]["disaster_recovery_rpo_hours"] == 2
    assert report["configuration_warnings"]


def test_security_fields_are_checked_before_any_run(processor, tmp_path):
    out = _production(processor, tmp_path, "enable_encryption_at_rest=True")
    assert (
        "enable_encryption_at_rest=True, but the processor's ledger is not encrypted"
        in (out["refused"])
    )
    assert processor.runs() == []

"""Every name of the adapter API that the guide imports or calls exists, with a compatible
signature. The guide is ../shared/seed/wandb-governance-guide.md (the ``seed_guide``
fixture; the tests that read it skip without it). No name of the guide is left to later
work: none is refused as "not yet supported".

``test_every_genops_name_the_guide_uses_exists`` takes the names from the guide itself
(tests/guide/guide_names.py) and prints their count; the lists below check signatures in
more detail (keyword order, classes, fields) for the names the guide uses.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

from tests.helpers import ROOT

MODULES = [
    "genops.providers.wandb",
    "genops.providers.wandb_validation",
    "genops.providers.wandb_production",
    "genops.providers.wandb_governance",
    "genops.security",
]
FUNCTIONS = {  # module.function: keywords the guide passes
    "genops.providers.wandb.auto_instrument": [
        "wandb_api_key",
        "team",
        "project",
        "daily_budget_limit",
        "enable_cost_alerts",
    ],
    "genops.providers.wandb.instrument_wandb": [
        "wandb_api_key",
        "team",
        "project",
        "customer_id",
        "environment",
        "daily_budget_limit",
        "max_experiment_cost",
        "governance_policy",
        "enable_cost_alerts",
        "enable_governance",
        "cost_center",
        "tags",
        "sampling_rate",
        "enable_caching",
        "cache_ttl_minutes",
        "connection_timeout_seconds",
        "retry_attempts",
        "retry_backoff_factor",
        "debug_mode",
        "verbose_logging",
        "batch_size",
        "async_export",
        "enable_compression",
        "max_concurrent_experiments",
        "memory_limit_mb",
        "workflow_context",
        "enable_detailed_monitoring",
        "region",
        "data_residency_policy",
        "production_config",
        "audit_log_retention_years",
        "security_level",
        "enable_encryption_at_rest",
        "enable_encryption_in_transit",
        "require_mfa",
    ],
    "genops.providers.wandb.get_current_adapter": [],
    "genops.providers.wandb_validation.validate_setup": [
        "include_connectivity_tests",
        "include_governance_tests",
        "include_performance_tests",
    ],
    "genops.providers.wandb_validation.print_validation_result": ["result", "detailed"],
    "genops.providers.wandb_governance.create_data_lineage": [
        "data_sources",
        "transformations",
        "validation_results",
        "compliance_approvals",
    ],
}
CLASSES = ["GenOpsWandbAdapter", "GovernancePolicy", "ExperimentCostSummary", "BudgetExceededError"]
ADAPTER_INIT = [  # the guide's API reference signature, in order
    "wandb_api_key",
    "team",
    "project",
    "customer_id",
    "environment",
    "daily_budget_limit",
    "max_experiment_cost",
    "governance_policy",
    "enable_cost_alerts",
    "enable_governance",
    "cost_center",
    "tags",
]
METHODS = {
    "track_experiment_lifecycle": ["experiment_name", "experiment_type", "max_cost"],
    "log_governed_artifact": ["artifact", "cost_estimate", "governance_metadata"],
    "get_metrics": [],
    "get_experiment_cost_summary": ["experiment_id"],
    "generate_failure_report": [],
    "cleanup": [],
    "get_compliance_status": [],
    "generate_compliance_report": [],
    "generate_production_report": [],
    "generate_comprehensive_compliance_report": [],
    "generate_customer_usage_report": ["customer_id", "billing_period"],
    "process_experiment_batch": ["configs"],
    "export_audit_trail": ["start_date", "end_date", "format"],
}
# Compliance and production classes of the guide: constructor keywords, methods: keywords.
COMPLIANCE_CLASSES = {
    "genops.providers.wandb_production.ProductionConfiguration": (
        [
            "environment",
            "security_level",
            "max_concurrent_experiments",
            "max_daily_cost",
            "enable_encryption_at_rest",
            "enable_encryption_in_transit",
            "require_mfa",
            "audit_log_retention_years",
            "backup_frequency_hours",
            "disaster_recovery_rpo_hours",
        ],
        {},
    ),
    "genops.security.SecurityManager": (
        ["adapter"],
        {
            "classify_data": ["level"],
            "compliance_checkpoint": ["framework"],
            "schedule_compliance_report": ["frequency"],
            "submit_compliance_report": ["report"],
        },
    ),
}
ATTRIBUTES = ["active_runs", "daily_usage"]
POLICIES = {"AUDIT_ONLY": "audit_only", "ADVISORY": "advisory", "ENFORCED": "enforced"}
SUMMARY_FIELDS = [
    "total_cost",
    "compute_cost",
    "storage_cost",
    "data_transfer_cost",
    "cost_by_run",
    "experiment_duration",
    "resource_efficiency",
]
EXPERIMENT_ATTRIBUTES = ["estimated_cost", "total_cost"]
MONITORING = {  # genops.monitoring class: method: keywords the guide passes, in order
    "AlertManager": {
        "add_cost_alert": ["threshold_percentage", "notification_channels"],
        "add_performance_alert": ["metric", "threshold", "time_window_minutes"],
        "add_governance_alert": ["violation_types", "severity", "escalation_chain"],
        "health_check": ["interval_minutes"],
    },
    "ProductionMonitor": {
        "add_metric_alert": ["metric", "threshold", "alert_channel"],
        "schedule": ["interval"],
        "send_report": ["report", "channels"],
    },
}
METRIC_KEYS = [
    "daily_usage",
    "budget_remaining",
    "daily_budget_limit",
    "error_rate_percentage",
    "operation_count",
    "active_experiments",
    "governance_policy",
]


def resolve(dotted: str):
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def accepts(function, keyword: str) -> bool:
    parameters = inspect.signature(function).parameters
    if keyword in parameters:
        return parameters[keyword].kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY,
        )
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def test_the_guide_names_the_modules_checked_here(seed_guide):
    text = seed_guide.read_text()
    assert all(f"from {module} import" in text for module in MODULES)


def _guide_names(guide) -> dict[str, bool | None]:
    from tests.guide import standins
    from tests.guide.guide_blocks import python_blocks
    from tests.guide.guide_names import guide_names, reference_names

    blocks = [b for b in python_blocks(guide) if not b.is_listing]
    # with the imports a block forgot (standins.IMPORTS), as the blocks run
    names = guide_names([standins.script_for(b.key, b.code) for b in blocks])
    text = guide.read_text()
    reference = text[text.index("## API Reference") : text.index("## Troubleshooting")]
    return names | reference_names(reference)


def test_every_genops_name_the_guide_uses_exists(seed_guide):
    """The names come from the guide itself (tests/guide/guide_names.py), not from the
    lists above: every module, import, keyword, attribute and method it uses on genops."""
    names = _guide_names(seed_guide)
    missing = sorted(name for name, ok in names.items() if ok is False)
    by_run = sorted(name for name, ok in names.items() if ok is None)
    print(
        f"guide genops names: {len(names)} used, {len(names) - len(by_run)} checked here, "
        f"{len(by_run)} keys of dict results checked by running their blocks"
    )
    assert not missing, missing
    assert len(names) > 150, "the extraction found too little: the guide or the extractor changed"


def test_the_lists_above_name_only_what_the_guide_uses(seed_guide):
    """The detailed signature checks above stay in step with the guide's own names."""
    from tests.guide.guide_blocks import python_blocks

    names = _guide_names(seed_guide)
    listed = "".join(b.code for b in python_blocks(seed_guide) if b.is_listing)
    for function, keywords in FUNCTIONS.items():
        for keyword in keywords:  # used in a sample, or listed in the API reference
            name = f"{function}({keyword}=)"
            assert name in names or f"{keyword}:" in listed, name
    for method in METHODS:
        assert f"GenOpsWandbAdapter.{method}" in names, method


def test_no_genops_name_is_refused_as_not_yet_supported():
    for package in (ROOT / "instrumentation" / "src", ROOT / "processor" / "src"):
        for path in package.rglob("*.py"):
            assert "not yet supported" not in path.read_text(), path


@pytest.mark.parametrize(
    "cls,method,keywords",
    [(c, m, k) for c, methods in MONITORING.items() for m, k in methods.items()],
)
def test_monitoring_methods_take_the_guides_keywords_in_order(cls, method, keywords):
    target = getattr(resolve(f"genops.monitoring.{cls}"), method)
    parameters = list(inspect.signature(target).parameters)[1:]
    assert parameters[: len(keywords)] == keywords


@pytest.mark.parametrize("module", MODULES)
def test_module_imports(module):
    importlib.import_module(module)


@pytest.mark.parametrize("function,keywords", FUNCTIONS.items())
def test_function_accepts_the_guides_keywords(function, keywords):
    target = resolve(function)
    assert callable(target)
    for keyword in keywords:
        assert accepts(target, keyword), f"{function} does not take {keyword}="


@pytest.mark.parametrize("name", CLASSES)
def test_class_exists(name):
    assert inspect.isclass(resolve(f"genops.providers.wandb.{name}"))


def test_adapter_signature_matches_the_reference_in_order():
    from genops.providers.wandb import GenOpsWandbAdapter

    parameters = list(inspect.signature(GenOpsWandbAdapter).parameters)
    assert parameters[: len(ADAPTER_INIT)] == ADAPTER_INIT
    for keyword in FUNCTIONS["genops.providers.wandb.instrument_wandb"]:
        assert accepts(GenOpsWandbAdapter, keyword)


@pytest.mark.parametrize("method,keywords", METHODS.items())
def test_adapter_methods(method, keywords):
    from genops.providers.wandb import GenOpsWandbAdapter

    target = getattr(GenOpsWandbAdapter, method)
    parameters = list(inspect.signature(target).parameters)[1:]
    assert parameters[: len(keywords)] == keywords


def test_adapter_attributes_and_policy_values():
    from genops.providers.wandb import (
        BudgetExceededError,
        ExperimentCostSummary,
        GenOpsWandbAdapter,
        GovernancePolicy,
    )

    for name in ATTRIBUTES:
        assert isinstance(getattr(GenOpsWandbAdapter, name), property)
    assert {p.name: p.value for p in GovernancePolicy} == POLICIES
    assert GovernancePolicy.parse("Enforced") is GovernancePolicy.ENFORCED
    assert issubclass(BudgetExceededError, ValueError)
    fields = list(inspect.signature(ExperimentCostSummary).parameters)
    assert fields[: len(SUMMARY_FIELDS)] == SUMMARY_FIELDS


def test_experiment_object_has_the_guides_attributes():
    from genops.experiment import Experiment

    for name in EXPERIMENT_ATTRIBUTES:
        assert isinstance(getattr(Experiment, name), property)
    assert Experiment.estimated_cost.fset is not None  # settable, so += works


@pytest.mark.parametrize("cls", COMPLIANCE_CLASSES)
def test_compliance_classes_take_the_guides_keywords(cls):
    keywords, methods = COMPLIANCE_CLASSES[cls]
    target = resolve(cls)
    assert inspect.isclass(target)
    parameters = list(inspect.signature(target).parameters)
    assert parameters[: len(keywords)] == keywords
    for method, method_keywords in methods.items():
        listed = list(inspect.signature(getattr(target, method)).parameters)[1:]
        assert listed[: len(method_keywords)] == method_keywords


def test_compliance_status_reads_as_the_guide_reads_it():
    from genops import compliance

    facts = compliance.Facts(
        team="t", region="eu-west-1", residency=compliance.RESIDENCY_POLICIES["us_only"]
    )
    status = compliance.evaluate(facts)
    [violation] = status.violations
    assert status["overall_score"] == status.overall_score == 0.0
    assert violation["policy"] == violation.policy == "data_residency"
    assert violation["description"] == violation.description


@pytest.mark.parametrize(
    "keyword, value",
    [
        ("region", "us east"),
        ("data_residency_policy", "mars_only"),
        ("production_config", "production"),
        ("audit_log_retention_years", 0),
    ],
)
def test_compliance_keywords_are_validated_naming_them(keyword, value, tmp_path, monkeypatch):
    from genops.config import ConfigError
    from genops.providers.wandb import GenOpsWandbAdapter

    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ConfigError, match=keyword):
        GenOpsWandbAdapter(team="t", **{keyword: value})


def test_metrics_have_the_guides_keys_even_without_a_processor(tmp_path, monkeypatch, unused_port):
    from genops.providers.wandb import GenOpsWandbAdapter

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GENOPS_ENDPOINT", f"127.0.0.1:{unused_port}")
    adapter = GenOpsWandbAdapter(team="t", project="p", retry_attempts=0)
    metrics = adapter.get_metrics()
    for key in METRIC_KEYS:
        assert key in metrics, key
    assert metrics["source"] == "local_estimate" and metrics["local_estimate"] is True
    assert metrics["budget_remaining"] == metrics["daily_budget_limit"] == 100.0
    assert adapter.daily_usage == 0.0 and adapter.active_runs == {}
    adapter.cleanup()

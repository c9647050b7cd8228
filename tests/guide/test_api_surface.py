"""Every name of the adapter API that the guide imports or calls exists, with a compatible
signature. The guide is ../shared/seed/wandb-governance-guide.md (the ``seed_guide``
fixture; the tests that read it skip without it); names owned by later
work (audit, compliance, security, production reports) are
checked to be absent or to refuse their keywords by name, never stubbed.
"""

from __future__ import annotations

import importlib
import inspect
import re

import pytest

MODULES = ["genops.providers.wandb", "genops.providers.wandb_validation"]
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
    ],
    "genops.providers.wandb.get_current_adapter": [],
    "genops.providers.wandb_validation.validate_setup": [
        "include_connectivity_tests",
        "include_governance_tests",
        "include_performance_tests",
    ],
    "genops.providers.wandb_validation.print_validation_result": ["result", "detailed"],
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
# Owned by later issues: passing them must fail loudly, naming the keyword.
DEFERRED_KEYWORDS = [
    "production_config",
    "region",
    "data_residency_policy",
    "audit_log_retention_years",
]
DEFERRED_METHODS = [
    "get_compliance_status",
    "export_audit_trail",
    "generate_customer_usage_report",
    "generate_compliance_report",
    "generate_production_report",
    "process_experiment_batch",
    "generate_comprehensive_compliance_report",
]


def all_names() -> list[str]:
    names = list(MODULES)
    for function, keywords in FUNCTIONS.items():
        names.append(function)
        names += [f"{function}({k}=)" for k in keywords]
    names += CLASSES + [f"GenOpsWandbAdapter({k}=)" for k in ADAPTER_INIT]
    for method, keywords in METHODS.items():
        names.append(f"GenOpsWandbAdapter.{method}")
        names += [f"GenOpsWandbAdapter.{method}({k}=)" for k in keywords]
    names += [f"GenOpsWandbAdapter.{a}" for a in ATTRIBUTES]
    names += [f"GovernancePolicy.{p}" for p in POLICIES]
    names += [f"ExperimentCostSummary.{f}" for f in SUMMARY_FIELDS]
    names += [f"experiment.{a}" for a in EXPERIMENT_ATTRIBUTES]
    names += [f"get_metrics()['{k}']" for k in METRIC_KEYS]
    names.append("genops.monitoring")
    for cls, methods in MONITORING.items():
        names.append(cls)
        for method, keywords in methods.items():
            names.append(f"{cls}.{method}")
            names += [f"{cls}.{method}({k}=)" for k in keywords]
    return names


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


def test_every_name_the_guide_uses_is_listed_here(seed_guide):
    """Guard the list itself: every in-scope name the guide mentions appears above."""
    text = seed_guide.read_text()
    imported = set(re.findall(r"from (genops[\w.]*) import ([\w, ]+)", text))
    in_scope = {(m, n.strip()) for m, names in imported for n in names.split(",") if m in MODULES}
    listed = {f"{m}.{n}" for m, n in in_scope}
    known = set(FUNCTIONS) | {f"genops.providers.wandb.{c}" for c in CLASSES}
    assert listed <= known, listed - known
    for method in re.findall(r"adapter\.(\w+)\(", text):
        assert method in METHODS or method in DEFERRED_METHODS, method


def test_surface_count_is_pinned():
    # Pinned so that a name dropped from the lists above is noticed; update on purpose.
    count = len(all_names())
    print(f"guide API names checked: {count}")
    assert count == 119


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


@pytest.mark.parametrize("keyword", DEFERRED_KEYWORDS)
def test_keywords_of_later_work_are_refused_by_name(keyword, tmp_path, monkeypatch):
    from genops.providers.wandb import GenOpsWandbAdapter

    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(TypeError, match=f"'{keyword}' is not yet supported"):
        GenOpsWandbAdapter(team="t", **{keyword: "x"})


@pytest.mark.parametrize("method", DEFERRED_METHODS)
def test_methods_of_later_work_are_not_stubbed(method):
    from genops.providers.wandb import GenOpsWandbAdapter

    assert not hasattr(GenOpsWandbAdapter, method)


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

"""The adapter's options: names, parsers, defaults, environment variables, file keys.

Pure data and parsing; :mod:`genops.config` reads the sources and applies the
precedence keyword > ``GENOPS_*`` environment variable > config file > default.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from genops import compliance
from genops.attributes import MAX_CONCURRENT_EXPERIMENTS, SECURITY_LEVELS
from genops.money import parse_usd_micros
from genops.policy import GovernancePolicy

Parser = Callable[[Any], Any]


# -- parsers: value -> parsed value, or ValueError(reason) ------------------------------
def text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("expected text")
    return value.strip() or None


def usd(value: Any) -> int:
    return parse_usd_micros(value)


def policy(value: Any) -> GovernancePolicy:
    return GovernancePolicy.parse(value)


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"1", "true", "yes", "on"}:
        return True
    if isinstance(value, str) and value.strip().lower() in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true or false")


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError("expected a number") from None


def fraction(value: Any) -> float:
    number = _number(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError("must be between 0 and 1")
    return number


def positive(value: Any) -> float:
    number = _number(value)
    if not number > 0:
        raise ValueError("must be above 0")
    return number


def non_negative(value: Any) -> float:
    number = _number(value)
    if not number >= 0:
        raise ValueError("must be 0 or more")
    return number


def count(value: Any, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool):
        raise ValueError("expected a whole number")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError("expected a whole number") from None
    if number != _number(value) or number < minimum:
        raise ValueError(f"expected a whole number of at least {minimum}")
    if maximum is not None and number > maximum:
        raise ValueError(f"expected a whole number from {minimum} to {maximum}")
    return number


def timeout_seconds(value: Any) -> float:
    number = positive(value)
    if number > 60:
        raise ValueError("must be at most 60 seconds")
    return number


def heartbeat_seconds(value: Any) -> float:
    number = positive(value)
    if number > 30:
        raise ValueError("must be at most 30 seconds")
    return number


def fail_mode(value: Any) -> str:
    mode = text(value)
    if mode not in ("open", "closed"):
        raise ValueError("expected open or closed")
    return mode


def security_level(value: Any) -> str | None:
    level = text(value)
    if level is None:
        return None
    if level.lower() not in SECURITY_LEVELS:
        raise ValueError(f"expected one of {', '.join(SECURITY_LEVELS)}")
    return level.lower()


def labels(value: Any) -> Mapping[str, str]:
    """``{"k": "v"}`` or ``"k=v,k2=v2"`` -> a mapping of strings."""
    if isinstance(value, str):
        pairs = [item.partition("=") for item in value.split(",") if item.strip()]
        if any(not sep or not key.strip() for key, sep, _ in pairs):
            raise ValueError("expected key=value pairs separated by commas")
        value = {key.strip(): val.strip() for key, _, val in pairs}
    if not isinstance(value, Mapping):
        raise ValueError("expected a mapping of names to values")
    return MappingProxyType({str(k): str(v) for k, v in value.items()})


def pricing_model(value: Any) -> Any:
    """A CustomPricingModel, or the mapping of its three rate tables."""
    from genops.providers.wandb_pricing import CustomPricingModel

    if value is None or isinstance(value, CustomPricingModel):
        return value
    if isinstance(value, Mapping):
        return CustomPricingModel.from_config(value)
    raise ValueError("expected a CustomPricingModel or a mapping of rate tables")


def hook(value: Any) -> Any:
    if value is None or callable(value):
        return value
    raise ValueError("expected a function, called with the BudgetExceededError")


def workflow(value: Any) -> Mapping[str, str]:
    """An orchestrator context (Airflow, Kubeflow...): its scalar entries, as text."""
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise ValueError("expected a mapping (for example Airflow's task context)")
    kept = {str(k): str(v) for k, v in value.items() if isinstance(v, str | int | float | bool)}
    return MappingProxyType(kept)


def production_config(value: Any) -> Any:
    from genops.providers.wandb_production import parse

    return parse(value)


def retention_years(value: Any) -> int | None:
    from genops.providers.wandb_production import MAX_RETENTION_YEARS

    if value is None:
        return None
    years = count(value, 1)
    if years > MAX_RETENTION_YEARS:
        raise ValueError(f"expected a whole number from 1 to {MAX_RETENTION_YEARS}")
    return years


@dataclass(frozen=True)
class Option:
    name: str
    parse: Parser
    default: Any
    env: tuple[str, ...] = ()
    file_keys: tuple[str, ...] = ()
    keyword: bool = True  # False: not an adapter keyword (environment or file only)


def _env(name: str) -> tuple[str, ...]:
    return (f"GENOPS_{name.upper()}",)


OPTIONS: tuple[Option, ...] = (
    Option("wandb_api_key", text, None, (), ("wandb.api_key",)),
    Option("team", text, None, _env("team"), ("wandb.default_team", "wandb.team")),
    Option("project", text, None, _env("project"), ("wandb.default_project", "wandb.project")),
    Option("customer_id", text, None, _env("customer_id"), ("governance.customer_id",)),
    Option("environment", text, "development", _env("environment"), ("governance.environment",)),
    Option("cost_center", text, None, _env("cost_center"), ("governance.cost_center",)),
    Option(
        "daily_budget_limit",
        usd,
        100_000_000,
        _env("daily_budget_limit"),
        ("governance.daily_budget_limit",),
    ),
    Option(
        "max_experiment_cost",
        usd,
        50_000_000,
        _env("max_experiment_cost"),
        ("governance.max_experiment_cost",),
    ),
    Option(
        "governance_policy",
        policy,
        GovernancePolicy.ADVISORY,
        _env("governance_policy"),
        ("governance.policy_enforcement", "governance.governance_policy"),
    ),
    Option(
        "enable_cost_alerts",
        boolean,
        True,
        _env("enable_cost_alerts"),
        ("governance.enable_cost_alerts",),
    ),
    Option(
        "enable_governance",
        boolean,
        True,
        _env("enable_governance"),
        ("governance.enable_governance",),
    ),
    Option(
        "budget_fail_mode",
        fail_mode,
        "open",
        _env("budget_fail_mode"),
        ("governance.budget_fail_mode",),
        keyword=False,
    ),
    Option("tags", labels, MappingProxyType({}), _env("tags"), ("governance.tags",)),
    Option(
        "max_concurrent_experiments",
        lambda v: count(v, 1, MAX_CONCURRENT_EXPERIMENTS),
        None,
        _env("max_concurrent_experiments"),
        ("governance.max_concurrent_experiments",),
    ),
    Option("sampling_rate", fraction, 1.0, _env("sampling_rate"), ("observability.sampling_rate",)),
    Option(
        "enable_detailed_monitoring",
        boolean,
        False,
        _env("enable_detailed_monitoring"),
        ("observability.enable_detailed_metrics", "observability.enable_detailed_monitoring"),
    ),
    Option(
        "export_to_otel",
        boolean,
        True,
        _env("export_to_otel"),
        ("observability.export_to_otel",),
        keyword=False,
    ),
    Option(
        "heartbeat_interval_seconds",
        heartbeat_seconds,
        15.0,
        ("GENOPS_HEARTBEAT_INTERVAL",),
        ("observability.export_interval_seconds",),
        keyword=False,
    ),
    Option(
        "endpoint", text, None, ("GENOPS_ENDPOINT",), ("observability.endpoint",), keyword=False
    ),
    Option(
        "batch_size", lambda v: count(v, 1), 512, _env("batch_size"), ("observability.batch_size",)
    ),
    Option("async_export", boolean, True, _env("async_export"), ("observability.async_export",)),
    Option(
        "enable_compression",
        boolean,
        True,
        _env("enable_compression"),
        ("observability.enable_compression",),
    ),
    Option(
        "memory_limit_mb",
        positive,
        None,
        _env("memory_limit_mb"),
        ("observability.memory_limit_mb",),
    ),
    Option("debug_mode", boolean, False, _env("debug_mode"), ("observability.debug_mode",)),
    Option(
        "verbose_logging",
        boolean,
        False,
        _env("verbose_logging"),
        ("observability.verbose_logging",),
    ),
    Option("enable_caching", boolean, False, _env("enable_caching"), ("network.enable_caching",)),
    Option(
        "cache_ttl_minutes",
        positive,
        5.0,
        _env("cache_ttl_minutes"),
        ("network.cache_ttl_minutes",),
    ),
    Option(
        "connection_timeout_seconds",
        timeout_seconds,
        2.0,
        (*_env("connection_timeout_seconds"), "GENOPS_BUDGET_CHECK_TIMEOUT"),
        ("network.connection_timeout_seconds",),
    ),
    Option(
        "retry_attempts",
        lambda v: count(v, 0),
        2,
        _env("retry_attempts"),
        ("network.retry_attempts",),
    ),
    Option(
        "retry_backoff_factor",
        non_negative,
        0.2,
        _env("retry_backoff_factor"),
        ("network.retry_backoff_factor",),
    ),
    Option("workflow_context", workflow, MappingProxyType({}), (), ()),
    Option("pricing_model", pricing_model, None, (), ("pricing",)),
    Option("on_budget_exceeded", hook, None, (), ()),
    Option("require_approval", boolean, False, (), ("governance.require_approval",)),
    # Security keywords (genops.security_posture): a classification of runs and
    # artifacts, and requirements checked when the adapter is made.
    Option(
        "security_level",
        security_level,
        None,
        _env("security_level"),
        ("governance.security_level",),
    ),
    Option(
        "enable_encryption_in_transit",
        boolean,
        False,
        _env("enable_encryption_in_transit"),
        ("network.enable_encryption_in_transit", "governance.enable_encryption_in_transit"),
    ),
    Option(
        "enable_encryption_at_rest",
        boolean,
        False,
        _env("enable_encryption_at_rest"),
        ("governance.enable_encryption_at_rest",),
    ),
    Option("require_mfa", boolean, False, _env("require_mfa"), ("governance.require_mfa",)),
    # Compliance (genops.compliance): where the data lives, what the residency policy
    # allows, how long the audit trail is kept; a production configuration.
    Option("region", compliance.region, None, _env("region"), ("governance.region",)),
    Option(
        "data_residency_policy",
        compliance.residency_policy,
        None,
        _env("data_residency_policy"),
        ("governance.data_residency_policy",),
    ),
    Option(
        "audit_log_retention_years",
        retention_years,
        None,
        _env("audit_log_retention_years"),
        ("governance.audit_log_retention_years",),
    ),
    Option("production_config", production_config, None, (), ()),
)
OPTIONS_BY_NAME = MappingProxyType({o.name: o for o in OPTIONS})
KEYWORDS = tuple(o.name for o in OPTIONS if o.keyword)
FILE_SECTIONS = ("wandb", "governance", "observability", "network", "pricing")
PRICING_KEYS = ("compute_rates", "storage_rates", "data_transfer_rates")


@dataclass(frozen=True)
class Secret:
    """A value that never prints (the W&B API key)."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret('****')"

    __str__ = __repr__


@dataclass(frozen=True)
class AdapterOptions:
    """Every option, resolved; money in micro-dollars. ``sources`` says where each came from."""

    wandb_api_key: Secret | None
    team: str | None
    project: str | None
    customer_id: str | None
    environment: str | None
    cost_center: str | None
    daily_budget_limit: int
    max_experiment_cost: int
    governance_policy: GovernancePolicy
    enable_cost_alerts: bool
    enable_governance: bool
    budget_fail_mode: str
    tags: Mapping[str, str]
    max_concurrent_experiments: int | None
    sampling_rate: float
    enable_detailed_monitoring: bool
    export_to_otel: bool
    heartbeat_interval_seconds: float
    endpoint: str | None
    batch_size: int
    async_export: bool
    enable_compression: bool
    memory_limit_mb: float | None
    debug_mode: bool
    verbose_logging: bool
    enable_caching: bool
    cache_ttl_minutes: float
    connection_timeout_seconds: float
    retry_attempts: int
    retry_backoff_factor: float
    workflow_context: Mapping[str, str]
    pricing_model: Any
    on_budget_exceeded: Any
    require_approval: bool
    security_level: str | None
    enable_encryption_in_transit: bool
    enable_encryption_at_rest: bool
    require_mfa: bool
    region: str | None = None
    data_residency_policy: Any = None  # genops.compliance.ResidencyPolicy
    audit_log_retention_years: int | None = None
    production_config: Any = None  # ProductionConfiguration
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

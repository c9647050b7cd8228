"""Every environment variable the instrumentation reads, parsed in one place.

==============================  =========================================  ==========
variable                        meaning                                    default
==============================  =========================================  ==========
GENOPS_TEAM                     team the run is attributed to              (unset)
GENOPS_PROJECT                  project the run is attributed to           (unset)
GENOPS_CUSTOMER_ID              customer the run is billed to              (unset)
GENOPS_COST_CENTER              cost center for finance                    (unset)
GENOPS_ENVIRONMENT              development / staging / production ...     (unset)
OTEL_RESOURCE_ATTRIBUTES        ``genops.team=...,genops.project=...``,    (unset)
                                read with the SDK's OTELResourceDetector
                                (values percent-decoded); GENOPS_* wins;
                                ``deployment.environment`` is a fallback
                                for the environment
GENOPS_GPU_TYPE                 GPU model, overrides detection             detected
GENOPS_GPU_COUNT                GPUs held by the run, overrides detection  detected
GENOPS_CPU_COUNT                vCPUs held by the run                      usable CPUs
GENOPS_INSTANCE_TYPE            cloud instance type (recorded)             (unset)
OTEL_SERVICE_NAME               ``service.name`` of the governance spans   wandb-training
                                (else ``service.name`` in
                                OTEL_RESOURCE_ATTRIBUTES)
GENOPS_ENDPOINT                 governance gRPC API, ``host:port`` or URL  OTLP endpoint
GENOPS_OTLP_ENDPOINT            where governance spans go (a collector in  GENOPS_ENDPOINT
                                front of the processor)
OTEL_EXPORTER_OTLP_ENDPOINT     fallback for both when the two above are   localhost:4317
                                unset (``..._TRACES_ENDPOINT`` first)
GENOPS_SPOOL_DIR                governance spans the processor has not     ~/.genops/spool
                                acknowledged wait here, re-sent at exit
                                and by the next governed process
GENOPS_SPOOL_MAX_MB             bound on the spool directory (MiB)         16
GENOPS_SPOOL_EXIT_WAIT          seconds the exit waits for a processor     10
                                that answered earlier to take the spool
                                (0, or one never reached: one attempt)
GENOPS_HEARTBEAT_INTERVAL       seconds between heartbeat spans (0 < x ≤   15
                                30)
GENOPS_BUDGET_CHECK             ask the governance API before a run        true
GENOPS_BUDGET_FAIL_MODE         ``open``: run when the API is unreachable;  open
                                ``closed``: refuse to start the run
GENOPS_BUDGET_CHECK_TIMEOUT     seconds to wait for a budget decision      2
GENOPS_DAILY_BUDGET_LIMIT       a daily limit in USD the client declares;  (unset)
                                it can only tighten the central policy
GENOPS_MAX_EXPERIMENT_COST      USD a run asks for at its start            0
GENOPS_RESERVATION_HOURS        with no maximum asked: hours of the run's  one heartbeat
                                hardware reserved at its start (0: none)   interval
GENOPS_GOVERNANCE_POLICY        ``audit_only`` / ``advisory`` /            (unset)
                                ``enforced``; only tightens the policy
GENOPS_REGION                   region the run's prices come from          catalog's
GENOPS_STORAGE_TIER             standard / infrequent / archive / ssd      standard
GENOPS_ARTIFACT_RETENTION_DAYS  days artifacts are kept (storage cost)     30
GENOPS_CAPACITY_TYPE            on-demand / spot                           on-demand
GENOPS_CATALOG_VERSION          the catalog version to be priced with      processor's
GENOPS_ON_BUDGET_EXCEEDED       ``module:function`` called before an       (unset)
                                enforced budget stops a running run
GENOPS_REQUIRE_APPROVAL         every run waits for ``genops approve``     false
GENOPS_OFFLINE_SPOOL            where decisions taken while the processor  ~/.genops/
                                is unreachable wait to be reported         offline-decisions.jsonl
GENOPS_TOKEN                    bearer token sent on every call            (unset)
GENOPS_CA                       PEM roots for an ``https://`` endpoint     system roots
GENOPS_CLIENT_CERT / _KEY       client certificate for mutual TLS          (unset)
==============================  =========================================  ==========

The transport variables (and their ``OTEL_EXPORTER_OTLP_*`` fallbacks) are
described in :mod:`genops.transport`.

An invalid value raises :class:`ConfigError` naming the variable and where it
came from; nothing else in the package reads ``os.environ`` for these.

Governance spans go through the instrumentation's own tracer provider, never
the global one: of the user's OpenTelemetry configuration only the endpoint
fallback above and the resource variables are read; their sampler, exporters,
span limits, headers and ``OTEL_SDK_DISABLED`` apply to their telemetry only.

The adapter (``genops.providers.wandb``) adds keywords; every one of them (see
:mod:`genops.adapter_options`) resolves as: keyword > ``GENOPS_<NAME>``
environment variable > config file (``GENOPS_CONFIG``, else
``~/.genops/config.yaml``) > default. The config file has the sections
``wandb``, ``governance``, ``observability`` and ``network``; an unknown section
or key is an error naming it.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from genops import attributes as attr
from genops.adapter_options import (
    FILE_SECTIONS,
    KEYWORDS,
    OPTIONS,
    PRICING_KEYS,
    AdapterOptions,
    Secret,
)
from genops.money import parse_usd_micros
from genops.transport import (
    OTEL_ENDPOINT_VARIABLES,
    ChannelSecurity,
    TransportError,
    parse_target,
)

DEFAULT_OTLP_ENDPOINT = "localhost:4317"
DEFAULT_SERVICE_NAME = "wandb-training"
EXPORT_TIMEOUT_S = 5.0
DEFAULT_SPOOL_MAX_MB = 16
DEFAULT_SPOOL_EXIT_WAIT_S = 10.0
_ENDPOINT_VARIABLES = (
    "GENOPS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)
_DETECTOR_LOCK = threading.Lock()
DEFAULT_HEARTBEAT_INTERVAL_S = 15.0
MAX_HEARTBEAT_INTERVAL_S = 30.0
POLICY_MODES = ("audit_only", "advisory", "enforced")
FAIL_MODES = ("open", "closed")

_ATTRIBUTION_ENV = {
    attr.TEAM: "GENOPS_TEAM",
    attr.PROJECT: "GENOPS_PROJECT",
    attr.CUSTOMER_ID: "GENOPS_CUSTOMER_ID",
    attr.COST_CENTER: "GENOPS_COST_CENTER",
    attr.ENVIRONMENT: "GENOPS_ENVIRONMENT",
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key and its source."""

    def __init__(self, key: str, source: str, value: object, reason: str) -> None:
        super().__init__(f"invalid {key}={value!r} (from {source}): {reason}")
        self.key = key
        self.source = source


@dataclass(frozen=True)
class HardwareOverrides:
    gpu_type: str | None = None
    gpu_count: int | None = None
    cpu_count: int | None = None
    instance_type: str | None = None


@dataclass(frozen=True)
class BudgetSettings:
    check_enabled: bool = True
    fail_mode: str = "open"
    timeout_s: float = 2.0
    retry_attempts: int = 0
    retry_backoff_s: float = 0.2
    client_daily_limit_micros: int = 0
    # Runs of the scope started and not final at most, enforced by the processor
    # (max_concurrent_experiments); 0: none declared.
    max_running_runs: int = 0
    requested_micros: int = 0
    policy_mode: str | None = None
    # Mode of the client's own daily limit (None: policy_mode).
    limit_mode: str | None = None
    # Called (with the BudgetExceededError) before an enforced budget stops a
    # running run: a callable, or "module:function" from GENOPS_ON_BUDGET_EXCEEDED.
    on_exceeded: Any = None
    # Ask for a person's approval before every run (GENOPS_REQUIRE_APPROVAL).
    require_approval: bool = False
    # A run that asks for no maximum reserves its hardware's catalog cost for this
    # many hours at its start (GENOPS_RESERVATION_HOURS; None: one heartbeat interval).
    reservation_hours: float | None = None


@dataclass(frozen=True)
class DetailSettings:
    """Telemetry detail: sampled, never used for cost or budget accounting."""

    sampling_rate: float = 1.0
    metrics: bool = False  # record the last logged metric values


@dataclass(frozen=True)
class InstrumentationSettings:
    attribution: Mapping[str, str] = field(default_factory=dict)
    hardware: HardwareOverrides = HardwareOverrides()
    governance_target: str = DEFAULT_OTLP_ENDPOINT
    governance_secure: bool = False
    # Token, TLS roots and client certificate of every governance call (genops.transport).
    governance_security: ChannelSecurity = ChannelSecurity()
    heartbeat_interval_s: float = DEFAULT_HEARTBEAT_INTERVAL_S
    budget: BudgetSettings = BudgetSettings()
    detail: DetailSettings = DetailSettings()
    # Span attributes for every run: pricing context (region, storage tier,
    # retention, capacity type, catalog version) and the adapter's tags/workflow.
    labels: Mapping[str, object] = field(default_factory=dict)
    wandb_api_key: Secret | None = None
    # Budget decisions taken alone while the processor was unreachable, kept
    # here until it is back (GENOPS_OFFLINE_SPOOL).
    offline_spool: Path = Path("~/.genops/offline-decisions.jsonl")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> InstrumentationSettings:
        env = os.environ if environ is None else environ
        source = _first_set(env, *_ENDPOINT_VARIABLES)
        if source is None:
            target, secure = parse_grpc_target(DEFAULT_OTLP_ENDPOINT)
        else:
            target, secure = parse_grpc_target(env[source].strip(), source)
        return cls(
            attribution=_attribution(env),
            labels=_pricing_labels(env),
            offline_spool=_spool_path(env),
            hardware=HardwareOverrides(
                gpu_type=_text(env, "GENOPS_GPU_TYPE"),
                gpu_count=_int(env, "GENOPS_GPU_COUNT", minimum=0),
                cpu_count=_int(env, "GENOPS_CPU_COUNT", minimum=0),
                instance_type=_text(env, "GENOPS_INSTANCE_TYPE"),
            ),
            governance_target=target,
            governance_secure=secure,
            governance_security=channel_security(env),
            heartbeat_interval_s=_seconds(
                env,
                "GENOPS_HEARTBEAT_INTERVAL",
                DEFAULT_HEARTBEAT_INTERVAL_S,
                maximum=MAX_HEARTBEAT_INTERVAL_S,
            ),
            budget=BudgetSettings(
                check_enabled=_bool(env, "GENOPS_BUDGET_CHECK", True),
                fail_mode=_choice(env, "GENOPS_BUDGET_FAIL_MODE", FAIL_MODES) or "open",
                timeout_s=_seconds(env, "GENOPS_BUDGET_CHECK_TIMEOUT", 2.0, maximum=60.0),
                client_daily_limit_micros=_usd(env, "GENOPS_DAILY_BUDGET_LIMIT"),
                requested_micros=_usd(env, "GENOPS_MAX_EXPERIMENT_COST"),
                policy_mode=_choice(env, "GENOPS_GOVERNANCE_POLICY", POLICY_MODES),
                on_exceeded=_hook(env),
                require_approval=_bool(env, "GENOPS_REQUIRE_APPROVAL", False),
                reservation_hours=_hours(env, "GENOPS_RESERVATION_HOURS"),
            ),
        )


@dataclass(frozen=True)
class ExportSettings:
    """Where and how governance spans are exported: the instrumentation's own pipeline.

    OTLP/gRPC, gzip unless ``gzip`` is False, to ``target``; ``source`` names the
    variable the endpoint came from ("default" when none was set). The batch
    fields are the adapter's tuning keywords.
    """

    target: str = DEFAULT_OTLP_ENDPOINT
    secure: bool = False
    # Token, TLS roots, client certificate and (OTEL endpoint only) OTEL headers.
    security: ChannelSecurity = ChannelSecurity()
    source: str = "default"
    timeout_s: float = EXPORT_TIMEOUT_S
    gzip: bool = True
    async_export: bool = True
    batch_size: int = 512
    max_queue_size: int = 2048
    service_name: str = DEFAULT_SERVICE_NAME
    # OTEL_RESOURCE_ATTRIBUTES as the SDK's detector decodes them.
    resource_attributes: Mapping[str, str] = field(default_factory=dict)
    spool_dir: Path = Path("~/.genops/spool")
    spool_max_bytes: int = DEFAULT_SPOOL_MAX_MB * 1024 * 1024
    exit_wait_s: float = DEFAULT_SPOOL_EXIT_WAIT_S

    @property
    def endpoint(self) -> str:
        """The target as a URL (``http://host:port``; https when secure)."""
        return f"{'https' if self.secure else 'http'}://{self.target}"

    @property
    def endpoint_from_env(self) -> bool:
        return self.source != "default"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ExportSettings:
        env = os.environ if environ is None else environ
        source = _first_set(env, "GENOPS_OTLP_ENDPOINT", *_ENDPOINT_VARIABLES)
        if source is None:
            target, secure = parse_grpc_target(DEFAULT_OTLP_ENDPOINT)
        else:
            target, secure = parse_grpc_target(env[source].strip(), source)
        resource = otel_resource_attributes(env)
        home = Path(env.get("HOME") or Path.home())
        spool_dir = _text(env, "GENOPS_SPOOL_DIR")
        max_mb = _int(env, "GENOPS_SPOOL_MAX_MB", minimum=1)
        return cls(
            target=target,
            secure=secure,
            security=channel_security(env, otel_headers=source in OTEL_ENDPOINT_VARIABLES),
            source=source or "default",
            service_name=str(resource.get("service.name") or DEFAULT_SERVICE_NAME),
            resource_attributes=resource,
            spool_dir=Path(spool_dir).expanduser() if spool_dir else home / ".genops" / "spool",
            spool_max_bytes=(max_mb or DEFAULT_SPOOL_MAX_MB) * 1024 * 1024,
            exit_wait_s=_seconds(
                env, "GENOPS_SPOOL_EXIT_WAIT", DEFAULT_SPOOL_EXIT_WAIT_S, maximum=600.0, zero=True
            ),
        )


def otel_resource_attributes(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME, read by the SDK's own
    OTELResourceDetector (it percent-decodes values: ``ml%20ops`` is ``ml ops``)."""
    from opentelemetry.sdk import resources

    env = os.environ if environ is None else environ
    if env is os.environ:
        detected = resources.OTELResourceDetector().detect()
    else:
        # The detector reads its module's ``environ``; a mapping handed in (tests,
        # diagnostics) is shown to it for the length of one call.
        with _DETECTOR_LOCK:
            saved = resources.environ
            resources.environ = env  # type: ignore[assignment]
            try:
                detected = resources.OTELResourceDetector().detect()
            finally:
                resources.environ = saved
    return {str(k): str(v) for k, v in detected.attributes.items()}


def known_secrets(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The secrets the environment hands this process (``WANDB_API_KEY``,
    ``GENOPS_TOKEN``), for :func:`genops.governance.redaction.redact_text` to take out
    of an error message before it is recorded."""
    env = os.environ if environ is None else environ
    return tuple(env[name] for name in ("WANDB_API_KEY", "GENOPS_TOKEN") if env.get(name))


def wandb_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """W&B's own variables (mode, API key, base URL) as set, for wandb to parse.

    Read here only for diagnostics (setup validation); the instrumentation
    never copies the key anywhere.
    """
    env = os.environ if environ is None else environ
    names = ("WANDB_MODE", "WANDB_API_KEY", "WANDB_BASE_URL")
    return {name: env[name] for name in names if _text(env, name)}


def resolve_adapter_options(
    keywords: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> AdapterOptions:
    """Apply keyword > GENOPS_* environment > config file > default to every option."""
    env = os.environ if environ is None else environ
    for keyword in keywords:
        if keyword not in KEYWORDS:
            raise TypeError(f"unexpected keyword argument '{keyword}'")
    file_values, file_path = _config_file(env)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for option in OPTIONS:
        value, source, key = _pick(option, keywords, env, file_values, file_path)
        if value is None:
            values[option.name] = option.default
            sources[option.name] = "default"
            continue
        try:
            values[option.name] = option.parse(value)
        except ValueError as error:
            raise ConfigError(key, source, value, str(error)) from None
        sources[option.name] = source
    if values["wandb_api_key"] is not None:
        values["wandb_api_key"] = Secret(values["wandb_api_key"])
    return AdapterOptions(**values, sources=sources)


def daily_limit_mode(options: AdapterOptions) -> str:
    """The default daily limit is a soft guard (advisory); one you set follows the policy.

    Not enforced by default: the guide's own "Manual Adapter" sample runs an experiment
    of ``max_cost=150`` under ``governance_policy="enforced"`` with the default $100."""
    source = options.sources.get("daily_budget_limit", "default")
    if source == "default":
        return "advisory"
    if source == "production_config":  # max_daily_cost: enforced whatever the policy
        return "enforced"
    return options.governance_policy.value


def settings_for_adapter(
    options: AdapterOptions, environ: Mapping[str, str] | None = None
) -> InstrumentationSettings:
    """What the instrumentation needs, from the adapter's options (and the environment
    for what the adapter has no keyword for: hardware, resource attributes, endpoint)."""
    env = os.environ if environ is None else environ
    base = InstrumentationSettings.from_env(env)
    attribution = dict(base.attribution)
    for key, name in (
        (attr.TEAM, "team"),
        (attr.PROJECT, "project"),
        (attr.CUSTOMER_ID, "customer_id"),
        (attr.COST_CENTER, "cost_center"),
        (attr.ENVIRONMENT, "environment"),
    ):
        value = getattr(options, name)
        defaulted = options.sources.get(name, "default") == "default"
        if value and not (defaulted and attribution.get(key)):
            attribution[key] = value
    target, secure = base.governance_target, base.governance_secure
    if options.endpoint:
        target, secure = parse_grpc_target(options.endpoint, "endpoint")
    labels = dict(base.labels)
    if options.pricing_model is not None:
        labels[attr.CATALOG_VERSION] = options.pricing_model.version
    if options.tags:
        labels[attr.TAGS] = json.dumps(dict(options.tags), sort_keys=True)
    if options.workflow_context:
        labels[attr.WORKFLOW] = json.dumps(dict(options.workflow_context), sort_keys=True)
    if options.security_level:
        labels[attr.SECURITY_LEVEL] = options.security_level
    if options.region:  # stored with the run; prices come from this region's rows
        labels[attr.REGION] = options.region
    return InstrumentationSettings(
        attribution=attribution,
        hardware=base.hardware,
        governance_target=target,
        governance_secure=secure,
        governance_security=base.governance_security,
        heartbeat_interval_s=options.heartbeat_interval_seconds,
        budget=BudgetSettings(
            check_enabled=options.enable_governance,
            fail_mode=options.budget_fail_mode,
            timeout_s=options.connection_timeout_seconds,
            retry_attempts=options.retry_attempts,
            retry_backoff_s=options.retry_backoff_factor,
            client_daily_limit_micros=options.daily_budget_limit,
            max_running_runs=options.max_concurrent_experiments or 0,
            requested_micros=0,
            policy_mode=options.governance_policy.value,
            limit_mode=daily_limit_mode(options),
            on_exceeded=options.on_budget_exceeded or base.budget.on_exceeded,
            require_approval=options.require_approval or base.budget.require_approval,
            reservation_hours=base.budget.reservation_hours,
        ),
        detail=DetailSettings(
            sampling_rate=options.sampling_rate, metrics=options.enable_detailed_monitoring
        ),
        labels=labels,
        wandb_api_key=options.wandb_api_key,
        offline_spool=base.offline_spool,
    )


def config_file_path(environ: Mapping[str, str] | None = None) -> tuple[Path, bool]:
    """(path, explicit?): GENOPS_CONFIG when set, else ~/.genops/config.yaml."""
    env = os.environ if environ is None else environ
    explicit = _text(env, "GENOPS_CONFIG")
    if explicit:
        return Path(explicit).expanduser(), True
    return Path(env.get("HOME") or Path.home()) / ".genops" / "config.yaml", False


def _config_file(env: Mapping[str, str]) -> tuple[dict[str, Any], str]:
    path, explicit = config_file_path(env)
    source = f"config file {path}"
    if not path.exists():
        if explicit:
            raise ConfigError("GENOPS_CONFIG", "environment", str(path), "no such file")
        return {}, source
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError("config", source, str(path), f"unreadable: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError("config", source, str(path), "expected sections of key: value")
    known = {key for option in OPTIONS for key in option.file_keys}
    known |= {f"pricing.{key}" for key in PRICING_KEYS}
    flat: dict[str, Any] = {}
    for section, body in data.items():
        if section not in FILE_SECTIONS:
            raise ConfigError(
                str(section),
                source,
                section,
                f"unknown section; expected one of {', '.join(FILE_SECTIONS)}",
            )
        if not isinstance(body, dict):
            raise ConfigError(str(section), source, body, "expected key: value pairs")
        for key, value in body.items():
            dotted = f"{section}.{key}"
            if dotted not in known:
                raise ConfigError(dotted, source, value, "unknown key")
            flat[dotted] = value
    pricing = {key: flat.pop(f"pricing.{key}") for key in PRICING_KEYS if f"pricing.{key}" in flat}
    if pricing:
        flat["pricing"] = pricing
    return flat, source


def _pick(option, keywords, env, file_values, file_source) -> tuple[Any, str, str]:
    if option.keyword and keywords.get(option.name) is not None:
        return keywords[option.name], "keyword", option.name
    for var in option.env:
        if _text(env, var) is not None:
            return env[var].strip(), "environment", var
    for key in option.file_keys:
        if file_values.get(key) is not None:
            return file_values[key], file_source, key
    return None, "default", option.name


def channel_security(
    environ: Mapping[str, str] | None = None, *, otel_headers: bool = False
) -> ChannelSecurity:
    """The transport variables (:mod:`genops.transport`); a bad one is a ConfigError."""
    try:
        return ChannelSecurity.from_env(environ, otel_headers=otel_headers)
    except TransportError as error:
        raise ConfigError(error.key, "environment", error.value, error.reason) from None


def parse_grpc_target(endpoint: str, key: str = "GENOPS_ENDPOINT") -> tuple[str, bool]:
    """``http://host:4317`` / ``host:4317`` -> (``host:4317``, secure?).

    ``key`` names the variable the value came from, for the error message.
    """
    try:
        return parse_target(endpoint, key)
    except TransportError as error:
        raise ConfigError(key, "environment", endpoint, error.reason) from None


def usd_to_micros(value: object, key: str, source: str) -> int:
    """Dollars to integer micro-dollars; ConfigError names the key and source."""
    try:
        return parse_usd_micros(value)
    except ValueError as error:
        raise ConfigError(key, source, value, str(error)) from None


def process_start_ns() -> int | None:
    """When this process started, from /proc (Linux); None elsewhere."""
    try:
        with open("/proc/self/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        with open("/proc/uptime", "rb") as fh:
            uptime_s = float(fh.read().split()[0])
        started_after_boot_s = int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    import time

    age_s = max(0.0, uptime_s - started_after_boot_s)
    return time.time_ns() - int(age_s * 1e9)


STORAGE_TIERS = ("standard", "infrequent", "archive", "ssd")
CAPACITY_TYPES = ("on-demand", "spot")


def _pricing_labels(env: Mapping[str, str]) -> dict[str, object]:
    """What the processor needs to price a run besides its usage."""
    labels: dict[str, object] = {}
    for key, var in (
        (attr.REGION, "GENOPS_REGION"),
        (attr.CATALOG_VERSION, "GENOPS_CATALOG_VERSION"),
    ):
        if _text(env, var):
            labels[key] = _text(env, var)
    tier = _choice(env, "GENOPS_STORAGE_TIER", STORAGE_TIERS)
    if tier:
        labels[attr.STORAGE_TIER] = tier
    capacity = _text(env, "GENOPS_CAPACITY_TYPE")
    if capacity:
        if capacity.lower() not in CAPACITY_TYPES:
            raise ConfigError(
                "GENOPS_CAPACITY_TYPE",
                "environment",
                capacity,
                f"expected one of {', '.join(CAPACITY_TYPES)}",
            )
        labels[attr.CAPACITY_TYPE] = capacity.lower()
    days = _int(env, "GENOPS_ARTIFACT_RETENTION_DAYS", minimum=1)
    if days is not None:
        labels[attr.STORAGE_RETENTION_DAYS] = days
    return labels


def _spool_path(env: Mapping[str, str]) -> Path:
    raw = _text(env, "GENOPS_OFFLINE_SPOOL")
    if raw:
        return Path(raw).expanduser()
    return Path(env.get("HOME") or Path.home()) / ".genops" / "offline-decisions.jsonl"


def _hook(env: Mapping[str, str]) -> str | None:
    raw = _text(env, "GENOPS_ON_BUDGET_EXCEEDED")
    if raw is None:
        return None
    module, sep, name = raw.partition(":")
    if not sep or not module.strip() or not name.strip():
        raise ConfigError(
            "GENOPS_ON_BUDGET_EXCEEDED", "environment", raw, "expected module:function"
        )
    return raw


def _attribution(env: Mapping[str, str]) -> dict[str, str]:
    resource = otel_resource_attributes(env)
    result: dict[str, str] = {}
    for key, var in _ATTRIBUTION_ENV.items():
        value = _text(env, var) or resource.get(key)
        if key == attr.ENVIRONMENT and not value:
            value = resource.get("deployment.environment.name") or resource.get(
                "deployment.environment"
            )
        if value:
            result[key] = value
    return result


def _first_set(env: Mapping[str, str], *names: str) -> str | None:
    """The first of ``names`` that is set to a non-blank value."""
    for name in names:
        if _text(env, name):
            return name
    return None


def _text(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return value.strip() if value and value.strip() else None


def _int(env: Mapping[str, str], name: str, minimum: int) -> int | None:
    raw = _text(env, name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, "environment", raw, "not a whole number") from None
    if value < minimum:
        raise ConfigError(name, "environment", raw, f"must be at least {minimum}")
    return value


def _seconds(
    env: Mapping[str, str], name: str, default: float, maximum: float, zero: bool = False
) -> float:
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, "environment", raw, "not a number of seconds") from None
    if not (0 <= value if zero else 0 < value) or not value <= maximum:
        lowest = "0 or more" if zero else "above 0"
        raise ConfigError(name, "environment", raw, f"must be {lowest} and at most {maximum:g}")
    return value


def _hours(env: Mapping[str, str], name: str) -> float | None:
    raw = _text(env, name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, "environment", raw, "not a number of hours") from None
    if not math.isfinite(value) or value < 0:
        raise ConfigError(name, "environment", raw, "must be a finite number of hours, 0 or more")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _text(env, name)
    if raw is None:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ConfigError(name, "environment", raw, "expected true or false")


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str | None:
    raw = _text(env, name)
    if raw is None:
        return None
    value = raw.lower().replace("-", "_")
    if value not in choices:
        raise ConfigError(name, "environment", raw, f"expected one of {', '.join(choices)}")
    return value


def _usd(env: Mapping[str, str], name: str) -> int:
    raw = _text(env, name)
    return 0 if raw is None else usd_to_micros(raw, name, "environment")

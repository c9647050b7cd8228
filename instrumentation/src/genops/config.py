"""Every environment variable the instrumentation reads, parsed in one place.

==============================  =========================================  ==========
variable                        meaning                                    default
==============================  =========================================  ==========
GENOPS_TEAM                     team the run is attributed to              (unset)
GENOPS_PROJECT                  project the run is attributed to           (unset)
GENOPS_CUSTOMER_ID              customer the run is billed to              (unset)
GENOPS_COST_CENTER              cost center for finance                    (unset)
GENOPS_ENVIRONMENT              development / staging / production ...     (unset)
OTEL_RESOURCE_ATTRIBUTES        ``genops.team=...,genops.project=...``;    (unset)
                                GENOPS_* wins over it;
                                ``deployment.environment`` is a fallback
                                for the environment
GENOPS_GPU_TYPE                 GPU model, overrides detection             detected
GENOPS_GPU_COUNT                GPUs held by the run, overrides detection  detected
GENOPS_CPU_COUNT                vCPUs held by the run                      usable CPUs
GENOPS_INSTANCE_TYPE            cloud instance type (recorded)             (unset)
GENOPS_ENDPOINT                 governance gRPC API, ``host:port`` or URL  OTLP endpoint
OTEL_EXPORTER_OTLP_ENDPOINT     where spans go (read by the OTLP exporter) localhost:4317
GENOPS_HEARTBEAT_INTERVAL       seconds between heartbeat spans (0 < x ≤   15
                                30)
GENOPS_BUDGET_CHECK             ask the governance API before a run        true
GENOPS_BUDGET_FAIL_MODE         ``open``: run when the API is unreachable;  open
                                ``closed``: refuse to start the run
GENOPS_BUDGET_CHECK_TIMEOUT     seconds to wait for a budget decision      2
GENOPS_DAILY_BUDGET_LIMIT       a daily limit in USD the client declares;  (unset)
                                it can only tighten the central policy
GENOPS_MAX_EXPERIMENT_COST      USD a run asks for at its start            0
GENOPS_GOVERNANCE_POLICY        ``audit_only`` / ``advisory`` /            (unset)
                                ``enforced``; only tightens the policy
==============================  =========================================  ==========

An invalid value raises :class:`ConfigError` naming the variable and where it
came from; nothing else in the package reads ``os.environ`` for these.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlparse

from genops import attributes as attr
from genops.money import parse_usd_micros

DEFAULT_OTLP_ENDPOINT = "localhost:4317"
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
    client_daily_limit_micros: int = 0
    requested_micros: int = 0
    policy_mode: str | None = None


@dataclass(frozen=True)
class InstrumentationSettings:
    attribution: Mapping[str, str] = field(default_factory=dict)
    hardware: HardwareOverrides = HardwareOverrides()
    governance_target: str = DEFAULT_OTLP_ENDPOINT
    governance_secure: bool = False
    heartbeat_interval_s: float = DEFAULT_HEARTBEAT_INTERVAL_S
    budget: BudgetSettings = BudgetSettings()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> InstrumentationSettings:
        env = os.environ if environ is None else environ
        source = _first_set(
            env,
            "GENOPS_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        )
        if source is None:
            target, secure = parse_grpc_target(DEFAULT_OTLP_ENDPOINT)
        else:
            target, secure = parse_grpc_target(env[source].strip(), source)
        return cls(
            attribution=_attribution(env),
            hardware=HardwareOverrides(
                gpu_type=_text(env, "GENOPS_GPU_TYPE"),
                gpu_count=_int(env, "GENOPS_GPU_COUNT", minimum=0),
                cpu_count=_int(env, "GENOPS_CPU_COUNT", minimum=0),
                instance_type=_text(env, "GENOPS_INSTANCE_TYPE"),
            ),
            governance_target=target,
            governance_secure=secure,
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
            ),
        )


def parse_grpc_target(endpoint: str, key: str = "GENOPS_ENDPOINT") -> tuple[str, bool]:
    """``http://host:4317`` / ``host:4317`` -> (``host:4317``, secure?).

    ``key`` names the variable the value came from, for the error message.
    """
    if "://" not in endpoint:
        return endpoint.rstrip("/"), False
    parsed = urlparse(endpoint)
    try:
        port = parsed.port or 4317
    except ValueError as error:
        raise ConfigError(key, "environment", endpoint, f"bad port: {error}") from None
    if not parsed.hostname:
        raise ConfigError(key, "environment", endpoint, "no host in the URL")
    host = f"[{parsed.hostname}]" if ":" in parsed.hostname else parsed.hostname
    return f"{host}:{port}", parsed.scheme == "https"


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


def _attribution(env: Mapping[str, str]) -> dict[str, str]:
    resource = _resource_attributes(env.get("OTEL_RESOURCE_ATTRIBUTES", ""))
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


def _resource_attributes(raw: str) -> dict[str, str]:
    pairs = {}
    for item in raw.split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            pairs[key.strip()] = value.strip()
    return pairs


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


def _seconds(env: Mapping[str, str], name: str, default: float, maximum: float) -> float:
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, "environment", raw, "not a number of seconds") from None
    if not 0 < value <= maximum:
        raise ConfigError(name, "environment", raw, f"must be above 0 and at most {maximum:g}")
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

"""Check a GenOps + W&B setup before training, and say how to fix what is wrong.

::

    from genops.providers.wandb_validation import validate_setup, print_validation_result

    result = validate_setup(include_connectivity_tests=True, include_governance_tests=True)
    print_validation_result(result, detailed=True)
    assert result["overall_status"] == "PASSED"      # or result.overall_status

Five categories of checks, each ``passed``, ``warning``, ``failed`` or
``skipped``; the setup PASSES when nothing failed (warnings are allowed):

* **Environment Configuration**: every ``GENOPS_*`` value and the config file
  parse (a typo names its key and file); team and project are set; a W&B API
  key exists unless W&B runs offline or disabled; which config file is used.
* **W&B API Connectivity**: wandb is installed in a supported version; with
  ``include_connectivity_tests`` (the default) the W&B API answers (online
  mode only; given at most 10 s).
* **GenOps Governance Setup**: where budget checks go; with connectivity tests
  the processor answers ``ListRuns``; with ``include_governance_tests`` a
  ``CheckBudget`` for your team and project asking for $0 (the processor
  records that decision like any other) and ``GetBudgetStatus``.
* **Cost Tracking Capabilities**: the price catalog loads; the GPU model the
  runs will report (detected, or ``GENOPS_GPU_TYPE``) has a price.
* **OpenTelemetry Integration**: the instrumentor, distro and configurator
  entry points are installed; with connectivity tests the OTLP endpoint
  accepts an (empty) export; with ``include_performance_tests`` the cost of
  the bookkeeping each ``wandb.log()`` call pays, measured (no wandb involved).

Nothing raises out of :func:`validate_setup`: a check that breaks is reported
as failed, naming the exception. Network checks have short deadlines (3 s for
gRPC, 10 s for the W&B API). The result is a :class:`ValidationResult`, usable
as an object and as a read-only mapping; ``result.as_dict()`` is plain JSON.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib import metadata
from types import MappingProxyType, SimpleNamespace
from typing import Any

import grpc

from genops import attributes as attr
from genops.adapter_options import AdapterOptions
from genops.catalog import Catalog
from genops.config import (
    ConfigError,
    ExportSettings,
    InstrumentationSettings,
    config_file_path,
    parse_grpc_target,
    resolve_adapter_options,
)
from genops.governance.v1 import governance_pb2 as pb
from genops.governance_client import GovernanceClient, GovernanceUnavailable
from genops.money import format_usd

__all__ = ["Check", "ValidationResult", "print_validation_result", "validate_setup"]

ENVIRONMENT = "Environment Configuration"
WANDB_API = "W&B API Connectivity"
GOVERNANCE = "GenOps Governance Setup"
COST_TRACKING = "Cost Tracking Capabilities"
OPENTELEMETRY = "OpenTelemetry Integration"
CATEGORIES = (ENVIRONMENT, WANDB_API, GOVERNANCE, COST_TRACKING, OPENTELEMETRY)

PASSED, WARNING, FAILED, SKIPPED = "passed", "warning", "failed", "skipped"
_ICONS = {PASSED: "✅", WARNING: "⚠️", FAILED: "❌", SKIPPED: "⏭️"}
_NO_KEY_MODES = ("offline", "dryrun", "disabled")
_GRPC_TIMEOUT_S = 3.0
_WANDB_API_TIMEOUT_S = 10.0
_LOG_CALLS = 100_000
_LOG_WARN_US = 5.0


# --------------------------------------------------------------------------- result types
class _ReadOnlyMapping(Mapping):
    """Mapping access to a dataclass's fields: ``obj['name']``, ``dict(obj)``."""

    _keys: tuple[str, ...] = ()

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


@dataclass(frozen=True, eq=False)
class Check(_ReadOnlyMapping):
    """One check: its ``status`` is passed, warning, failed or skipped."""

    name: str
    category: str
    status: str
    message: str
    fix: str = ""

    _keys = ("name", "category", "status", "message", "fix")


@dataclass(frozen=True, eq=False)
class ValidationResult(_ReadOnlyMapping):
    """``overall_status`` is PASSED when no check failed; ``summary`` counts statuses."""

    checks: tuple[Check, ...]
    overall_status: str = field(init=False)
    summary: Mapping[str, int] = field(init=False)

    _keys = ("overall_status", "checks", "summary")

    def __post_init__(self) -> None:
        counts = {key: 0 for key in ("passed", "warnings", "failed", "skipped")}
        names = {PASSED: "passed", WARNING: "warnings", FAILED: "failed", SKIPPED: "skipped"}
        for check in self.checks:
            counts[names[check.status]] += 1
        object.__setattr__(self, "summary", MappingProxyType(counts))
        object.__setattr__(self, "overall_status", "FAILED" if counts["failed"] else "PASSED")

    def category_status(self, category: str) -> str:
        """The worst status of a category's checks (skipped only when all were)."""
        statuses = {c.status for c in self.checks if c.category == category}
        for status in (FAILED, WARNING, PASSED):
            if status in statuses:
                return status
        return SKIPPED

    def as_dict(self) -> dict[str, Any]:
        """Plain data (JSON-serialisable)."""
        return {
            "overall_status": self.overall_status,
            "checks": [dict(check) for check in self.checks],
            "summary": dict(self.summary),
        }


@dataclass(frozen=True)
class _Outcome:
    status: str
    message: str
    fix: str = ""


# --------------------------------------------------------------------------- inputs
class _Inputs:
    """Settings shared by the checks, read once through genops.config (and wandb)."""

    @cached_property
    def options(self) -> AdapterOptions:
        return resolve_adapter_options({})

    @cached_property
    def settings(self) -> InstrumentationSettings:
        return InstrumentationSettings.from_env()

    @cached_property
    def export(self) -> ExportSettings:
        return ExportSettings.from_env()

    @cached_property
    def wandb(self) -> Any:
        return _wandb_settings()

    def options_or_none(self) -> AdapterOptions | None:
        try:
            return self.options
        except ConfigError:
            return None


def _wandb_settings() -> Any:
    """W&B's mode, API key and base URL, parsed by wandb itself.

    ``wandb.Settings()`` alone does not read the environment, so the WANDB_*
    variables come from :func:`genops.config.wandb_environment`.
    """
    import wandb

    from genops.config import wandb_environment

    settings = wandb.Settings()
    settings.update_from_env_vars(wandb_environment())
    return settings


# --------------------------------------------------------------------------- Environment
def _check_configuration(inputs: _Inputs) -> _Outcome:
    # Reading each raises ConfigError naming the bad key and where it came from.
    _ = (inputs.options, inputs.settings, inputs.export)
    return _Outcome(PASSED, "every GENOPS_* / OTEL_* value and the config file parse")


def _check_attribution(inputs: _Inputs) -> _Outcome:
    options = inputs.options_or_none()
    found = dict(inputs.settings.attribution)
    notes = []
    for key, name in ((attr.TEAM, "team"), (attr.PROJECT, "project")):
        value = getattr(options, name, None) if options else None
        if value and not found.get(key):
            notes.append(f"{name} from the config file applies to the adapter API only")
        found[key] = found.get(key) or value
    missing = [
        name for key, name in ((attr.TEAM, "team"), (attr.PROJECT, "project")) if not found[key]
    ]
    if missing:
        return _Outcome(
            WARNING,
            f"{' and '.join(missing)} not set: runs are not attributed to them",
            "export GENOPS_TEAM=<team> GENOPS_PROJECT=<project> (budgets are scoped by them)",
        )
    text = f"team {found[attr.TEAM]!r}, project {found[attr.PROJECT]!r}"
    return _Outcome(PASSED, "; ".join([text, *notes]))


def _check_credentials(inputs: _Inputs) -> _Outcome:
    mode = inputs.wandb.mode
    if mode in _NO_KEY_MODES:
        return _Outcome(PASSED, f"no API key needed in {mode} mode")
    if inputs.wandb.api_key:
        return _Outcome(PASSED, "WANDB_API_KEY is set")
    options = inputs.options_or_none()
    if options is not None and options.wandb_api_key is not None:
        return _Outcome(PASSED, "API key from the config file (wandb.api_key)")
    if _netrc_key(inputs.wandb.base_url):
        return _Outcome(PASSED, f"API key for {inputs.wandb.base_url} in ~/.netrc (wandb login)")
    return _Outcome(
        FAILED,
        f"no W&B API key in {mode} mode: WANDB_API_KEY unset, none in the config file or ~/.netrc",
        "export WANDB_API_KEY=<key> (https://wandb.ai/authorize), run `wandb login`, "
        "or set WANDB_MODE=offline",
    )


def _netrc_key(base_url: str) -> str | None:
    try:
        from wandb.sdk.lib.wbauth import wbnetrc
    except ImportError:  # older wandb: no netrc lookup here
        return None
    return wbnetrc.read_netrc_auth(host=base_url)


def _check_config_file(_inputs: _Inputs) -> _Outcome:
    path, explicit = config_file_path()
    origin = "GENOPS_CONFIG" if explicit else "default location"
    if path.exists():
        return _Outcome(PASSED, f"using {path} ({origin})")
    if explicit:
        return _Outcome(
            FAILED,
            f"GENOPS_CONFIG names {path}, which does not exist",
            "fix or unset GENOPS_CONFIG",
        )
    return _Outcome(PASSED, f"none ({path} does not exist): environment and defaults only")


# --------------------------------------------------------------------------- W&B API
def _check_wandb_package(_inputs: _Inputs) -> _Outcome:
    from opentelemetry.instrumentation.dependencies import get_dependency_conflicts
    from opentelemetry.instrumentation.wandb.package import _instruments

    conflict = get_dependency_conflicts(list(_instruments))
    if conflict is not None:
        return _Outcome(
            FAILED, str(conflict), 'pip install "opentelemetry-instrumentation-wandb[instruments]"'
        )
    import wandb

    return _Outcome(PASSED, f"wandb {wandb.__version__} ({', '.join(_instruments)})")


def _check_wandb_api(inputs: _Inputs) -> _Outcome:
    mode = inputs.wandb.mode
    if mode in _NO_KEY_MODES:
        return _Outcome(SKIPPED, f"W&B runs in {mode} mode: no API to reach")
    if _check_credentials(inputs).status != PASSED:
        return _Outcome(FAILED, "cannot ask the W&B API without an API key", "see credentials")
    options = inputs.options_or_none()
    key = options.wandb_api_key.value if options and options.wandb_api_key else None
    return _call_wandb_api(inputs.wandb.base_url, key)


def _call_wandb_api(base_url: str, api_key: str | None) -> _Outcome:
    outcome: list[_Outcome] = []

    def ask() -> None:
        try:
            import wandb

            viewer = wandb.Api(api_key=api_key, timeout=5).viewer
            who = getattr(viewer, "username", None) or getattr(viewer, "entity", "?")
            outcome.append(_Outcome(PASSED, f"{base_url} answered; logged in as {who}"))
        except Exception as error:  # any failure of the call is the finding
            outcome.append(_Outcome(FAILED, f"{base_url}: {type(error).__name__}: {error}"))

    worker = threading.Thread(target=ask, name="genops-validate-wandb-api", daemon=True)
    worker.start()
    worker.join(_WANDB_API_TIMEOUT_S)
    result = (
        outcome[0]
        if outcome
        else _Outcome(FAILED, f"{base_url}: no answer in {_WANDB_API_TIMEOUT_S:g} s")
    )
    if result.status == FAILED:
        fix = "check the network, WANDB_BASE_URL and the API key (`wandb login --verify`)"
        result = _Outcome(FAILED, result.message, fix)
    return result


# --------------------------------------------------------------------------- Governance
def _check_governance_settings(inputs: _Inputs) -> _Outcome:
    settings = inputs.settings
    budget = settings.budget
    if not budget.check_enabled:
        return _Outcome(
            WARNING,
            "budget checks are off (GENOPS_BUDGET_CHECK): runs start without asking the processor",
            "unset GENOPS_BUDGET_CHECK to have budgets checked before each run",
        )
    return _Outcome(
        PASSED,
        f"budgets checked at {settings.governance_target} before each run "
        f"(fail mode {budget.fail_mode}, timeout {budget.timeout_s:g} s)",
    )


def _governance_client(inputs: _Inputs) -> GovernanceClient:
    settings = inputs.settings
    return GovernanceClient(
        settings.governance_target, settings.governance_secure, timeout_s=_GRPC_TIMEOUT_S
    )


def _governance_call(inputs: _Inputs, ask: Callable[[GovernanceClient], _Outcome]) -> _Outcome:
    client = _governance_client(inputs)
    fix = "start genops-processor, or point GENOPS_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT at it"
    try:
        return ask(client)
    except GovernanceUnavailable as error:
        return _Outcome(FAILED, str(error), fix)
    except grpc.RpcError as error:
        return _Outcome(FAILED, f"{client.target}: {_rpc_error(error)}", fix)
    finally:
        client.close()


def _check_processor(inputs: _Inputs) -> _Outcome:
    def ask(client: GovernanceClient) -> _Outcome:
        runs = client.list_runs(pb.ListRunsRequest(limit=1)).runs
        latest = f"; latest run {runs[0].run_id}" if runs else "; no runs recorded yet"
        return _Outcome(PASSED, f"processor at {client.target} answered ListRuns{latest}")

    return _governance_call(inputs, ask)


def _budget_request(inputs: _Inputs) -> pb.CheckBudgetRequest:
    """What a run started now would ask (same builder as the wandb.init gate), for $0."""
    from opentelemetry.instrumentation.wandb.budget_gate import budget_request

    budget = dataclasses.replace(inputs.settings.budget, requested_micros=0)
    return budget_request(inputs.settings.attribution, budget, {"name": "genops-setup-validation"})


def _budgets_text(budgets) -> str:
    if not budgets:
        return "no budget applies"
    return ", ".join(
        f"{b.name} ({pb.PolicyMode.Name(b.mode).removeprefix('POLICY_MODE_').lower()}: "
        f"{format_usd(b.spent_micros)} of {format_usd(b.limit_micros)})"
        for b in budgets
    )


def _check_budget_decision(inputs: _Inputs) -> _Outcome:
    request = _budget_request(inputs)

    def ask(client: GovernanceClient) -> _Outcome:
        response = client.check_budget(request)
        decision = pb.Decision.Name(response.decision).removeprefix("DECISION_")
        text = f"CheckBudget($0): {decision}; budgets: {_budgets_text(response.budgets)}"
        if response.decision == pb.DECISION_DENY:
            return _Outcome(FAILED, text, "an enforced budget is spent: runs would be refused now")
        if response.decision == pb.DECISION_WARN:
            return _Outcome(WARNING, text, "an advisory budget is spent: runs will warn")
        return _Outcome(PASSED, text)

    return _governance_call(inputs, ask)


def _check_budget_status(inputs: _Inputs) -> _Outcome:
    def ask(client: GovernanceClient) -> _Outcome:
        response = client.budget_status(
            pb.GetBudgetStatusRequest(scope=_budget_request(inputs).scope)
        )
        return _Outcome(PASSED, f"GetBudgetStatus: {_budgets_text(response.budgets)}")

    return _governance_call(inputs, ask)


def _rpc_error(error: grpc.RpcError) -> str:
    code = error.code() if hasattr(error, "code") else None
    details = error.details() if hasattr(error, "details") else str(error)
    return f"{code.name if code else 'error'}: {details}"


# --------------------------------------------------------------------------- Cost tracking
def _check_catalog(_inputs: _Inputs) -> _Outcome:
    catalog = Catalog.load()
    return _Outcome(
        PASSED,
        f"default catalog {catalog.version}: {len(catalog.rows)} priced SKUs "
        "(the processor prices with its own --catalog)",
    )


def _check_hardware(inputs: _Inputs) -> _Outcome:
    from opentelemetry.instrumentation.wandb import hardware

    overrides = inputs.settings.hardware
    found = hardware.detect(overrides)
    if not found.gpu_count:
        return _Outcome(
            PASSED, f"CPU only: {found.cpu_count} vCPUs (GPU source: {found.gpu_source})"
        )
    held = f"{found.gpu_count} x {found.gpu_type} ({found.gpu_source})"
    if Catalog.load().get(found.gpu_type) is None:
        return _Outcome(
            WARNING,
            f"{held} is not in the catalog: it will be reported unpriced",
            "add the SKU to the processor's --catalog, or set GENOPS_GPU_TYPE to a catalog SKU",
        )
    return _Outcome(PASSED, f"{held} is priced by the catalog")


# --------------------------------------------------------------------------- OpenTelemetry
_ENTRY_POINTS = (
    ("opentelemetry_instrumentor", "wandb"),
    ("opentelemetry_distro", "genops"),
    ("opentelemetry_configurator", "genops"),
)


def _check_entry_points(_inputs: _Inputs) -> _Outcome:
    missing, others = [], []
    for group, name in _ENTRY_POINTS:
        found = {ep.name: ep for ep in metadata.entry_points(group=group)}
        if name not in found:
            missing.append(f"{group}:{name}")
            continue
        found.pop(name).load()  # an import error fails the check, naming itself
        if group != "opentelemetry_instrumentor":
            others += [f"{group}:{other}" for other in found]
    if missing:
        return _Outcome(
            FAILED,
            f"entry points missing: {', '.join(missing)}",
            "pip install opentelemetry-instrumentation-wandb (in this environment)",
        )
    text = "instrumentor wandb, distro and configurator genops installed"
    if others:
        text += f"; also installed: {', '.join(others)} (set OTEL_PYTHON_DISTRO=genops "
        text += "OTEL_PYTHON_CONFIGURATOR=genops)"
    return _Outcome(PASSED, text)


def _check_otlp_export(inputs: _Inputs) -> _Outcome:
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as trace_grpc

    export = inputs.export
    target, secure = parse_grpc_target(export.endpoint, "OTEL_EXPORTER_OTLP_ENDPOINT")
    origin = "" if export.endpoint_from_env else " (default)"
    if secure:
        channel = grpc.secure_channel(target, grpc.ssl_channel_credentials())
    else:
        channel = grpc.insecure_channel(target)
    try:
        stub = trace_grpc.TraceServiceStub(channel)
        stub.Export(trace_pb.ExportTraceServiceRequest(), timeout=_GRPC_TIMEOUT_S)
    except grpc.RpcError as error:
        return _Outcome(
            FAILED,
            f"OTLP export to {target}{origin}: {_rpc_error(error)}",
            "start genops-processor (or a collector) there, or set OTEL_EXPORTER_OTLP_ENDPOINT",
        )
    finally:
        channel.close()
    return _Outcome(PASSED, f"OTLP endpoint {target}{origin} accepted an export")


def _check_log_overhead(_inputs: _Inputs) -> _Outcome:
    from opentelemetry import trace
    from opentelemetry.instrumentation.wandb.run_tracker import RunTracker
    from opentelemetry.instrumentation.wandb.wrappers import traced_log

    tracker = RunTracker(trace.NoOpTracer(), heartbeat_interval_s=3600, origin_ns=None)
    run_id = "genops-setup-validation"
    tracker.start(run_id, time.time_ns(), {})
    try:
        per_call_us, counted = _time_log_calls(traced_log(tracker), run_id, tracker)
    finally:
        tracker.finish(run_id, failed=False)
        tracker.shutdown()
    if counted != _LOG_CALLS:
        return _Outcome(FAILED, f"log() bookkeeping counted {counted} of {_LOG_CALLS} calls")
    text = f"{per_call_us:.2f} µs of bookkeeping per wandb.log() call ({_LOG_CALLS:,} timed)"
    if per_call_us > _LOG_WARN_US:
        return _Outcome(WARNING, text, "a loaded machine? measure again; 5 µs is the budget")
    return _Outcome(PASSED, text)


def _time_log_calls(wrapper: Callable, run_id: str, tracker: Any) -> tuple[float, int]:
    """µs per wrapped call beyond the call itself, and how many calls were counted."""

    def log(*_args: Any, **_kwargs: Any) -> None:
        return None

    run = SimpleNamespace(_settings=SimpleNamespace(run_id=run_id))
    args, kwargs = ({"loss": 0.1},), {}
    started = time.perf_counter()
    for _ in range(_LOG_CALLS):
        wrapper(log, run, args, kwargs)
    wrapped_s = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(_LOG_CALLS):
        log(*args, **kwargs)
    bare_s = time.perf_counter() - started
    per_call_us = max(0.0, wrapped_s - bare_s) / _LOG_CALLS * 1e6
    return per_call_us, tracker.get(run_id).log_calls


# --------------------------------------------------------------------------- running
_CONNECTIVITY, _GOVERNANCE, _PERFORMANCE = (
    "include_connectivity_tests",
    "include_governance_tests",
    "include_performance_tests",
)
_CHECKS: tuple[tuple[str, str, Callable[[_Inputs], _Outcome], tuple[str, ...]], ...] = (
    (ENVIRONMENT, "configuration", _check_configuration, ()),
    (ENVIRONMENT, "team and project", _check_attribution, ()),
    (ENVIRONMENT, "credentials", _check_credentials, ()),
    (ENVIRONMENT, "config file", _check_config_file, ()),
    (WANDB_API, "wandb package", _check_wandb_package, ()),
    (WANDB_API, "W&B API", _check_wandb_api, (_CONNECTIVITY,)),
    (GOVERNANCE, "governance settings", _check_governance_settings, ()),
    (GOVERNANCE, "processor reachable", _check_processor, (_CONNECTIVITY,)),
    (GOVERNANCE, "budget check", _check_budget_decision, (_GOVERNANCE,)),
    (GOVERNANCE, "budget status", _check_budget_status, (_GOVERNANCE,)),
    (COST_TRACKING, "price catalog", _check_catalog, ()),
    (COST_TRACKING, "hardware pricing", _check_hardware, ()),
    (OPENTELEMETRY, "entry points", _check_entry_points, ()),
    (OPENTELEMETRY, "OTLP export", _check_otlp_export, (_CONNECTIVITY,)),
    (OPENTELEMETRY, "log() overhead", _check_log_overhead, (_PERFORMANCE,)),
)


def _run(name: str, category: str, check: Callable[[_Inputs], _Outcome], inputs: _Inputs) -> Check:
    try:
        outcome = check(inputs)
    except ConfigError as error:
        outcome = _Outcome(FAILED, str(error), "correct the value named in the message")
    except Exception as error:  # a broken check is a finding, never a crash
        outcome = _Outcome(
            FAILED,
            f"the {name} check raised {type(error).__name__}: {error}",
            "report this with the message above",
        )
    return Check(name, category, outcome.status, outcome.message, outcome.fix)


def validate_setup(
    include_connectivity_tests: bool = True,
    include_governance_tests: bool = False,
    include_performance_tests: bool = False,
) -> ValidationResult:
    """Run every check; network ones only when asked. Never raises."""
    flags = {
        _CONNECTIVITY: include_connectivity_tests,
        _GOVERNANCE: include_governance_tests,
        _PERFORMANCE: include_performance_tests,
    }
    inputs = _Inputs()
    checks = []
    for category, name, check, gates in _CHECKS:
        off = [gate for gate in gates if not flags[gate]]
        if off:
            checks.append(Check(name, category, SKIPPED, f"not requested ({off[0]}=False)"))
        else:
            checks.append(_run(name, category, check, inputs))
    return ValidationResult(tuple(checks))


def print_validation_result(result: ValidationResult, detailed: bool = False) -> None:
    """Print the result: overall status, counts, one line per category (checks if detailed)."""
    summary = result.summary
    print(f"{'✅' if result.overall_status == 'PASSED' else '❌'} GenOps W&B Setup Validation")
    print(f"Overall Status: {result.overall_status}")
    counts = (
        f"📊 Summary: ✅ Passed: {summary['passed']}, ⚠️ Warnings: {summary['warnings']}, "
        f"❌ Failed: {summary['failed']}"
    )
    print(counts + (f", ⏭️ Skipped: {summary['skipped']}" if summary["skipped"] else ""))
    print()
    for category in CATEGORIES:
        print(f"{_ICONS[result.category_status(category)]} {category}")
        if detailed:
            _print_checks(c for c in result.checks if c.category == category)


def _print_checks(checks) -> None:
    for check in checks:
        print(f"   {_ICONS[check.status]} {check.name}: {check.message}")
        if check.status in (WARNING, FAILED) and check.fix:
            print(f"      fix: {check.fix}")

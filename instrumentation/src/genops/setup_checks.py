"""The checks behind :func:`genops.providers.wandb_validation.validate_setup`.

Each check takes the shared :class:`Inputs` (settings read once through
genops.config) and returns an :class:`Outcome`; :data:`CHECKS` lists them with
their category and the ``include_*`` flags that gate them.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from importlib import metadata
from types import SimpleNamespace
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
    resolve_adapter_options,
)
from genops.governance.v1 import governance_pb2 as pb
from genops.governance_client import (
    GovernanceClient,
    GovernanceNotServed,
    GovernanceRefused,
    GovernanceUnavailable,
    describe,
)
from genops.money import format_usd
from genops.transport import open_channel, refusal_hint, refused

ENVIRONMENT = "Environment Configuration"
WANDB_API = "W&B API Connectivity"
GOVERNANCE = "GenOps Governance Setup"
COST_TRACKING = "Cost Tracking Capabilities"
OPENTELEMETRY = "OpenTelemetry Integration"
CATEGORIES = (ENVIRONMENT, WANDB_API, GOVERNANCE, COST_TRACKING, OPENTELEMETRY)

PASSED, WARNING, FAILED, SKIPPED = "passed", "warning", "failed", "skipped"
ICONS = {PASSED: "✅", WARNING: "⚠️", FAILED: "❌", SKIPPED: "⏭️"}
_NO_KEY_MODES = ("offline", "dryrun", "disabled")
_GRPC_TIMEOUT_S = 3.0
_WANDB_API_TIMEOUT_S = 10.0
_LOG_CALLS = 100_000
_LOG_WARN_US = 5.0


@dataclass(frozen=True)
class Outcome:
    status: str
    message: str
    fix: str = ""


# --------------------------------------------------------------------------- inputs
class Inputs:
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
def _check_configuration(inputs: Inputs) -> Outcome:
    # Reading each raises ConfigError naming the bad key and where it came from.
    _ = (inputs.options, inputs.settings, inputs.export)
    return Outcome(PASSED, "every GENOPS_* / OTEL_* value and the config file parse")


def _check_attribution(inputs: Inputs) -> Outcome:
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
        return Outcome(
            WARNING,
            f"{' and '.join(missing)} not set: runs are not attributed to them",
            "export GENOPS_TEAM=<team> GENOPS_PROJECT=<project> (budgets are scoped by them)",
        )
    text = f"team {found[attr.TEAM]!r}, project {found[attr.PROJECT]!r}"
    return Outcome(PASSED, "; ".join([text, *notes]))


def _check_credentials(inputs: Inputs) -> Outcome:
    mode = inputs.wandb.mode
    if mode in _NO_KEY_MODES:
        return Outcome(PASSED, f"no API key needed in {mode} mode")
    if inputs.wandb.api_key:
        return Outcome(PASSED, "WANDB_API_KEY is set")
    options = inputs.options_or_none()
    if options is not None and options.wandb_api_key is not None:
        return Outcome(PASSED, "API key from the config file (wandb.api_key)")
    if _netrc_key(inputs.wandb.base_url):
        return Outcome(PASSED, f"API key for {inputs.wandb.base_url} in ~/.netrc (wandb login)")
    return Outcome(
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


def _check_config_file(_inputs: Inputs) -> Outcome:
    path, explicit = config_file_path()
    origin = "GENOPS_CONFIG" if explicit else "default location"
    if path.exists():
        return Outcome(PASSED, f"using {path} ({origin})")
    if explicit:
        return Outcome(
            FAILED,
            f"GENOPS_CONFIG names {path}, which does not exist",
            "fix or unset GENOPS_CONFIG",
        )
    return Outcome(PASSED, f"none ({path} does not exist): environment and defaults only")


# --------------------------------------------------------------------------- W&B API
def _check_wandb_package(_inputs: Inputs) -> Outcome:
    from opentelemetry.instrumentation.dependencies import get_dependency_conflicts
    from opentelemetry.instrumentation.wandb.package import _instruments

    conflict = get_dependency_conflicts(list(_instruments))
    if conflict is not None:
        return Outcome(
            FAILED, str(conflict), 'pip install "opentelemetry-instrumentation-wandb[instruments]"'
        )
    import wandb

    return Outcome(PASSED, f"wandb {wandb.__version__} ({', '.join(_instruments)})")


def _check_wandb_api(inputs: Inputs) -> Outcome:
    mode = inputs.wandb.mode
    if mode in _NO_KEY_MODES:
        return Outcome(SKIPPED, f"W&B runs in {mode} mode: no API to reach")
    if _check_credentials(inputs).status != PASSED:
        return Outcome(FAILED, "cannot ask the W&B API without an API key", "see credentials")
    options = inputs.options_or_none()
    key = options.wandb_api_key.value if options and options.wandb_api_key else None
    return _call_wandb_api(inputs.wandb.base_url, key)


def _call_wandb_api(base_url: str, api_key: str | None) -> Outcome:
    outcome: list[Outcome] = []

    def ask() -> None:
        try:
            import wandb

            viewer = wandb.Api(api_key=api_key, timeout=5).viewer
            who = getattr(viewer, "username", None) or getattr(viewer, "entity", "?")
            outcome.append(Outcome(PASSED, f"{base_url} answered; logged in as {who}"))
        except Exception as error:  # any failure of the call is the finding
            outcome.append(Outcome(FAILED, f"{base_url}: {type(error).__name__}: {error}"))

    worker = threading.Thread(target=ask, name="genops-validate-wandb-api", daemon=True)
    worker.start()
    worker.join(_WANDB_API_TIMEOUT_S)
    result = (
        outcome[0]
        if outcome
        else Outcome(FAILED, f"{base_url}: no answer in {_WANDB_API_TIMEOUT_S:g} s")
    )
    if result.status == FAILED:
        fix = "check the network, WANDB_BASE_URL and the API key (`wandb login --verify`)"
        result = Outcome(FAILED, result.message, fix)
    return result


# --------------------------------------------------------------------------- Governance
def _check_governance_settings(inputs: Inputs) -> Outcome:
    settings = inputs.settings
    budget = settings.budget
    if not budget.check_enabled:
        return Outcome(
            WARNING,
            "budget checks are off (GENOPS_BUDGET_CHECK): runs start without asking the processor",
            "unset GENOPS_BUDGET_CHECK to have budgets checked before each run",
        )
    return Outcome(
        PASSED,
        f"budgets checked at {settings.governance_target} before each run "
        f"(fail mode {budget.fail_mode}, timeout {budget.timeout_s:g} s)",
    )


def _governance_client(inputs: Inputs) -> GovernanceClient:
    settings = inputs.settings
    return GovernanceClient(
        settings.governance_target,
        settings.governance_secure,
        timeout_s=_GRPC_TIMEOUT_S,
        security=settings.governance_security,
    )


def _governance_call(inputs: Inputs, ask: Callable[[GovernanceClient], Outcome]) -> Outcome:
    client = _governance_client(inputs)
    fix = "start genops-processor, or point GENOPS_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT at it"
    try:
        return ask(client)
    except GovernanceRefused as error:
        return Outcome(FAILED, str(error), error.hint)
    except GovernanceNotServed as error:
        return Outcome(FAILED, str(error), _not_served_fix(inputs, error.target))
    except GovernanceUnavailable as error:
        return Outcome(FAILED, str(error), fix)
    except grpc.RpcError as error:
        return Outcome(FAILED, f"{client.target}: {describe(error)}", fix)
    finally:
        client.close()


def _not_served_fix(inputs: Inputs, target: str) -> str:
    fix = "set GENOPS_ENDPOINT to genops-processor's host:port"
    try:
        export = inputs.export
    except ConfigError:
        return fix
    if export.target == target:
        fix += f" ({target} is the OTLP endpoint: a collector carries spans, not this API"
        if export.source != "GENOPS_OTLP_ENDPOINT":  # else GENOPS_ENDPOINT moves spans too
            fix += f"; GENOPS_OTLP_ENDPOINT={target} keeps spans going there"
        fix += ")"
    return fix


def _check_processor(inputs: Inputs) -> Outcome:
    def ask(client: GovernanceClient) -> Outcome:
        runs = client.list_runs(pb.ListRunsRequest(limit=1)).runs
        latest = f"; latest run {runs[0].run_id}" if runs else "; no runs recorded yet"
        return Outcome(PASSED, f"processor at {client.target} answered ListRuns{latest}")

    return _governance_call(inputs, ask)


def _check_transport_security(inputs: Inputs) -> Outcome:
    from genops.security_posture import plaintext_endpoints

    settings, export, options = inputs.settings, inputs.export, inputs.options_or_none()
    endpoints = [
        ("the governance endpoint", settings.governance_target, settings.governance_secure),
        (f"the OTLP endpoint ({export.source})", export.target, export.secure),
    ]
    plain = plaintext_endpoints(endpoints)
    token = "a token is sent" if settings.governance_security.has_token else "no GENOPS_TOKEN"
    if not plain:
        return Outcome(PASSED, f"TLS to every endpoint; {token}")
    text = f"plain text: {' and '.join(plain)}; {token}"
    if options is not None and options.enable_encryption_in_transit:
        return Outcome(
            FAILED,
            f"enable_encryption_in_transit is set, but {text}",
            "use https:// endpoints (GENOPS_ENDPOINT=https://host:port; GENOPS_CA for a "
            "private CA)",
        )
    return Outcome(PASSED, text)


def _check_security_posture(inputs: Inputs) -> Outcome:
    from genops.security_posture import asks_processor, unmet

    options = inputs.options_or_none()

    def ask(client: GovernanceClient) -> Outcome:
        posture = client.security_posture()
        found = (
            f"processor: tls={posture.tls}, authentication={posture.authentication or 'none'}, "
            f"mfa for admins={posture.mfa_required_for_admin}, "
            f"ledger encrypted={posture.ledger_encrypted_at_rest}"
        )
        missing = unmet(options, posture) if options is not None else []
        if missing:
            fix = "see the README section Client credentials"
            return Outcome(FAILED, f"{found}; {'; '.join(missing)}", fix)
        return Outcome(PASSED, found)

    if options is None or not asks_processor(options):
        return Outcome(SKIPPED, "neither require_mfa nor enable_encryption_at_rest is set")
    return _governance_call(inputs, ask)


def _budget_request(inputs: Inputs) -> pb.CheckBudgetRequest:
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


_NO_TEAM = "no team set: budgets are scoped by team (see the team and project check)"


def _check_budget_decision(inputs: Inputs) -> Outcome:
    request = _budget_request(inputs)
    if not request.scope.team:
        return Outcome(SKIPPED, _NO_TEAM)

    def ask(client: GovernanceClient) -> Outcome:
        response = client.check_budget(request)
        decision = pb.Decision.Name(response.decision).removeprefix("DECISION_")
        text = f"CheckBudget($0): {decision}; budgets: {_budgets_text(response.budgets)}"
        if response.decision == pb.DECISION_DENY:
            return Outcome(FAILED, text, "an enforced budget is spent: runs would be refused now")
        if response.decision == pb.DECISION_WARN:
            return Outcome(WARNING, text, "an advisory budget is spent: runs will warn")
        return Outcome(PASSED, text)

    return _governance_call(inputs, ask)


def _check_budget_status(inputs: Inputs) -> Outcome:
    if not _budget_request(inputs).scope.team:
        return Outcome(SKIPPED, _NO_TEAM)

    def ask(client: GovernanceClient) -> Outcome:
        response = client.budget_status(
            pb.GetBudgetStatusRequest(scope=_budget_request(inputs).scope)
        )
        return Outcome(PASSED, f"GetBudgetStatus: {_budgets_text(response.budgets)}")

    return _governance_call(inputs, ask)


# --------------------------------------------------------------------------- Cost tracking
def _check_catalog(_inputs: Inputs) -> Outcome:
    catalog = Catalog.load()
    return Outcome(
        PASSED,
        f"default catalog {catalog.version}: {len(catalog.rows)} priced SKUs "
        "(the processor prices with its own --catalog)",
    )


def _check_hardware(inputs: Inputs) -> Outcome:
    from opentelemetry.instrumentation.wandb import hardware

    overrides = inputs.settings.hardware
    found = hardware.detect(overrides)
    if not found.gpu_count:
        return Outcome(
            PASSED, f"CPU only: {found.cpu_count} vCPUs (GPU source: {found.gpu_source})"
        )
    held = f"{found.gpu_count} x {found.gpu_type} ({found.gpu_source})"
    if Catalog.load().get(found.gpu_type) is None:
        return Outcome(
            WARNING,
            f"{held} is not in the catalog: it will be reported unpriced",
            "add the SKU to the processor's --catalog, or set GENOPS_GPU_TYPE to a catalog SKU",
        )
    return Outcome(PASSED, f"{held} is priced by the catalog")


# --------------------------------------------------------------------------- OpenTelemetry
def _check_entry_points(_inputs: Inputs) -> Outcome:
    # The instrumentor is all opentelemetry-instrument needs: this package registers
    # no distro or configurator, so the user's (opentelemetry-distro ...) stay theirs.
    found = {ep.name: ep for ep in metadata.entry_points(group="opentelemetry_instrumentor")}
    if "wandb" not in found:
        return Outcome(
            FAILED,
            "entry point missing: opentelemetry_instrumentor:wandb",
            "pip install opentelemetry-instrumentation-wandb (in this environment)",
        )
    found["wandb"].load()  # an import error fails the check, naming itself
    return Outcome(PASSED, "instrumentor wandb installed (governance spans use their own pipeline)")


def _check_otlp_export(inputs: Inputs) -> Outcome:
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as trace_grpc

    export = inputs.export
    target, secure = export.target, export.secure
    origin = f" ({export.source})"
    channel = open_channel(target, secure, export.security)
    try:
        stub = trace_grpc.TraceServiceStub(channel)
        stub.Export(trace_pb.ExportTraceServiceRequest(), timeout=_GRPC_TIMEOUT_S)
    except grpc.RpcError as error:
        if refused(error):
            return Outcome(
                FAILED,
                f"OTLP export to {target}{origin} refused: {describe(error)}",
                refusal_hint(export.security, error.code()),
            )
        return Outcome(
            FAILED,
            f"OTLP export to {target}{origin}: {describe(error)}",
            "start genops-processor (or a collector) there, or set GENOPS_OTLP_ENDPOINT "
            "(else GENOPS_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT)",
        )
    finally:
        channel.close()
    return Outcome(PASSED, f"OTLP endpoint {target}{origin} accepted an export")


def _check_log_overhead(_inputs: Inputs) -> Outcome:
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
        return Outcome(FAILED, f"log() bookkeeping counted {counted} of {_LOG_CALLS} calls")
    text = f"{per_call_us:.2f} µs of bookkeeping per wandb.log() call ({_LOG_CALLS:,} timed)"
    if per_call_us > _LOG_WARN_US:
        return Outcome(WARNING, text, "a loaded machine? measure again; 5 µs is the budget")
    return Outcome(PASSED, text)


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
CONNECTIVITY, GOVERNANCE_TESTS, PERFORMANCE = (
    "include_connectivity_tests",
    "include_governance_tests",
    "include_performance_tests",
)
CHECKS: tuple[tuple[str, str, Callable[[Inputs], Outcome], tuple[str, ...]], ...] = (
    (ENVIRONMENT, "configuration", _check_configuration, ()),
    (ENVIRONMENT, "team and project", _check_attribution, ()),
    (ENVIRONMENT, "credentials", _check_credentials, ()),
    (ENVIRONMENT, "config file", _check_config_file, ()),
    (WANDB_API, "wandb package", _check_wandb_package, ()),
    (WANDB_API, "W&B API", _check_wandb_api, (CONNECTIVITY,)),
    (GOVERNANCE, "governance settings", _check_governance_settings, ()),
    (GOVERNANCE, "processor reachable", _check_processor, (CONNECTIVITY,)),
    (GOVERNANCE, "transport security", _check_transport_security, ()),
    (GOVERNANCE, "security posture", _check_security_posture, (CONNECTIVITY,)),
    (GOVERNANCE, "budget check", _check_budget_decision, (GOVERNANCE_TESTS,)),
    (GOVERNANCE, "budget status", _check_budget_status, (GOVERNANCE_TESTS,)),
    (COST_TRACKING, "price catalog", _check_catalog, ()),
    (COST_TRACKING, "hardware pricing", _check_hardware, ()),
    (OPENTELEMETRY, "entry points", _check_entry_points, ()),
    (OPENTELEMETRY, "OTLP export", _check_otlp_export, (CONNECTIVITY,)),
    (OPENTELEMETRY, "log() overhead", _check_log_overhead, (PERFORMANCE,)),
)

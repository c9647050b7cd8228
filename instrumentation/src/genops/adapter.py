"""GenOpsWandbAdapter: the guide's adapter, a client of the processor.

The adapter governs W&B runs through the same :class:`WandbInstrumentor` that
``opentelemetry-instrument`` uses: it only supplies settings (its keywords
over the environment and the config file), labels and lifecycle hooks
through :mod:`genops.context`. The processor stays the source of truth for
cost; what the adapter reports without it is marked as a local estimate.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from genops import attributes as attr
from genops import audit_trail, compliance, context, security_posture
from genops.adapter_compliance import AdapterCompliance
from genops.adapter_costs import AdapterCosts
from genops.adapter_options import AdapterOptions
from genops.adapter_record import AdapterRecord
from genops.audit_trail import AuditTrail
from genops.catalog import Catalog
from genops.config import (
    ExportSettings,
    InstrumentationSettings,
    known_secrets,
    resolve_adapter_options,
    settings_for_adapter,
)
from genops.errors import BudgetExceededError, BudgetInfo
from genops.experiment import Experiment, ExperimentCostSummary
from genops.governance import redaction
from genops.governance.v1 import governance_pb2 as pb
from genops.governance_client import GovernanceClient, GovernanceUnavailable
from genops.money import dollars_to_micros, format_usd
from genops.policy import GovernancePolicy, apply_policy
from genops.providers import wandb_production
from genops.usage_view import CostAlerts, UsageView

_log = logging.getLogger("genops.adapter")
_LOGGERS = ("genops", "opentelemetry.instrumentation.wandb")


class ConcurrencyLimitExceeded(BudgetExceededError):
    """More experiments at once than ``max_concurrent_experiments`` allows (enforced)."""


class GenOpsWandbAdapter(AdapterCompliance, AdapterCosts, AdapterRecord):
    """Cost attribution and budget governance for W&B runs. See ``docs/guide.md``."""

    def __init__(
        self,
        wandb_api_key: str | None = None,
        team: str | None = None,
        project: str | None = None,
        customer_id: str | None = None,
        environment: str | None = None,
        daily_budget_limit: float | None = None,
        max_experiment_cost: float | None = None,
        governance_policy: GovernancePolicy | str | None = None,
        enable_cost_alerts: bool | None = None,
        enable_governance: bool | None = None,
        cost_center: str | None = None,
        tags: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        given = dict(
            wandb_api_key=wandb_api_key,
            team=team,
            project=project,
            customer_id=customer_id,
            environment=environment,
            daily_budget_limit=daily_budget_limit,
            max_experiment_cost=max_experiment_cost,
            governance_policy=governance_policy,
            enable_cost_alerts=enable_cost_alerts,
            enable_governance=enable_governance,
            cost_center=cost_center,
            tags=tags,
            **kwargs,
        )
        self.options: AdapterOptions = resolve_adapter_options(
            {k: v for k, v in given.items() if v is not None}
        )
        self.options = wandb_production.apply(self.options)  # production_config=
        if self.options.wandb_api_key is not None:  # out of every error text we record
            redaction.remember(self.options.wandb_api_key.value)
        self._settings = settings_for_adapter(self.options)
        self._configure_logging()
        self._lock = threading.Lock()
        self._active_runs: dict[str, dict[str, Any]] = {}
        self._experiments: dict[str, Experiment] = {}
        self._finished: dict[str, Experiment] = {}
        self._tracer = None
        pricing = self.options.pricing_model
        self._catalog: Catalog = pricing.catalog if pricing is not None else Catalog.load()
        self._catalog_registered = pricing is None
        self._closed = False
        self._client = GovernanceClient(
            self._settings.governance_target,
            self._settings.governance_secure,
            self.options.connection_timeout_seconds,
            self.options.retry_attempts,
            self.options.retry_backoff_factor,
            security=self._settings.governance_security,
        )
        self.usage = UsageView(self)
        self._alerts = CostAlerts(self.options.enable_cost_alerts)
        self._check_security()
        try:
            self._check_residency_at_start()  # enforced: refused before any run
        except Exception:
            self._client.close()
            raise
        self._register_catalog()

    def _check_security(self) -> None:
        """The security keywords (genops.security_posture): raise before any run."""
        settings = self._settings
        governance = (settings.governance_target, settings.governance_secure)
        endpoints = [("the governance endpoint", *governance)]
        export = ExportSettings.from_env()
        if export.endpoint_from_env and (export.target, export.secure) != governance:
            endpoints.append((f"the OTLP endpoint ({export.source})", export.target, export.secure))
        try:
            security_posture.check_transport(self.options, endpoints)
            security_posture.check_posture(self.options, self._client.security_posture)
        except Exception:
            self._client.close()
            raise

    # -- identity -------------------------------------------------------------------
    team = property(lambda self: self.options.team)
    project = property(lambda self: self.options.project)
    customer_id = property(lambda self: self.options.customer_id)
    environment = property(lambda self: self.options.environment)
    cost_center = property(lambda self: self.options.cost_center)
    governance_policy = property(lambda self: self.options.governance_policy)
    client = property(lambda self: self._client)

    def __repr__(self) -> str:
        return (
            f"GenOpsWandbAdapter(team={self.team!r}, project={self.project!r}, "
            f"governance_policy={self.governance_policy.value!r})"
        )

    @property
    def active_runs(self) -> dict[str, dict[str, Any]]:
        """W&B runs opened under this adapter and not finished yet, by run id."""
        with self._lock:
            return dict(self._active_runs)

    @property
    def active_experiments(self) -> list[Experiment]:
        with self._lock:
            return list(self._experiments.values())

    @property
    def daily_usage(self) -> float:
        return self.get_metrics()["daily_usage"]

    # -- the Governor protocol (called by the instrumentation) ------------------------
    def instrumentation_settings(self) -> InstrumentationSettings:
        return self._settings

    def run_attributes(self) -> Mapping[str, object]:
        experiment = self._innermost_experiment()
        if experiment is None:
            return {}
        labels: dict[str, object] = {attr.EXPERIMENT_ID: experiment.experiment_id}
        if experiment.tags:
            merged = {**self.options.tags, **experiment.tags}
            labels[attr.TAGS] = json.dumps(merged, sort_keys=True)
        return labels

    def prepare_init_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        self._register_catalog()
        experiment = self._innermost_experiment()
        enforced = self.governance_policy is GovernancePolicy.ENFORCED
        if experiment is not None and experiment.over_budget and enforced:
            raise BudgetExceededError(
                f"experiment '{experiment.name}' is over its max_cost "
                f"{format_usd(experiment.max_cost_micros)} (enforced): no new runs"
            )
        key = self.options.wandb_api_key
        if key is None:
            return kwargs
        import wandb

        settings = kwargs.get("settings")
        if settings is None:
            kwargs["settings"] = wandb.Settings(api_key=key.value)
        elif isinstance(settings, dict):
            kwargs["settings"] = {"api_key": key.value, **settings}
        elif getattr(settings, "api_key", None) is None:
            kwargs["settings"] = settings.model_copy(update={"api_key": key.value})
        return kwargs

    def on_run_started(self, run_id: str, run: Any) -> None:
        experiment = self._innermost_experiment()
        with self._lock:
            self._active_runs[run_id] = {
                "run_id": run_id,
                "name": getattr(getattr(run, "_settings", None), "run_name", None),
                "experiment_id": experiment.experiment_id if experiment else None,
                "started_at": time.time(),
            }
        if experiment is not None:
            experiment.add_run(run_id)
        self._record_run_region(run_id)
        if self.options.verbose_logging:
            _log.info("genops: run %s started (team=%s)", run_id, self.team)

    def on_run_finished(self, run_id: str, failed: bool, cost_inputs: Any) -> None:
        micros = self._local_run_cost(cost_inputs)
        with self._lock:
            info = self._active_runs.pop(run_id, None)
        experiment = self._experiment_by_id(info.get("experiment_id") if info else None)
        self.usage.record_run(run_id, failed, micros, cost_inputs.log_calls)
        if self.options.verbose_logging:
            _log.info(
                "genops: run %s %s, about %s",
                run_id,
                "failed" if failed else "finished",
                format_usd(micros),
            )
        if experiment is not None:
            experiment.record_local_run_cost(run_id, micros)
            self._check_experiment_spend(experiment, from_run_end=True)
        self._alerts.check(self.usage.local_daily_micros(), self.options.daily_budget_limit)

    # -- experiments -------------------------------------------------------------------
    @contextmanager
    def track_experiment_lifecycle(
        self,
        experiment_name: str,
        experiment_type: str = "general",
        max_cost: float | None = None,
        **kwargs: Any,
    ) -> Iterator[Experiment]:
        """Govern a block of work: budget check on enter, attribution of the W&B runs
        opened inside, failure marking, and the policy's action past ``max_cost``."""
        for keyword in kwargs:
            if keyword not in ("tags", "compliance_requirements"):
                raise TypeError(f"unexpected keyword argument '{keyword}'")
        try:
            frameworks = compliance.frameworks(kwargs.get("compliance_requirements") or ())
        except ValueError as error:
            raise ValueError(f"compliance_requirements: {error}") from None
        limit = self.options.max_experiment_cost
        cap = limit if max_cost is None else dollars_to_micros(max_cost, "max_cost")
        experiment = Experiment(
            self, experiment_name, experiment_type, cap, dict(kwargs.get("tags") or {})
        )
        if frameworks:  # enforced: ComplianceViolationError before the block starts
            failed = self._require_frameworks(frameworks, f"experiment '{experiment_name}'")
            for check in failed:
                experiment.record_violation(
                    attr.EVENT_COMPLIANCE, self.governance_policy.value, check.description
                )
        self._admit(experiment, limit)
        self._keep_hold(experiment)  # renewed until the block ends
        with self._lock:
            self._experiments[experiment.experiment_id] = experiment
        try:
            # Runs opened in the block draw on its hold instead of reserving again.
            with context.governing(self), context.funding(experiment.hold_id):
                yield experiment
        except BaseException as error:
            experiment.status = attr.STATUS_FAILED
            experiment.error = redaction.error_text(error, known_secrets())
            raise
        else:
            experiment.status = attr.STATUS_FINISHED
        finally:
            experiment.end_ns = time.time_ns()
            self._release(experiment)
            with self._lock:
                self._experiments.pop(experiment.experiment_id, None)
                self._finished[experiment.experiment_id] = experiment
            self._emit(experiment)

    def _admit(self, experiment: Experiment, limit: int) -> None:
        """The enter-time checks: concurrency, max_cost vs max_experiment_cost, budget."""
        policy = self.governance_policy
        most = self.options.max_concurrent_experiments
        if most is not None and len(self._experiments) >= most:
            message = f"{len(self._experiments)} experiments already running (max {most})"
            if policy is GovernancePolicy.ENFORCED:
                raise ConcurrencyLimitExceeded(message)
            apply_policy(policy, message, None, self._recorder(experiment, "concurrency"))
        if not self.options.enable_governance:
            return  # no budget checks at all (runs are still attributed and priced)
        if experiment.max_cost_micros > limit:
            message = (
                f"experiment '{experiment.name}' max_cost {format_usd(experiment.max_cost_micros)}"
                f" is above max_experiment_cost {format_usd(limit)}"
            )
            info = BudgetInfo(
                "max_experiment_cost", limit, 0, experiment.max_cost_micros, "experiment"
            )
            apply_policy(
                policy,
                message,
                info,
                self._recorder(experiment, attr.EVENT_MAX_COST_EXCEEDED),
                stacklevel=5,
            )
        self._check_budget_at_enter(experiment)

    def _check_budget_at_enter(self, experiment: Experiment) -> None:
        settings = self._settings
        request = pb.CheckBudgetRequest(
            scope=self.usage.scope_pb(),
            requested_micros=experiment.max_cost_micros,
            client_limits=self.usage.client_limits_pb(),
            wandb_project=self.project or "",
            wandb_run_name=f"experiment:{experiment.name}",
        )
        try:
            response = self._client.check_budget(request)
        except GovernanceUnavailable as error:
            if settings.budget.fail_mode == "closed":
                raise BudgetExceededError(
                    f"budget check failed: {error} and the budget fail mode is closed"
                ) from None
            _log.warning("genops: %s; fail mode open, experiment proceeds unchecked", error)
            return
        experiment.hold_id = response.hold_id  # given back when the block ends
        if response.decision == pb.DECISION_ALLOW and not response.HasField("deciding_budget"):
            return
        state = response.deciding_budget
        info = BudgetInfo(
            state.name, state.limit_micros, state.spent_micros, response.requested_micros
        )
        left = max(0, state.limit_micros - state.spent_micros)
        message = (
            f"experiment '{experiment.name}' max_cost {format_usd(experiment.max_cost_micros)} "
            f"is above what budget '{state.name}' has left today ({format_usd(left)} of "
            f"{format_usd(state.limit_micros)})"
        )
        mode = {
            pb.DECISION_DENY: GovernancePolicy.ENFORCED,
            pb.DECISION_WARN: GovernancePolicy.ADVISORY,
        }.get(response.decision, GovernancePolicy.AUDIT_ONLY)
        apply_policy(
            mode,
            message,
            info,
            self._recorder(experiment, attr.EVENT_BUDGET_EXCEEDED),
            stacklevel=6,
        )

    def _check_experiment_spend(self, experiment: Experiment, from_run_end: bool = False) -> None:
        """Spend past max_cost inside the block: the policy's action, once."""
        if not self.options.enable_governance:
            return
        spent = experiment.spend_micros()
        if spent <= experiment.max_cost_micros or experiment.over_budget:
            return
        experiment.over_budget = True
        message = (
            f"experiment '{experiment.name}' spent {format_usd(spent)}, past its max_cost "
            f"{format_usd(experiment.max_cost_micros)}"
        )
        info = BudgetInfo(
            f"experiment:{experiment.name}", experiment.max_cost_micros, spent, 0, "experiment"
        )
        record = self._recorder(experiment, attr.EVENT_MAX_COST_EXCEEDED)
        if from_run_end and self.governance_policy is GovernancePolicy.ENFORCED:
            # Inside wandb's finish: stop the next run instead (prepare_init_kwargs).
            record(message)
            _log.error("genops: %s; no further runs will start in it", message)
            return
        apply_policy(self.governance_policy, message, info, record, stacklevel=4)

    def _recorder(self, experiment: Experiment, event: str):
        mode = self.governance_policy.value

        def record(message: str) -> None:
            experiment.record_violation(event, mode, message)

        return record

    def _emit(self, experiment: Experiment) -> None:
        if self._tracer is None:
            from opentelemetry.instrumentation.wandb import pipeline
            from opentelemetry.instrumentation.wandb.version import __version__

            self._tracer = pipeline.get_tracer("genops.adapter", __version__)
        scope: dict[str, object] = {k: v for k, v in self._settings.attribution.items() if v}
        if self.options.security_level:  # the block is classified like its runs
            scope[attr.SECURITY_LEVEL] = self.options.security_level
        try:
            experiment.emit_span(self._tracer, scope)
        except Exception:
            _log.warning("genops: could not record experiment %s", experiment.name, exc_info=True)
        self.usage.flush()

    def _innermost_experiment(self) -> Experiment | None:
        with self._lock:
            return next(reversed(self._experiments.values()), None)

    def _experiment_by_id(self, experiment_id: str | None) -> Experiment | None:
        if not experiment_id:
            return None
        with self._lock:
            return self._experiments.get(experiment_id) or self._finished.get(experiment_id)

    # -- artifacts ------------------------------------------------------------------------
    def log_governed_artifact(
        self,
        artifact: Any,
        cost_estimate: float | None = None,
        governance_metadata: Mapping[str, Any] | None = None,
    ) -> Any:
        """Log an artifact to the current run with governance metadata and a declared cost.

        The metadata is merged into the artifact's own W&B metadata (under
        ``genops``) and stored by the processor with the run; ``cost_estimate``
        is charged to the run as a declared storage cost.
        """
        import wandb

        run = wandb.run
        if run is None:
            raise RuntimeError("log_governed_artifact needs an active run: call wandb.init first")
        micros = 0 if cost_estimate is None else dollars_to_micros(cost_estimate, "cost_estimate")
        metadata = json.loads(json.dumps(dict(governance_metadata or {}), default=str))
        facts = self._artifact_facts(artifact, metadata, str(run.id))
        self._check_artifact(facts)  # enforced: DataResidencyError before it is logged
        governance = {
            **metadata,
            "team": self.team,
            "project": self.project,
            "cost_estimate_usd": float(micros) / 1_000_000,
        }
        artifact.metadata = {**(artifact.metadata or {}), "genops": governance}
        annotation = context.ArtifactAnnotation(json.dumps(metadata, sort_keys=True), micros)
        with context.annotating_artifact(annotation), context.governing(self):
            logged = run.log_artifact(artifact)
        self.compliance_log.add("artifacts", facts)
        experiment = self._innermost_experiment()
        if experiment is not None and micros:
            run_id = str(run.id)
            previous = experiment.local_run_costs().get(run_id, 0)
            experiment.record_local_run_cost(run_id, previous + micros)
            self._check_experiment_spend(experiment)
        return logged

    # -- reports ---------------------------------------------------------------------------
    def get_metrics(self) -> dict[str, Any]:
        metrics = self.usage.metrics()
        self._alerts.check(int(metrics["daily_usage"] * 1_000_000), self.options.daily_budget_limit)
        return metrics

    def get_experiment_cost_summary(self, experiment_id: str) -> ExperimentCostSummary:
        return self.usage.experiment_summary(experiment_id, self._experiment_by_id(experiment_id))

    def generate_failure_report(self) -> dict[str, Any]:
        return self.usage.failure_report(list(self._finished.values()))

    def export_audit_trail(
        self,
        start_date: Any = None,
        end_date: Any = None,
        format: str = "json",  # noqa: A002 (the guide's keyword)
        output: str | None = None,
    ) -> AuditTrail:
        """The processor's audit trail for a period, with its hash chain (see
        :mod:`genops.audit_trail`); ``output``: also write it there in ``format``."""
        return audit_trail.export(self._client, start_date, end_date, format, output)

    def cleanup(self) -> None:
        """Flush telemetry, close the connection to the processor, stop being current."""
        if self._closed:
            return
        self._closed = True
        for experiment in self.active_experiments:
            if experiment.hold_renewal is not None:
                experiment.hold_renewal.stop()
        self.usage.flush()
        self._client.close()
        if context.process_wide() is self:
            context.set_process_wide(None)

    # -- helpers ------------------------------------------------------------------------------
    def _configure_logging(self) -> None:
        level = None
        if self.options.debug_mode:
            level = logging.DEBUG
        elif self.options.verbose_logging:
            level = logging.INFO
        if level is None:
            return
        for name in _LOGGERS:
            logger = logging.getLogger(name)
            logger.setLevel(level)
            if not logger.handlers and not logging.getLogger().handlers:
                handler = logging.StreamHandler()
                handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
                logger.addHandler(handler)
        _log.debug(
            "genops: adapter %r configured (%s)",
            self,
            {k: v for k, v in self.options.sources.items() if v != "default"},
        )

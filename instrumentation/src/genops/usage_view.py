"""What an adapter reports: metrics, experiment summaries, failure reports, cost alerts.

Figures come from the processor when it answers (after flushing this
process's spans to it) and are marked ``local_estimate`` when it does not.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import warnings
from collections import Counter
from typing import TYPE_CHECKING, Any, Protocol

from genops.experiment import ExperimentCostSummary
from genops.governance.v1 import governance_pb2 as pb
from genops.governance_client import GovernanceUnavailable
from genops.money import format_usd
from genops.money import to_dollars as usd

if TYPE_CHECKING:
    from genops.adapter_options import AdapterOptions
    from genops.config import InstrumentationSettings
    from genops.experiment import Experiment
    from genops.governance_client import GovernanceClient

_log = logging.getLogger("genops.usage")
_FLUSH_TIMEOUT_MS = 5_000


class CostAlertWarning(UserWarning):
    """Daily usage passed an alert threshold of the daily budget."""


class CostAlerts:
    """Warn once per threshold (50, 80, 100 % of the daily limit) per UTC day."""

    THRESHOLDS = (50, 80, 100)

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.fired: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def check(self, used_micros: int, limit_micros: int) -> None:
        if not self.enabled or limit_micros <= 0:
            return
        day = dt.datetime.now(dt.timezone.utc).date().isoformat()
        for threshold in self.THRESHOLDS:
            if used_micros * 100 < limit_micros * threshold:
                continue
            with self._lock:
                if (day, threshold) in self.fired:
                    continue
                self.fired.append((day, threshold))
            text = (
                f"genops: daily usage {format_usd(used_micros)} reached {threshold}% of the "
                f"daily budget {format_usd(limit_micros)}"
            )
            _log.info(text)
            warnings.warn(text, CostAlertWarning, stacklevel=4)


class ReportedAdapter(Protocol):
    """What a UsageView reads of its adapter: this module stays below
    :mod:`genops.adapter` (which implements it) and never imports it."""

    @property
    def options(self) -> AdapterOptions: ...

    @property
    def client(self) -> GovernanceClient: ...

    @property
    def active_runs(self) -> dict[str, dict[str, Any]]: ...

    @property
    def active_experiments(self) -> list[Experiment]: ...

    def instrumentation_settings(self) -> InstrumentationSettings: ...


class UsageView:
    def __init__(self, adapter: ReportedAdapter) -> None:
        self._adapter = adapter
        self._lock = threading.Lock()
        self._runs: dict[str, tuple[bool, int, int, str]] = {}  # id -> failed, micros, logs, day
        self._cache: tuple[float, pb.GetUsageResponse] | None = None

    # -- requests --------------------------------------------------------------------
    def scope_pb(self) -> pb.Scope:
        options = self._adapter.options
        return pb.Scope(
            team=options.team or "",
            project=options.project or "",
            customer_id=options.customer_id or "",
            cost_center=options.cost_center or "",
            environment=options.environment or "",
        )

    def client_limits_pb(self) -> pb.ClientLimits:
        """The limits this adapter declares: the same request a run's check sends."""
        from opentelemetry.instrumentation.wandb.budget_gate import budget_request

        settings = self._adapter.instrumentation_settings()
        return budget_request(settings.attribution, settings.budget, {}).client_limits

    def flush(self) -> None:
        """Push this process's usage to the processor so its answers include it:
        a heartbeat for every live run, then a flush of the span pipeline."""
        from opentelemetry.instrumentation.wandb import WandbInstrumentor, pipeline

        tracker = WandbInstrumentor().tracker
        if tracker is not None:
            tracker.heartbeat_all()
        try:
            pipeline.force_flush(_FLUSH_TIMEOUT_MS)
        except Exception:
            _log.debug("genops: flush failed", exc_info=True)

    # -- local bookkeeping -------------------------------------------------------------
    def record_run(self, run_id: str, failed: bool, micros: int, log_calls: int) -> None:
        day = dt.datetime.now(dt.timezone.utc).date().isoformat()
        with self._lock:
            self._runs[run_id] = (failed, micros, log_calls, day)

    def _local_today(self) -> list[tuple[bool, int, int, str]]:
        day = dt.datetime.now(dt.timezone.utc).date().isoformat()
        with self._lock:
            return [r for r in self._runs.values() if r[3] == day]

    def local_daily_micros(self) -> int:
        return sum(r[1] for r in self._local_today())

    # -- metrics -------------------------------------------------------------------------
    def metrics(self) -> dict[str, Any]:
        adapter, options = self._adapter, self._adapter.options
        base = {
            "team": options.team,
            "project": options.project,
            "daily_budget_limit": usd(options.daily_budget_limit),
            "governance_policy": options.governance_policy.value,
            "active_experiments": len(adapter.active_experiments),
            "active_runs": len(adapter.active_runs),
        }
        response = self._usage_from_processor()
        if response is None:
            runs = self._local_today()
            used = sum(r[1] for r in runs)
            failed = sum(1 for r in runs if r[0])
            return {
                **base,
                "daily_usage": usd(used),
                "budget_remaining": usd(max(0, options.daily_budget_limit - used)),
                "error_rate_percentage": 100.0 * failed / len(runs) if runs else 0.0,
                "operation_count": sum(r[2] for r in runs),
                "source": "local_estimate",
                "local_estimate": True,
            }
        remaining = min(
            (b.limit_micros - b.spent_micros for b in response.budgets),
            default=options.daily_budget_limit - response.spent_today_micros,
        )
        runs = response.runs_today
        return {
            **base,
            "daily_usage": usd(response.spent_today_micros),
            "budget_remaining": usd(max(0, remaining)),
            "error_rate_percentage": 100.0 * response.failed_runs_today / runs if runs else 0.0,
            "operation_count": response.log_calls_today,
            "budgets": {
                b.name: {"limit": usd(b.limit_micros), "spent": usd(b.spent_micros)}
                for b in response.budgets
            },
            "source": "processor",
            "local_estimate": False,
        }

    def _usage_from_processor(self) -> pb.GetUsageResponse | None:
        options = self._adapter.options
        ttl_s = options.cache_ttl_minutes * 60
        if options.enable_caching and self._cache and time.monotonic() - self._cache[0] < ttl_s:
            return self._cache[1]
        self.flush()
        request = pb.GetUsageRequest(
            scope=pb.Scope(team=options.team or "", project=options.project or ""),
            client_limits=self.client_limits_pb(),
        )
        try:
            response = self._adapter.client.usage(request)
        except GovernanceUnavailable as error:
            _log.info("genops: %s; reporting local estimates", error)
            return None
        if options.enable_caching:
            self._cache = (time.monotonic(), response)
        return response

    # -- experiments ------------------------------------------------------------------------
    def experiment_summary(
        self, experiment_id: str, experiment: Experiment | None
    ) -> ExperimentCostSummary:
        self.flush()
        try:
            response = self._adapter.client.experiment(experiment_id)
        except GovernanceUnavailable:
            response = None
        if response is not None and response.found:
            x = response.experiment
            compute = x.compute_cost_micros
            return ExperimentCostSummary(
                total_cost=usd(
                    x.compute_cost_micros + x.storage_cost_micros + x.data_transfer_cost_micros
                ),
                compute_cost=usd(compute),
                storage_cost=usd(x.storage_cost_micros),
                data_transfer_cost=usd(x.data_transfer_cost_micros),
                cost_by_run={k: usd(v) for k, v in x.cost_by_run_micros.items()},
                experiment_duration=x.duration_ns / 1e9,
                resource_efficiency=_efficiency(x),
                experiment_id=experiment_id,
                source="processor",
                violations=list(x.violations),
            )
        if experiment is None:
            raise KeyError(f"unknown experiment {experiment_id!r}")
        costs = experiment.local_run_costs()
        end = experiment.end_ns or time.time_ns()
        total = sum(costs.values())
        return ExperimentCostSummary(
            total_cost=usd(total),
            compute_cost=usd(total),
            storage_cost=0.0,
            data_transfer_cost=0.0,
            cost_by_run={k: usd(v) for k, v in costs.items()},
            experiment_duration=(end - experiment.start_ns) / 1e9,
            resource_efficiency=1.0,
            experiment_id=experiment_id,
            source="local_estimate",
            violations=[m for _, _, m in experiment.violations],
        )

    # -- failures ---------------------------------------------------------------------------
    def failure_report(self, experiments: list[Experiment]) -> dict[str, Any]:
        failed_experiments = [
            {
                "experiment_id": x.experiment_id,
                "name": x.name,
                "error": x.error,
                "runs": list(x.run_ids),
                "violations": [m for _, _, m in x.violations],
            }
            for x in experiments
            if x.status == "failed"
        ]
        with self._lock:
            failed_runs = [run_id for run_id, r in self._runs.items() if r[0]]
            total_runs = len(self._runs)
        violations = Counter(event for x in experiments for event, _, _ in x.violations)
        metrics = self.metrics()
        return {
            "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            "team": self._adapter.options.team,
            "project": self._adapter.options.project,
            "failed_experiments": failed_experiments,
            "failed_runs": failed_runs,
            "runs_seen": total_runs,
            "violations": dict(violations),
            "daily_usage": metrics["daily_usage"],
            "budget_remaining": metrics["budget_remaining"],
            "source": metrics["source"],
        }


def _efficiency(x: pb.ExperimentSummary) -> float:
    """Share of the runs' spend that went to runs which finished without error."""
    runs_total = sum(x.cost_by_run_micros.values())
    return x.finished_compute_micros / runs_total if runs_total else 1.0

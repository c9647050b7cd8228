"""GenOps governance for Weights & Biases: the guide's public API.

::

    from genops.providers.wandb import auto_instrument
    auto_instrument(team="ml-team", project="churn", daily_budget_limit=25.0)

    import wandb
    run = wandb.init(project="my-project")   # attributed, priced, budget-checked
    wandb.log({"loss": 0.1})
    run.finish()

``auto_instrument`` and ``instrument_wandb`` build a :class:`GenOpsWandbAdapter`,
make it the current adapter, and instrument wandb with the same
``WandbInstrumentor`` that ``opentelemetry-instrument`` loads: one code path.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

from genops import context
from genops.adapter import ConcurrencyLimitExceeded, GenOpsWandbAdapter
from genops.config import ConfigError, ExportSettings
from genops.errors import BudgetExceededError
from genops.experiment import Experiment, ExperimentCostSummary
from genops.policy import BudgetWarning, GovernancePolicy
from genops.usage_view import CostAlertWarning

__all__ = [
    "BudgetExceededError",
    "BudgetWarning",
    "ConcurrencyLimitExceeded",
    "ConfigError",
    "CostAlertWarning",
    "Experiment",
    "ExperimentCostSummary",
    "GenOpsWandbAdapter",
    "GovernancePolicy",
    "auto_instrument",
    "get_current_adapter",
    "instrument_wandb",
]

_SPANS_PER_MB = 512  # a governance span is well under 2 KiB in memory
_EXPORT_TUNING = ("batch_size", "async_export", "enable_compression", "memory_limit_mb")


def auto_instrument(
    wandb_api_key: str | None = None,
    team: str | None = None,
    project: str | None = None,
    **kwargs: Any,
) -> GenOpsWandbAdapter:
    """Govern every W&B run of this process; returns the (now current) adapter."""
    return _install(
        GenOpsWandbAdapter(wandb_api_key=wandb_api_key, team=team, project=project, **kwargs)
    )


def instrument_wandb(
    wandb_api_key: str | None = None,
    team: str | None = None,
    project: str | None = None,
    **kwargs: Any,
) -> GenOpsWandbAdapter:
    """Create a configured adapter for explicit use (it also becomes the current one)."""
    return _install(
        GenOpsWandbAdapter(wandb_api_key=wandb_api_key, team=team, project=project, **kwargs)
    )


def get_current_adapter() -> GenOpsWandbAdapter | None:
    """The adapter governing this context, or None when none was set up."""
    governor = context.current()
    return governor if isinstance(governor, GenOpsWandbAdapter) else None


def _install(adapter: GenOpsWandbAdapter) -> GenOpsWandbAdapter:
    _configure_pipeline(adapter)
    from opentelemetry.instrumentation.wandb import WandbInstrumentor

    instrumentor = WandbInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(heartbeat_interval_s=adapter.options.heartbeat_interval_seconds)
    context.set_process_wide(adapter)
    return adapter


def _configure_pipeline(adapter: GenOpsWandbAdapter) -> None:
    """The adapter's endpoint and export keywords shape the governance pipeline (the
    instrumentation's own tracer provider, built at the first run; the global provider
    is never touched)."""
    from opentelemetry.instrumentation.wandb import pipeline

    options = adapter.options
    export = ExportSettings.from_env()
    # The environment's endpoints (GENOPS_OTLP_ENDPOINT, GENOPS_ENDPOINT, OTLP's),
    # else the adapter's (the config file's, or the default).
    if not export.endpoint_from_env:
        settings = adapter.instrumentation_settings()
        export = dataclasses.replace(
            export,
            target=settings.governance_target,
            secure=settings.governance_secure,
            source=options.sources.get("endpoint", "default"),
        )
    queue = (
        2048
        if options.memory_limit_mb is None
        else max(64, int(options.memory_limit_mb * _SPANS_PER_MB))
    )
    export = dataclasses.replace(
        export,
        batch_size=options.batch_size,
        async_export=options.async_export,
        gzip=options.enable_compression,
        max_queue_size=queue,
    )
    if not pipeline.configure(export):
        tuned = [k for k in _EXPORT_TUNING if options.sources.get(k, "default") != "default"]
        if tuned:
            warnings.warn(
                f"genops: {', '.join(tuned)} have no effect: the governance pipeline "
                "already started (a run was governed before this adapter was made)",
                stacklevel=3,
            )

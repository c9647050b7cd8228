"""OpenTelemetry instrumentation for Weights & Biases, with cost and budget governance.

Usage, with no change to the training script::

    pip install opentelemetry-instrumentation-wandb[instruments]
    GENOPS_TEAM=nlp GENOPS_PROJECT=summariser opentelemetry-instrument python train.py

or in code::

    from opentelemetry.instrumentation.wandb import WandbInstrumentor
    WandbInstrumentor().instrument()

Governance spans go through the instrumentation's own tracer provider
(:mod:`~opentelemetry.instrumentation.wandb.pipeline`): always sampled,
exported over OTLP/gRPC to the processor, spooled on disk until the processor
acknowledges them. The global tracer provider and the rest of the user's
OpenTelemetry set-up are never touched. ``instrument(tracer_provider=...)``
sends them to the given provider instead (tests do, with an in-memory exporter).

What it records, per W&B run (attribute names in :mod:`genops.attributes`):

* a ``wandb.run`` span from ``wandb.init`` to the run's finish, the root of
  its own trace whatever span is current, with the run key (W&B run id and a
  segment id, one per process that tracks the run), the governance attributes
  (``GENOPS_TEAM`` ... or ``OTEL_RESOURCE_ATTRIBUTES``), the hardware held, the
  usage totals and the exit code W&B records; status ERROR when it is not 0;
* ``wandb.run.heartbeat`` child spans every ``GENOPS_HEARTBEAT_INTERVAL``
  seconds (default 15) with cumulative usage, so spend is visible while the
  run is alive;
* a ``wandb.artifact`` child span per ``log_artifact`` with bytes and files.

``Run.log`` only increments a counter: no span, no metric, no I/O.

Before a run starts, the processor's governance API is asked whether its
budgets allow it; an enforced denial raises
:class:`genops.errors.BudgetExceededError` from ``wandb.init`` before W&B
creates the run. See :mod:`genops.config` for every setting.
"""

from __future__ import annotations

import atexit
import logging
from collections.abc import Collection
from typing import Any

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.instrumentation.wandb import pipeline, wrappers
from opentelemetry.instrumentation.wandb.budget_gate import BudgetGate
from opentelemetry.instrumentation.wandb.package import _instruments
from opentelemetry.instrumentation.wandb.run_tracker import RunTracker
from opentelemetry.instrumentation.wandb.version import __version__

from genops.config import ConfigError, InstrumentationSettings, process_start_ns

__all__ = ["WandbInstrumentor", "__version__"]

_log = logging.getLogger(__name__)
_FLUSH_TIMEOUT_MS = 5_000


class WandbInstrumentor(BaseInstrumentor):
    """Patches ``wandb.init``, ``Run.log``, ``Run.log_artifact``, ``Run.use_artifact``
    and ``Run._finish``.

    ``instrument()`` keywords: ``tracer_provider`` (default: the governance
    pipeline's own, never the global one); ``heartbeat_interval_s`` (else
    ``GENOPS_HEARTBEAT_INTERVAL``); ``compute_origin_ns``, when the hardware
    started being held (default: the process start).
    """

    _tracker: RunTracker | None = None
    _gate: BudgetGate | None = None
    _patched: bool = False

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    @property
    def tracker(self) -> RunTracker | None:
        return self._tracker

    def _instrument(self, **kwargs: Any) -> None:
        pipeline.set_tracer_provider_override(kwargs.get("tracer_provider"))
        tracer = pipeline.get_tracer(__name__, __version__)
        self._tracker = RunTracker(
            tracer,
            kwargs.get("heartbeat_interval_s") or _heartbeat_interval(),
            kwargs.get("compute_origin_ns") or process_start_ns(),
        )
        self._gate = BudgetGate()
        atexit.register(self._at_exit)
        # Patch when wandb is imported (at once if it already is): a script
        # that never imports wandb pays nothing for it.
        wrapt.register_post_import_hook(self._patch, "wandb")

    def _patch(self, wandb_module: Any) -> None:
        if self._tracker is None or self._patched:
            return
        from wandb.sdk.wandb_run import Run

        tracker, gate = self._tracker, self._gate
        wrapt.wrap_function_wrapper(wandb_module, "init", wrappers.traced_init(tracker, gate, Run))
        wrapt.wrap_function_wrapper(Run, "log", wrappers.traced_log(tracker))
        wrapt.wrap_function_wrapper(Run, "log_artifact", wrappers.traced_log_artifact(tracker))
        wrapt.wrap_function_wrapper(Run, "use_artifact", wrappers.traced_use_artifact(tracker))
        wrapt.wrap_function_wrapper(Run, "_finish", wrappers.traced_finish(tracker))
        self._patched = True

    def _uninstrument(self, **kwargs: Any) -> None:
        atexit.unregister(self._at_exit)
        if self._patched:
            import wandb
            from wandb.sdk.wandb_run import Run

            unwrap(wandb, "init")
            for name in ("log", "log_artifact", "use_artifact", "_finish"):
                unwrap(Run, name)
            self._patched = False
        if self._tracker is not None:
            self._tracker.shutdown()
        if self._gate is not None:
            self._gate.close()
        self._tracker = self._gate = None
        pipeline.set_tracer_provider_override(None)

    def _at_exit(self) -> None:
        """Close runs nobody finished and push the last spans out (or spool them)."""
        try:
            if self._tracker is not None:
                self._tracker.finish_all()
            pipeline.close_at_exit(_FLUSH_TIMEOUT_MS)
        except Exception:
            _log.warning("genops: flushing W&B telemetry at exit failed", exc_info=True)


def _heartbeat_interval() -> float:
    try:
        return InstrumentationSettings.from_env().heartbeat_interval_s
    except ConfigError:
        # Reported (raised) from wandb.init, where the user can act on it.
        from genops.config import DEFAULT_HEARTBEAT_INTERVAL_S

        return DEFAULT_HEARTBEAT_INTERVAL_S

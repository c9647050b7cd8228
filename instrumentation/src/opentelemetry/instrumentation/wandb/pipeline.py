"""The governance pipeline: the instrumentation's own tracer provider.

Governance spans are accounting, not telemetry, so they never go through the
user's OpenTelemetry set-up, and the user's set-up is never replaced or fed by
them. The global tracer provider is neither set nor read: the user's sampler,
exporters, distro and any provider set in code keep working as they would
without this package, and their spans never reach the processor.

The pipeline's provider is built on first use (the first governed run or
experiment), from :class:`genops.config.ExportSettings`:

* always sampled (``ALWAYS_ON``, whatever ``OTEL_TRACES_SAMPLER`` says), with
  fixed span limits and ``OTEL_SDK_DISABLED`` ignored: none of the user's
  switches for their telemetry can drop a run from the ledger;
* a batch span processor (0.2 s delay, whatever ``OTEL_BSP_*`` say) exporting
  OTLP/gRPC (gzip) to the processor through
  :class:`~opentelemetry.instrumentation.wandb.export.GovernanceSpanExporter`,
  which spools what the processor has not acknowledged
  (:mod:`~opentelemetry.instrumentation.wandb.spool`); spool files left by
  processes that are gone are adopted and sent again;
* resource ``service.name`` = ``wandb-training`` unless ``OTEL_SERVICE_NAME``
  (or ``service.name`` in ``OTEL_RESOURCE_ATTRIBUTES``) says otherwise;
* governance spans start new traces unless given a parent: they never join a
  user's trace.

``WandbInstrumentor().instrument(tracer_provider=...)`` puts an explicit
provider in its place (tests use an in-memory exporter this way).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.wandb.export import GovernanceSpanExporter
from opentelemetry.instrumentation.wandb.spool import Spool
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from genops.config import ExportSettings

_log = logging.getLogger(__name__)
_LIMITS = dict(
    max_attributes=128,
    max_span_attributes=128,
    max_events=128,
    max_links=128,
    max_event_attributes=128,
    max_link_attributes=128,
    max_attribute_length=SpanLimits.UNSET,
    max_span_attribute_length=SpanLimits.UNSET,
)


class _GovernanceTracerProvider(TracerProvider):
    def __init__(self, resource: Resource) -> None:
        # shutdown_on_exit=False: the SDK's own atexit hook would run before ours
        # (registered later, run earlier) and drop the spans of runs still open.
        super().__init__(
            sampler=ALWAYS_ON,
            resource=resource,
            shutdown_on_exit=False,
            span_limits=SpanLimits(**_LIMITS),
        )
        self._disabled = False  # OTEL_SDK_DISABLED switches off the user's telemetry only


class GovernancePipeline:
    """One provider, its exporter and its spool."""

    def __init__(self, settings: ExportSettings) -> None:
        self.settings = settings
        self.spool = Spool(settings.spool_dir, settings.spool_max_bytes, settings.target)
        self.exporter = GovernanceSpanExporter(
            settings.target,
            secure=settings.secure,
            security=settings.security,
            timeout_s=settings.timeout_s,
            gzip=settings.gzip,
            spool=self.spool,
        )
        if settings.async_export:
            processor: Any = BatchSpanProcessor(
                self.exporter,
                max_queue_size=settings.max_queue_size,
                max_export_batch_size=min(settings.batch_size, settings.max_queue_size),
                # Governance spans are few (a heartbeat per run per interval): sent
                # at once they keep the ledger, holds and mid-run checks current.
                schedule_delay_millis=200,
                export_timeout_millis=30_000,
            )
        else:
            processor = SimpleSpanProcessor(self.exporter)
        self.processor = processor
        resource = Resource.create(
            {**settings.resource_attributes, SERVICE_NAME: settings.service_name}
        )
        self.provider = _GovernanceTracerProvider(resource)
        self.provider.add_span_processor(processor)
        threading.Thread(target=self._adopt, name="genops-spool", daemon=True).start()

    def _adopt(self) -> None:
        """Send what processes that are gone left unacknowledged."""
        try:
            if self.spool.adopt_orphans():
                self.exporter.drain(deadline_s=0.0)
        except Exception:
            _log.debug("genops: adopting spooled spans failed", exc_info=True)

    def close(self, flush_timeout_ms: int) -> None:
        """Flush, give a processor that went away ``exit_wait_s`` to come back, stop."""
        self.provider.force_flush(flush_timeout_ms)
        left = self.exporter.drain(time.monotonic() + self.settings.exit_wait_s)
        if left:
            _log.warning(
                "genops: %d governance spans not acknowledged by %s are kept in %s; "
                "the next governed process sends them",
                left,
                self.settings.target,
                self.spool.path,
            )
        self.spool.close()
        self.provider.shutdown()


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.settings: ExportSettings | None = None
        self.pipeline: GovernancePipeline | None = None
        self.override: Any = None


_state = _State()


def _after_fork_in_child() -> None:
    """A forked child builds a pipeline (channel, spool file) of its own when it needs one."""
    global _state
    parent = _state
    _state = _State()
    _state.settings, _state.override = parent.settings, parent.override


os.register_at_fork(after_in_child=_after_fork_in_child)


def configure(settings: ExportSettings) -> bool:
    """Use ``settings`` when the pipeline is built; False if it already was."""
    with _state.lock:
        if _state.pipeline is not None:
            return False
        _state.settings = settings
        return True


def set_tracer_provider_override(provider: Any) -> None:
    """Send governance spans to ``provider`` instead (None: back to the pipeline)."""
    with _state.lock:
        _state.override = provider


def tracer_provider() -> Any:
    """The provider governance spans go through (built on first call)."""
    with _state.lock:
        if _state.override is not None:
            return _state.override
        if _state.pipeline is None:
            _state.pipeline = GovernancePipeline(_state.settings or ExportSettings.from_env())
        return _state.pipeline.provider


def current() -> GovernancePipeline | None:
    """The pipeline if it was built."""
    return _state.pipeline


def get_tracer(name: str, version: str | None = None) -> trace.Tracer:
    """A tracer for governance spans; they start new traces unless given a parent."""
    return _GovernanceTracer(name, version)


def force_flush(timeout_millis: int = 5_000) -> bool:
    with _state.lock:
        provider = _state.override or (_state.pipeline.provider if _state.pipeline else None)
    flush = getattr(provider, "force_flush", None)
    return bool(flush(timeout_millis)) if flush is not None else True


def close_at_exit(flush_timeout_ms: int) -> None:
    """At interpreter exit, after the last run span ended."""
    with _state.lock:
        override, pipeline = _state.override, _state.pipeline
    if override is not None:
        flush = getattr(override, "force_flush", None)
        if flush is not None:
            flush(flush_timeout_ms)
        return
    if pipeline is not None:
        pipeline.close(flush_timeout_ms)


class _GovernanceTracer(trace.Tracer):
    """Resolves the governance provider at each span: it may be built, or overridden, later."""

    def __init__(self, name: str, version: str | None) -> None:
        self._name = name
        self._version = version
        self._provider: Any = None
        self._tracer: trace.Tracer | None = None

    def _resolve(self) -> trace.Tracer:
        provider = tracer_provider()
        if provider is not self._provider or self._tracer is None:
            self._tracer = provider.get_tracer(self._name, self._version)
            self._provider = provider
        return self._tracer

    def start_span(self, name: str, context: Context | None = None, *args, **kwargs):
        return self._resolve().start_span(name, context or Context(), *args, **kwargs)

    def start_as_current_span(self, name: str, context: Context | None = None, *args, **kwargs):
        return self._resolve().start_as_current_span(name, context or Context(), *args, **kwargs)

"""Per-run usage bookkeeping and the spans that carry it.

The W&B ``Run`` object is frozen, so each live run's state sits in a side
table keyed by run id. ``log()`` only bumps an integer here; spans are
emitted at three moments: when a run starts (the run span opens), on a
heartbeat timer (a short child span with cumulative usage) and when it ends
(the run span closes with its totals).

A run's identity comes from W&B, not from the trace: the run span is the root
of a trace of its own, whatever span is current at ``wandb.init``, and every
span of the run carries its run key, ``<W&B run id>:<segment id>`` (a random
segment id each time this process starts tracking the run; see
:data:`genops.attributes.RUN_KEY`). Its status comes from the exit code W&B
records (:func:`wandb_exit_code`).
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import sys
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.wandb import hardware
from opentelemetry.trace import Status, StatusCode

from genops import attributes as attr
from genops.config import known_secrets
from genops.governance import redaction
from genops.policy import BudgetWarning

_log = logging.getLogger(__name__)
_MAX_METRIC_KEYS = 64


@dataclass(frozen=True)
class RunOptions:
    """Per-run choices made at wandb.init by whoever governs the run."""

    owner: Any = None  # told when the run finishes (genops.context.Governor)
    # Record the logged metric values every n-th log() call (0: never).
    metrics_every: int = 0
    # Fraction of artifact spans emitted (artifact usage totals are always exact).
    artifact_sampling: float = 1.0
    # Asks the processor, after each heartbeat, whether the run may go on.
    checker: Any = None
    # The user's hook, called before an enforced budget stops the run.
    on_exceeded: Any = None


@dataclass
class RunUsage:
    """One live run: its span and its cumulative usage."""

    run_id: str
    span: trace.Span
    compute_start_ns: int
    run_key: str = ""
    # Attribution, hardware and W&B names: repeated on every heartbeat so the
    # processor can attribute spend before the run span arrives.
    static_attributes: Mapping[str, object] = field(default_factory=dict)
    log_calls: int = 0
    artifact_bytes: int = 0
    artifact_files: int = 0
    artifact_count: int = 0
    declared_storage_micros: int = 0
    config_hash: str = ""
    artifacts_used: list[str] = field(default_factory=list)
    gpu_util_sum: float = 0.0
    gpu_util_samples: int = 0
    gpu_mem_peak_gb: float | None = None
    # Set when an enforced budget stops the run: (message, BudgetInfo or None).
    stop: tuple[str, Any] | None = None
    budget_warned: bool = False
    sequence: int = 0
    options: RunOptions = RunOptions()
    metrics_last: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def capture_metrics(self, data: object) -> None:
        """Keep the numeric values of a log() call (telemetry detail, sampled)."""
        if not isinstance(data, Mapping):
            return
        with self.lock:
            for key, value in data.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    if key in self.metrics_last or len(self.metrics_last) < _MAX_METRIC_KEYS:
                        if math.isfinite(value):
                            self.metrics_last[str(key)] = value

    def usage_attributes(self, as_of_ns: int | None = None) -> dict[str, object]:
        """The cumulative usage as of ``as_of_ns`` (default: read now, under the lock, so
        of two reports the later time never carries the lower counters)."""
        with self.lock:
            if as_of_ns is None:
                as_of_ns = time.time_ns()
            result: dict[str, object] = {
                attr.USAGE_AS_OF_NS: as_of_ns,
                attr.RUN_COMPUTE_START_NS: self.compute_start_ns,
                attr.USAGE_LOG_CALLS: self.log_calls,
                attr.USAGE_ARTIFACT_BYTES: self.artifact_bytes,
                attr.USAGE_ARTIFACT_FILES: self.artifact_files,
                attr.USAGE_ARTIFACT_COUNT: self.artifact_count,
                attr.USAGE_DECLARED_STORAGE_MICROS: self.declared_storage_micros,
                attr.RUN_SEQUENCE: self.sequence,
            }
            if self.metrics_last:
                result[attr.METRICS_LAST] = json.dumps(self.metrics_last, sort_keys=True)
            if self.config_hash:
                result[attr.CONFIG_HASH] = self.config_hash
            if self.artifacts_used:
                result[attr.ARTIFACTS_USED] = json.dumps(self.artifacts_used)
            if self.gpu_util_samples:
                result[attr.HW_GPU_UTILIZATION_MEAN] = self.gpu_util_sum / self.gpu_util_samples
            if self.gpu_mem_peak_gb is not None:
                result[attr.HW_GPU_MEMORY_PEAK_GB] = self.gpu_mem_peak_gb
            return result

    def add_gpu_sample(self, utilization: float, memory_gb: float) -> None:
        with self.lock:
            self.gpu_util_sum += utilization
            self.gpu_util_samples += 1
            self.gpu_mem_peak_gb = max(self.gpu_mem_peak_gb or 0.0, memory_gb)


class RunTracker:
    """The side table of live runs, their heartbeat thread, and their spans."""

    def __init__(
        self, tracer: trace.Tracer, heartbeat_interval_s: float, origin_ns: int | None
    ) -> None:
        self._tracer = tracer
        self._interval_s = heartbeat_interval_s
        # Hardware is held from the process start (or the end of the previous
        # run): that time is billed to the next run.
        self._next_compute_start_ns = origin_ns
        self._runs: dict[str, RunUsage] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def accrued_ns(self, now_ns: int) -> int:
        """Compute the next run will be billed for already: held since the process start
        (or the previous run's end) until ``now_ns``."""
        with self._lock:
            origin = self._next_compute_start_ns
        return max(0, now_ns - origin) if origin else 0

    # -- lifecycle ----------------------------------------------------------
    def start(
        self,
        run_id: str,
        start_ns: int,
        attributes: Mapping[str, object],
        options: RunOptions | None = None,
    ) -> RunUsage | None:
        with self._lock:
            if run_id in self._runs:  # reinit="return_previous" hands back a live run
                return None
            compute_start = self._next_compute_start_ns or start_ns
            compute_start = min(compute_start, start_ns)
            run_key = f"{run_id}:{secrets.token_hex(8)}"
            attributes = {**attributes, attr.RUN_KEY: run_key}
            span = self._tracer.start_span(
                attr.SPAN_RUN,
                context=Context(),  # a root: the current (user's) span is not its parent
                start_time=start_ns,
                attributes=attributes,
            )
            span.set_attribute(attr.RUN_STATUS, attr.STATUS_RUNNING)
            usage = RunUsage(
                run_id=run_id,
                span=span,
                compute_start_ns=compute_start,
                run_key=run_key,
                static_attributes=attributes,
                options=options or RunOptions(),
            )
            self._runs[run_id] = usage
            self._ensure_heartbeat_thread()
        self._emit_heartbeat(usage)  # the processor learns of the run at once
        return usage

    def get(self, run_id: str) -> RunUsage | None:
        return self._runs.get(run_id)

    def finish(
        self,
        run_id: str,
        failed: bool | None = None,
        error: str | None = None,
        exit_code: int | None = None,
    ) -> None:
        """End the run's span. ``exit_code`` is what W&B records (default: 1 if
        ``failed`` else 0); the run failed when it is not 0."""
        with self._lock:
            usage = self._runs.pop(run_id, None)
        if usage is None:
            return
        if exit_code is None:
            exit_code = 1 if failed else 0
        failed = exit_code != 0
        end_ns = time.time_ns()
        span = usage.span
        span.set_attributes(usage.usage_attributes(end_ns))
        span.set_attribute(attr.RUN_EXIT_CODE, exit_code)
        if failed:
            span.set_attribute(attr.RUN_STATUS, attr.STATUS_FAILED)
            if error:
                span.set_attribute(attr.RUN_ERROR, error[:500])
            span.set_status(Status(StatusCode.ERROR, error or "run failed"))
        else:
            span.set_attribute(attr.RUN_STATUS, attr.STATUS_FINISHED)
        span.end(end_time=end_ns)
        with self._lock:
            self._next_compute_start_ns = end_ns
        owner = usage.options.owner
        if owner is not None:
            try:
                owner.on_run_finished(run_id, failed, usage)
            except Exception:
                _log.warning("genops: run-finished hook failed", exc_info=True)

    def finish_all(self) -> None:
        """Close every run still open, as at interpreter exit, with W&B's exit code."""
        error = _uncaught_exception()
        exit_code = wandb_exit_code()
        for run_id in list(self._runs):
            self.finish(run_id, error=error, exit_code=exit_code)
        self._stop.set()

    def shutdown(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2)
        self._thread = None

    # -- usage ----------------------------------------------------------------
    def record_artifact(
        self,
        run_id: str,
        start_ns: int,
        size: int,
        files: int,
        extra: Mapping[str, object],
        declared_micros: int = 0,
    ) -> None:
        """Count an artifact; emit its span if sampled (always when it carries governance)."""
        usage = self._runs.get(run_id)
        if usage is None:
            return
        with usage.lock:
            usage.artifact_bytes += size
            usage.artifact_files += files
            usage.artifact_count += 1
            usage.declared_storage_micros += declared_micros
            index = usage.artifact_count
        if declared_micros:
            self._emit_heartbeat(usage)  # a cost was declared: tell the processor now
        rate = usage.options.artifact_sampling
        sampled = math.floor(index * rate) > math.floor((index - 1) * rate)
        if not (sampled or declared_micros or attr.ARTIFACT_GOVERNANCE_METADATA in extra):
            return
        context = trace.set_span_in_context(usage.span, Context())
        span = self._tracer.start_span(
            attr.SPAN_ARTIFACT,
            context=context,
            start_time=start_ns,
            attributes={
                attr.ARTIFACT_BYTES: size,
                attr.ARTIFACT_FILES: files,
                **extra,
                **_classification(usage.static_attributes),
                attr.RUN_KEY: usage.run_key,
            },
        )
        span.end()

    # -- heartbeat -------------------------------------------------------------
    def heartbeat_all(self) -> None:
        for usage in list(self._runs.values()):
            self._emit_heartbeat(usage)

    def _emit_heartbeat(self, usage: RunUsage) -> None:
        try:
            sample = hardware.sample_gpus()
            if sample is not None:
                usage.add_gpu_sample(*sample)
            with usage.lock:
                usage.sequence += 1
            reported = usage.usage_attributes()
            now = int(reported[attr.USAGE_AS_OF_NS])
            context = trace.set_span_in_context(usage.span, Context())
            span = self._tracer.start_span(
                attr.SPAN_HEARTBEAT,
                context=context,
                start_time=now,
                attributes={
                    **usage.static_attributes,
                    **reported,
                    attr.RUN_STATUS: attr.STATUS_RUNNING,
                },
            )
            span.end(end_time=now)
        except Exception:
            _log.debug("genops: heartbeat failed", exc_info=True)

    def _ensure_heartbeat_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._heartbeat_loop, name="genops-wandb-heartbeat", daemon=True
        )
        self._thread.start()

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.heartbeat_all()
            self.check_all()

    def check_all(self) -> None:
        """Mid-run enforcement: ask about every live run, flag those to stop."""
        for usage in list(self._runs.values()):
            checker = usage.options.checker
            if checker is None or usage.stop is not None:
                continue
            try:
                verdict = checker(usage, self._interval_s)
            except Exception:
                _log.debug("genops: mid-run budget check failed", exc_info=True)
                continue
            if verdict is None:
                continue
            action, message, info = verdict
            if action == "stop":
                usage.stop = (message, info)  # the run's next log() call acts on it
            elif action == "warn" and not usage.budget_warned:
                usage.budget_warned = True
                warnings.warn(f"genops: {message}; the run goes on", BudgetWarning, stacklevel=2)


def _uncaught_exception() -> str | None:
    """The exception that is ending the interpreter, if any (set before atexit runs)."""
    exc = getattr(sys, "last_value", None)
    if exc is None:
        return None
    return redaction.error_text(exc, known_secrets())


def wandb_exit_code() -> int:
    """The exit code W&B records for runs still open at interpreter exit.

    W&B (0.31) hooks ``sys.exit`` and ``sys.excepthook`` when its service starts
    and hands the code it saw to the service's teardown, which ends every open
    run with it: ``sys.exit(n)`` gives n (a non-integer argument 1), an uncaught
    exception 1, Ctrl-C (KeyboardInterrupt) 255. The builtin ``exit(n)`` of the
    interactive ``site`` module bypasses ``sys.exit``: W&B records 0, and so do
    we. Without W&B's hooks: 255 for KeyboardInterrupt, 1 for another uncaught
    exception, else 0.
    """
    for hooked in (sys.exit, sys.excepthook):
        hooks = getattr(hooked, "__self__", None)
        code = getattr(hooks, "exit_code", None)
        if type(hooks).__name__ == "ExitHooks" and isinstance(code, int):
            return code
    exc = getattr(sys, "last_value", None)
    if isinstance(exc, KeyboardInterrupt):
        return 255
    return 0 if exc is None else 1


def _classification(run_attributes: Mapping[str, object]) -> dict[str, object]:
    """An artifact is classified like the run that logged it (security_level)."""
    level = run_attributes.get(attr.SECURITY_LEVEL)
    return {attr.SECURITY_LEVEL: level} if level else {}

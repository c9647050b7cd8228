"""wrapt wrappers for wandb: small factories closing over the shared state.

Each wrapper keeps the user's call first: our bookkeeping runs around it and
any error in it is logged and swallowed. Two errors are raised on purpose,
both from ``wandb.init`` before W&B creates anything: an invalid ``GENOPS_*``
value (:class:`genops.config.ConfigError`) and a budget denial
(:class:`genops.errors.BudgetExceededError`).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.instrumentation.wandb import hardware, pipeline
from opentelemetry.instrumentation.wandb.budget_gate import BudgetGate
from opentelemetry.instrumentation.wandb.run_tracker import RunOptions, RunTracker

from genops import attributes as attr
from genops import context
from genops.config import InstrumentationSettings, known_secrets
from genops.errors import BudgetExceededError, BudgetInfo
from genops.governance import redaction

_log = logging.getLogger(__name__)

Wrapper = Callable[[Callable[..., Any], Any, tuple, dict], Any]


def run_id_of(run: Any) -> str | None:
    """The run id without going through ``Run.id`` (a decorated property)."""
    settings = getattr(run, "_settings", None)
    run_id = getattr(settings, "run_id", None)
    if run_id is None:
        try:
            run_id = run.id
        except Exception:
            return None
    return str(run_id)


def traced_init(tracker: RunTracker, gate: BudgetGate, run_class: type) -> Wrapper:
    def wrapper(wrapped, instance, args, kwargs):
        if not is_instrumentation_enabled():
            return wrapped(*args, **kwargs)
        governor = context.current()
        # ConfigError and BudgetExceededError are raised here on purpose.
        if governor is None:
            settings = InstrumentationSettings.from_env()
        else:
            settings = governor.instrumentation_settings()
        pipeline.tracer_provider()  # built on first use: GENOPS_SPOOL_* errors surface here
        detected = _detect_hardware(settings)  # once: the budget check and the run span
        # The first reservation covers what the run costs already (the hardware was
        # held before wandb.init) plus one heartbeat interval.
        accrued_ns = tracker.accrued_ns(time.time_ns())
        decision = gate.check(settings, kwargs, detected, accrued_ns)
        hold_id = decision.hold_id if decision is not None else ""
        if governor is not None:
            kwargs = governor.prepare_init_kwargs(dict(kwargs))
        start_ns = time.time_ns()
        run = wrapped(*args, **kwargs)
        try:
            if isinstance(run, run_class):
                _start_tracking(tracker, gate, run, start_ns, settings, governor, hold_id, detected)
        except Exception:
            _log.warning("genops: could not start tracking a W&B run", exc_info=True)
        return run

    return wrapper


def _run_checker(gate: BudgetGate, settings: InstrumentationSettings):
    from genops.governance.v1 import governance_pb2 as pb

    def check(usage, next_check_s: float):
        response = gate.check_run(settings, usage, next_check_s)
        if response is None:
            return None
        action = {pb.RUN_ACTION_STOP: "stop", pb.RUN_ACTION_WARN: "warn"}.get(
            response.action, "continue"
        )
        state = response.deciding_budget
        info = (
            BudgetInfo(
                state.name, state.limit_micros, state.spent_micros, 0, state.period or "daily"
            )
            if state.name
            else None
        )
        return action, response.message, info

    return check


def _detect_hardware(settings: InstrumentationSettings) -> hardware.Hardware | None:
    try:
        return hardware.detect(settings.hardware)
    except Exception:  # detection must never break the user's run
        _log.warning("genops: could not detect the run's hardware", exc_info=True)
        return None


def _start_tracking(
    tracker, gate, run, start_ns, settings, governor, hold_id: str, detected=None
) -> None:
    run_id = run_id_of(run)
    attributes = _run_attributes(run, settings, detected)
    attributes.update(settings.labels)
    if hold_id:
        attributes[attr.BUDGET_HOLD_ID] = hold_id
    detail = settings.detail
    metrics_every = 0
    if detail.metrics and detail.sampling_rate > 0:
        metrics_every = max(1, round(1 / detail.sampling_rate))
    checker = None
    if settings.budget.check_enabled:
        checker = _run_checker(gate, settings)
    options = RunOptions(
        owner=governor,
        metrics_every=metrics_every,
        artifact_sampling=detail.sampling_rate,
        checker=checker,
        on_exceeded=settings.budget.on_exceeded,
    )
    if governor is not None:
        attributes.update(governor.run_attributes())
    if tracker.start(run_id, start_ns, attributes, options) is not None and governor:
        governor.on_run_started(run_id, run)


def traced_log(tracker: RunTracker) -> Wrapper:
    def wrapper(wrapped, instance, args, kwargs):
        settings = getattr(instance, "_settings", None)
        usage = tracker.get(getattr(settings, "run_id", None))
        if usage is not None and usage.stop is not None:
            stop_run(tracker, instance, usage)  # raises BudgetExceededError
        result = wrapped(*args, **kwargs)
        if usage is not None:
            with usage.lock:
                usage.log_calls += 1
                calls = usage.log_calls
            every = usage.options.metrics_every
            if every and calls % every == 0:
                usage.capture_metrics(args[0] if args else kwargs.get("data"))
        return result

    return wrapper


def stop_run(tracker: RunTracker, run: Any, usage: Any) -> None:
    """An enforced budget stops the run: the user's hook first (to checkpoint), then
    the W&B run is finished as stopped by budget, then BudgetExceededError."""
    message, info = usage.stop
    error = BudgetExceededError(f"run stopped: {message}", info)
    hook = usage.options.on_exceeded
    if isinstance(hook, str):
        module, _, name = hook.partition(":")
        try:
            hook = getattr(importlib.import_module(module), name)
        except Exception:
            _log.warning("genops: cannot load the budget hook %s", hook, exc_info=True)
            hook = None
    if hook is not None:
        try:
            hook(error)
        except Exception:
            _log.warning("genops: the budget hook raised", exc_info=True)
    try:
        run.summary["genops_stopped_by"] = "budget"
        run.summary["genops_stop_reason"] = message
        run.finish(exit_code=1)
    except Exception:
        _log.warning("genops: could not finish the stopped run", exc_info=True)
    raise error


def traced_log_artifact(tracker: RunTracker) -> Wrapper:
    def wrapper(wrapped, instance, args, kwargs):
        start_ns = time.time_ns()
        result = wrapped(*args, **kwargs)
        try:
            run_id = run_id_of(instance)
            if tracker.get(run_id) is not None:
                artifact = args[0] if args else kwargs.get("artifact_or_path")
                size, files = artifact_size(result if _is_artifact(result) else artifact)
                extra = _artifact_attributes(result, kwargs)
                annotation = context.artifact_annotation()
                declared = 0
                if annotation is not None:
                    declared = annotation.cost_estimate_micros
                    extra[attr.ARTIFACT_COST_ESTIMATE_MICROS] = declared
                    if annotation.governance_metadata_json:
                        extra[attr.ARTIFACT_GOVERNANCE_METADATA] = (
                            annotation.governance_metadata_json
                        )
                tracker.record_artifact(run_id, start_ns, size, files, extra, declared)
        except Exception:
            _log.warning("genops: could not record a W&B artifact", exc_info=True)
        return result

    return wrapper


def traced_use_artifact(tracker: RunTracker) -> Wrapper:
    """Remember which artifacts a run consumed (unused artifacts are waste)."""

    def wrapper(wrapped, instance, args, kwargs):
        result = wrapped(*args, **kwargs)
        try:
            usage = tracker.get(run_id_of(instance))
            if usage is not None:
                name = getattr(result, "name", None) or (args[0] if args else "")
                name = str(getattr(name, "name", name)).split(":")[0]
                with usage.lock:
                    if name and name not in usage.artifacts_used:
                        usage.artifacts_used.append(name)
        except Exception:
            _log.debug("genops: could not record an artifact use", exc_info=True)
        return result

    return wrapper


def traced_finish(tracker: RunTracker) -> Wrapper:
    """Close the run's span with the exit code W&B records for this finish: the one
    given (``with wandb.init()`` passes 1 when its block raised), else 0."""

    def wrapper(wrapped, instance, args, kwargs):
        exit_code = kwargs.get("exit_code", args[0] if args else None)
        error = _handled_exception()
        usage = tracker.get(run_id_of(instance))
        if usage is not None:
            usage.config_hash = config_hash(instance)
            if usage.stop is not None:
                error = f"BudgetExceededError: stopped by budget: {usage.stop[0]}"
        try:
            return wrapped(*args, **kwargs)
        finally:
            try:
                code = exit_code if isinstance(exit_code, int) else 0
                tracker.finish(run_id_of(instance), error=error if code else None, exit_code=code)
            except Exception:
                _log.warning("genops: could not close a W&B run's span", exc_info=True)

    return wrapper


def config_hash(run: Any) -> str:
    """A stable hash of the run's W&B config ("" when it cannot be read)."""
    try:
        config = run.config.as_dict()
        text = json.dumps(config, sort_keys=True, default=str)
    except Exception:
        return ""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def artifact_size(artifact: Any) -> tuple[int, int]:
    """(bytes, files) of an Artifact object, or of a local path given instead."""
    if _is_artifact(artifact):
        entries = artifact.manifest.entries.values()
        return sum(int(entry.size or 0) for entry in entries), len(entries)
    path = os.fspath(artifact) if artifact is not None else ""
    if path and os.path.isfile(path):
        return os.path.getsize(path), 1
    if path and os.path.isdir(path):
        size = files = 0
        for root, _dirs, names in os.walk(path):
            for name in names:
                size += os.path.getsize(os.path.join(root, name))
                files += 1
        return size, files
    return 0, 0


def _is_artifact(value: Any) -> bool:
    return hasattr(value, "manifest") and hasattr(value.manifest, "entries")


def _artifact_attributes(result: Any, kwargs: Mapping[str, Any]) -> dict[str, object]:
    name = getattr(result, "name", None) or kwargs.get("name")
    kind = getattr(result, "type", None) or kwargs.get("type")
    extra: dict[str, object] = {}
    if name:
        extra[attr.ARTIFACT_NAME] = str(name)
    if kind:
        extra[attr.ARTIFACT_TYPE] = str(kind)
    return extra


def _run_attributes(
    run: Any, settings: InstrumentationSettings, detected: hardware.Hardware | None = None
) -> dict[str, object]:
    attributes: dict[str, object] = dict(settings.attribution)
    if detected is None:
        detected = hardware.detect(settings.hardware)
    attributes.update(detected.attributes())
    wandb_settings = getattr(run, "_settings", None)
    for key, value in (
        (attr.WANDB_RUN_ID, run_id_of(run)),
        (attr.WANDB_RUN_NAME, getattr(wandb_settings, "run_name", None)),
        (attr.WANDB_PROJECT, getattr(wandb_settings, "project", None)),
        (attr.WANDB_MODE, getattr(wandb_settings, "mode", None)),
    ):
        if value:
            attributes[key] = str(value)
    return attributes


def _handled_exception() -> str | None:
    """The exception being handled (``with wandb.init()`` exiting on an error)."""
    exc = sys.exc_info()[1]
    return redaction.error_text(exc, known_secrets()) if exc is not None else None

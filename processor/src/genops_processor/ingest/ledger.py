"""Folding usage events into run states, and pricing them. Pure logic.

Usage on run and heartbeat spans is cumulative, so merging takes the latest
report (by ``as_of``). The final run span is authoritative: it replaces
whatever heartbeats said, and no later heartbeat (out-of-order or duplicate
delivery) can change a finished run or revive it.

A run belongs to the client that started it: a later span of the same run key may only
advance it (:func:`conflict`). Its scope, hardware and compute start never change (the
client repeats them unchanged on every span) and a newer report never lowers a cumulative
counter. The heartbeat ``sequence`` is not checked: a heartbeat racing the run's end may
carry one more than the final span, legitimately. A report older than the run's state
changes nothing, so only its scope, hardware and compute start are checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from operator import attrgetter

from genops_processor.domain import CostLine, RunLabels, RunState, UsageEvent
from genops_processor.ingest import validation
from genops_processor.pricing import (
    Catalog,
    CatalogSource,
    price,
)


def merge(state: RunState | None, event: UsageEvent) -> RunState:
    if state is None:
        return RunState(
            run_key=event.span.run_key,
            run_id=event.run_id,
            run_name=event.run_name,
            wandb_project=event.wandb_project,
            scope=event.scope,
            hardware=event.hardware,
            usage=event.usage,
            status=event.status,
            final=event.final,
            error=event.error,
            catalog_version=event.catalog_version,
            labels=event.labels,
            exit_code=event.exit_code,
        )
    if state.final and not event.final:
        return state  # a late heartbeat says nothing new about a finished run
    newer = event.final or event.usage.as_of_ns >= state.usage.as_of_ns
    if not newer:
        return state
    return RunState(  # every field named: dataclasses.replace is several times slower
        run_key=state.run_key,
        run_id=event.run_id or state.run_id,
        run_name=event.run_name or state.run_name,
        wandb_project=event.wandb_project or state.wandb_project,
        scope=event.scope,
        hardware=event.hardware,
        usage=event.usage,
        status=event.status,
        final=event.final,
        error=event.error or state.error,
        catalog_version=event.catalog_version or state.catalog_version,
        cost_micros=state.cost_micros,
        unpriced_skus=state.unpriced_skus,
        labels=_merge_labels(state.labels, event.labels),
        violations=state.violations,
        breakdown=state.breakdown,
        exit_code=event.exit_code if event.exit_code is not None else state.exit_code,
    )


_COUNTERS = (
    "log_calls",
    "artifact_bytes",
    "artifact_files",
    "artifact_count",
    "declared_storage_micros",
)


def conflict(state: RunState | None, event: UsageEvent) -> tuple[str, str] | None:
    """Why ``event`` may not apply to the run ``state`` (reason, message), or None."""
    if state is None:
        return None
    key = event.span.run_key
    if event.scope != state.scope:
        return validation.SCOPE_CHANGED, f"run {key!r} belongs to another scope"
    if event.hardware != state.hardware:
        return validation.HARDWARE_CHANGED, f"run {key!r} was started on other hardware"
    if (
        event.compute_start_declared
        and event.usage.compute_start_ns != state.usage.compute_start_ns
    ):
        return validation.COMPUTE_START_CHANGED, f"run {key!r} started its compute at another time"
    advances = not (state.final and not event.final) and (
        event.final or event.usage.as_of_ns >= state.usage.as_of_ns
    )
    if advances:
        for name in _COUNTERS:
            if getattr(event.usage, name) < getattr(state.usage, name):
                return (
                    validation.USAGE_DECREASED,
                    f"run {key!r}: cumulative usage {name} went down",
                )
    return None


_LABELS = attrgetter(*RunLabels.__dataclass_fields__)
_EMPTY = ("", 0, None)


def _merge_labels(old: RunLabels, new: RunLabels) -> RunLabels:
    """Field by field, the newer value unless it is empty."""
    if new == old:  # a heartbeat most often repeats its labels
        return new
    return RunLabels(
        *(n if n not in _EMPTY else o for n, o in zip(_LABELS(new), _LABELS(old), strict=True))
    )


def apply_events(
    states: Mapping[str, RunState],
    events: Iterable[UsageEvent],
    catalogs: CatalogSource | Catalog,
) -> tuple[dict[str, RunState], dict[str, list[CostLine]]]:
    """Merge events into the given run states; price every run that changed.

    Each run is priced with the catalog version it declared, else the default;
    a declared version the processor does not know prices nothing (a violation).
    Returns the changed states (cost filled in) and their cost lines.
    """
    if isinstance(catalogs, Catalog):
        catalogs = CatalogSource(catalogs)
    events = list(events)
    changed: dict[str, RunState] = {}
    for event in events:
        key = event.span.run_key
        current = changed.get(key) or states.get(key)
        changed[key] = merge(current, event)
    lines: dict[str, list[CostLine]] = {}
    flags = _flags(states, events)
    for key, state in changed.items():
        priced, lines[key] = price(state, catalogs)
        extra = tuple(f for f in flags.get(key, ()) if f not in priced.violations)
        changed[key] = replace(priced, violations=priced.violations + extra) if extra else priced
    return changed, lines


def _flags(states: Mapping[str, RunState], events: Iterable[UsageEvent]) -> dict[str, list[str]]:
    """Each run's validation flags (text cut at ingest): those it had, then its events'."""
    flags: dict[str, list[str]] = {}
    for key, state in states.items():
        kept = [v for v in state.violations if v.startswith(validation.FLAG_PREFIX)]
        if kept:
            flags[key] = kept
    for event in events:
        found = flags.setdefault(event.span.run_key, [])
        found.extend(f for f in event.span.flags if f not in found)
    return flags

"""Folding usage events into run states, and pricing them. Pure logic.

Usage on run and heartbeat spans is cumulative, so merging takes the latest
report (by ``as_of``). The final run span is authoritative: it replaces
whatever heartbeats said, and no later heartbeat (out-of-order or duplicate
delivery) can change a finished run or revive it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from genops_processor.domain import CostLine, RunLabels, RunState, UsageEvent
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
    return replace(
        state,
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
        labels=_merge_labels(state.labels, event.labels),
        exit_code=event.exit_code if event.exit_code is not None else state.exit_code,
    )


def _merge_labels(old: RunLabels, new: RunLabels) -> RunLabels:
    """Field by field, the newer value unless it is empty."""
    merged = {
        name: getattr(new, name) if getattr(new, name) not in ("", 0, None) else getattr(old, name)
        for name in RunLabels.__dataclass_fields__
    }
    return RunLabels(**merged)


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
    changed: dict[str, RunState] = {}
    for event in events:
        key = event.span.run_key
        current = changed.get(key) or states.get(key)
        changed[key] = merge(current, event)
    lines: dict[str, list[CostLine]] = {}
    for key, state in changed.items():
        changed[key], lines[key] = price(state, catalogs)
    return changed, lines

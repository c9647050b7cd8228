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
from genops_processor.pricing import Catalog, price_run, total_micros


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
    )


def _merge_labels(old: RunLabels, new: RunLabels) -> RunLabels:
    return RunLabels(
        experiment_id=new.experiment_id or old.experiment_id,
        tags_json=new.tags_json or old.tags_json,
        workflow_json=new.workflow_json or old.workflow_json,
        metrics_last_json=new.metrics_last_json or old.metrics_last_json,
    )


def apply_events(
    states: Mapping[str, RunState], events: Iterable[UsageEvent], catalog: Catalog
) -> tuple[dict[str, RunState], dict[str, list[CostLine]]]:
    """Merge events into the given run states; price every run that changed.

    Returns the changed states (cost filled in) and their cost lines.
    """
    changed: dict[str, RunState] = {}
    for event in events:
        key = event.span.run_key
        current = changed.get(key) or states.get(key)
        changed[key] = merge(current, event)
    lines: dict[str, list[CostLine]] = {}
    for key, state in changed.items():
        run_lines = price_run(state, catalog)
        lines[key] = run_lines
        changed[key] = replace(
            state,
            cost_micros=total_micros(run_lines),
            unpriced_skus=tuple(line.sku for line in run_lines if not line.priced),
            catalog_version=catalog.version,
        )
    return changed, lines

"""Writing a decoded batch: spans once each, run states, cost lines, artifacts, experiments.

Each batch is one transaction. Spans already stored (same trace_id and
span_id) are skipped, so a retried OTLP request changes nothing; the caller
is answered only after the commit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from genops_processor.budgets import reservations
from genops_processor.domain import (
    ArtifactEvent,
    Batch,
    ExperimentEvent,
    ManualCostEvent,
    RunState,
)
from genops_processor.ingest import ledger
from genops_processor.pricing import CatalogSource
from genops_processor.pricing import cost_lines as pricing
from genops_processor.storage import id_bytes, runs_by_key, write_lines, write_runs

# A span compacted past the raw-content window is recognised by its ids alone.
_NOT_COMPACTED = (
    f"ANTI JOIN span_ids c ON c.trace_id = {id_bytes('i.trace_id')} "
    f"AND c.span_id = {id_bytes('i.span_id')}"
)


@dataclass(frozen=True)
class IngestResult:
    new_spans: int
    duplicate_spans: int
    runs: tuple[RunState, ...]
    previous_cost_micros: dict[str, int]
    previous_final: dict[str, bool]


def ingest_batch(conn: Any, batch: Batch, catalogs: CatalogSource) -> IngestResult:
    records = {(s.trace_id, s.span_id): s for s in batch.spans}
    if not records:
        return IngestResult(0, 0, (), {}, {})
    conn.begin()
    try:
        result = _ingest_in_transaction(conn, batch, records, catalogs)
        conn.commit()
        return result
    except BaseException:
        conn.rollback()
        raise
    finally:
        for name in (
            "incoming_spans",
            "changed_runs",
            "new_lines",
            "new_artifacts",
            "new_experiments",
        ):
            conn.unregister(name)


def _ingest_in_transaction(
    conn, batch: Batch, records: dict, catalogs: CatalogSource
) -> IngestResult:
    incoming = pa.table(
        {
            "trace_id": [k[0] for k in records],
            "span_id": [k[1] for k in records],
            "kind": [s.kind for s in records.values()],
            "name": [s.name for s in records.values()],
            "run_key": [s.run_key for s in records.values()],
            "start_ns": pa.array([s.start_ns for s in records.values()], pa.int64()),
            "end_ns": pa.array([s.end_ns for s in records.values()], pa.int64()),
            "attributes": [s.attributes_json for s in records.values()],
        }
    )
    conn.register("incoming_spans", incoming)
    new = set(
        conn.execute(
            "SELECT i.trace_id, i.span_id FROM incoming_spans i ANTI JOIN spans s "
            "ON s.trace_id = i.trace_id AND s.span_id = i.span_id " + _NOT_COMPACTED
        ).fetchall()
    )
    conn.execute(
        "INSERT INTO spans (trace_id, span_id, kind, name, run_key, start_ns, end_ns, attributes)"
        " SELECT i.* FROM incoming_spans i ANTI JOIN spans s "
        "ON s.trace_id = i.trace_id AND s.span_id = i.span_id " + _NOT_COMPACTED
    )
    events = _unique_new(batch.usage, new)
    artifacts = _unique_new(batch.artifacts, new)
    states = _load_runs(conn, {e.span.run_key for e in events})
    changed, lines = ledger.apply_events(states, events, catalogs)
    if changed:
        write_runs(conn, changed.values())
        reservations.track(conn, changed.values())
        write_lines(conn, changed.values(), lines)
    if artifacts:
        _write_artifacts(conn, artifacts)
    experiments = _unique_new(batch.experiments, new)
    if experiments:
        _write_experiments(conn, experiments)
    manual = _unique_new(batch.manual_costs, new)
    if manual:
        _write_manual_costs(conn, manual, catalogs)
    return IngestResult(
        new_spans=len(new),
        duplicate_spans=len(records) - len(new),
        runs=tuple(changed.values()),
        previous_cost_micros={key: state.cost_micros for key, state in states.items()},
        previous_final={key: state.final for key, state in states.items()},
    )


def _unique_new(events: Sequence, new: set) -> list:
    seen: set = set()
    result = []
    for event in events:
        key = (event.span.trace_id, event.span.span_id)
        if key in new and key not in seen:
            seen.add(key)
            result.append(event)
    return result


def _load_runs(conn, keys: set[str]) -> dict[str, RunState]:
    return runs_by_key(conn, sorted(keys))


def _write_artifacts(conn, artifacts: Sequence[ArtifactEvent]) -> None:
    table = pa.table(
        {
            "trace_id": [a.span.trace_id for a in artifacts],
            "span_id": [a.span.span_id for a in artifacts],
            "run_key": [a.span.run_key for a in artifacts],
            "name": [a.name for a in artifacts],
            "type": [a.type for a in artifacts],
            "bytes": pa.array([a.bytes for a in artifacts], pa.int64()),
            "files": pa.array([a.files for a in artifacts], pa.int64()),
            "logged_ns": pa.array([a.span.end_ns for a in artifacts], pa.int64()),
            "governance_metadata": [a.governance_metadata_json or None for a in artifacts],
            "cost_estimate_micros": pa.array(
                [a.cost_estimate_micros for a in artifacts], pa.int64()
            ),
        }
    )
    conn.register("new_artifacts", table)
    conn.execute("INSERT OR IGNORE INTO artifacts SELECT * FROM new_artifacts")


def _write_experiments(conn, experiments: Sequence[ExperimentEvent]) -> None:
    table = pa.table(
        {
            "experiment_id": [x.experiment_id for x in experiments],
            "name": [x.name for x in experiments],
            "experiment_type": [x.experiment_type for x in experiments],
            "status": [x.status for x in experiments],
            "team": [x.scope.team for x in experiments],
            "project": [x.scope.project for x in experiments],
            "customer_id": [x.scope.customer_id for x in experiments],
            "cost_center": [x.scope.cost_center for x in experiments],
            "environment": [x.scope.environment for x in experiments],
            "max_cost_micros": pa.array([x.max_cost_micros for x in experiments], pa.int64()),
            "estimated_cost_micros": pa.array(
                [x.estimated_cost_micros for x in experiments], pa.int64()
            ),
            "start_ns": pa.array([x.span.start_ns for x in experiments], pa.int64()),
            "end_ns": pa.array([x.span.end_ns for x in experiments], pa.int64()),
            "error": [x.error for x in experiments],
            "violations": [json.dumps(list(x.violations)) for x in experiments],
        }
    )
    conn.register("new_experiments", table)
    conn.execute("INSERT OR REPLACE INTO experiments SELECT * FROM new_experiments")


def _write_manual_costs(conn, events: Sequence[ManualCostEvent], catalogs: CatalogSource):
    priced = [(event, pricing.price_manual(event, catalogs)) for event in events]
    table = pa.table(
        {
            "trace_id": [e.span.trace_id for e, _ in priced],
            "span_id": [e.span.span_id for e, _ in priced],
            "experiment_id": [e.experiment_id for e, _ in priced],
            "run_id": [e.run_id for e, _ in priced],
            **{key: [e.scope.as_dict()[key] for e, _ in priced] for key in _SCOPE_COLUMNS},
            "sku": [e.sku for e, _ in priced],
            "category": [line.category for _, line in priced],
            "unit": [line.unit for _, line in priced],
            "quantity": pa.array([e.quantity for e, _ in priced], pa.decimal128(38, 12)),
            "unit_price": pa.array([line.unit_price for _, line in priced], pa.decimal128(18, 9)),
            "amount_micros": pa.array([line.amount_micros for _, line in priced], pa.int64()),
            "priced": [line.priced for _, line in priced],
            "catalog_version": [line.catalog_version for _, line in priced],
            "at_ns": pa.array([e.span.end_ns for e, _ in priced], pa.int64()),
        }
    )
    conn.register("new_manual", table)
    conn.execute("INSERT OR IGNORE INTO manual_costs SELECT * FROM new_manual")


_SCOPE_COLUMNS = ("team", "project", "customer_id", "cost_center", "environment")

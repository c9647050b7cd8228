"""DuckDB storage: the only module that imports duckdb.

One connection, owned by one writer thread; callers submit ``fn(conn)`` and
get a future (await it with :func:`asyncio.wrap_future`). Each ingest is one
transaction: spans already stored (same trace_id and span_id) are skipped,
so a retried OTLP request changes nothing, and the caller is answered only
after the commit.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import logging
import queue
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from genops_processor import ledger
from genops_processor.budgets import Budget, Decision
from genops_processor.domain import (
    ArtifactEvent,
    Batch,
    CostLine,
    HardwareUse,
    RunState,
    RunUsage,
    Scope,
)
from genops_processor.pricing import Catalog

_log = logging.getLogger(__name__)
T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS spans (
    trace_id VARCHAR NOT NULL, span_id VARCHAR NOT NULL, kind VARCHAR NOT NULL,
    name VARCHAR NOT NULL, run_key VARCHAR NOT NULL, start_ns BIGINT, end_ns BIGINT,
    attributes VARCHAR, received_at TIMESTAMPTZ DEFAULT current_timestamp,
    PRIMARY KEY (trace_id, span_id));
CREATE TABLE IF NOT EXISTS runs (
    run_key VARCHAR PRIMARY KEY, run_id VARCHAR, run_name VARCHAR, wandb_project VARCHAR,
    team VARCHAR, project VARCHAR, customer_id VARCHAR, cost_center VARCHAR,
    environment VARCHAR, status VARCHAR, final BOOLEAN, error VARCHAR,
    gpu_type VARCHAR, gpu_count INTEGER, cpu_count INTEGER, instance_type VARCHAR,
    compute_start_ns BIGINT, as_of_ns BIGINT, log_calls BIGINT, artifact_bytes BIGINT,
    artifact_files BIGINT, artifact_count BIGINT, sequence BIGINT,
    catalog_version VARCHAR, cost_micros BIGINT, unpriced_skus VARCHAR[]);
CREATE TABLE IF NOT EXISTS cost_lines (
    run_key VARCHAR NOT NULL, sku VARCHAR NOT NULL, category VARCHAR, unit VARCHAR,
    quantity DECIMAL(38, 12), unit_price DECIMAL(18, 9), amount_micros BIGINT,
    priced BOOLEAN, catalog_version VARCHAR NOT NULL, catalog_source VARCHAR,
    catalog_date VARCHAR, as_of_ns BIGINT,
    PRIMARY KEY (run_key, sku, catalog_version));
CREATE TABLE IF NOT EXISTS artifacts (
    trace_id VARCHAR NOT NULL, span_id VARCHAR NOT NULL, run_key VARCHAR NOT NULL,
    name VARCHAR, type VARCHAR, bytes BIGINT, files BIGINT, logged_ns BIGINT,
    PRIMARY KEY (trace_id, span_id));
CREATE TABLE IF NOT EXISTS budget_decisions (
    decision_id VARCHAR PRIMARY KEY, decided_at TIMESTAMPTZ, team VARCHAR, project VARCHAR,
    customer_id VARCHAR, cost_center VARCHAR, environment VARCHAR, wandb_project VARCHAR,
    wandb_run_name VARCHAR, requested_micros BIGINT, decision VARCHAR,
    budget_name VARCHAR, budget_mode VARCHAR, limit_micros BIGINT, spent_micros BIGINT,
    budgets VARCHAR, message VARCHAR);
"""

_RUN_COLUMNS = (
    "run_key",
    "run_id",
    "run_name",
    "wandb_project",
    "team",
    "project",
    "customer_id",
    "cost_center",
    "environment",
    "status",
    "final",
    "error",
    "gpu_type",
    "gpu_count",
    "cpu_count",
    "instance_type",
    "compute_start_ns",
    "as_of_ns",
    "log_calls",
    "artifact_bytes",
    "artifact_files",
    "artifact_count",
    "sequence",
    "catalog_version",
    "cost_micros",
    "unpriced_skus",
)
_RUN_TYPES = {
    "final": pa.bool_(),
    "gpu_count": pa.int32(),
    "cpu_count": pa.int32(),
    "compute_start_ns": pa.int64(),
    "as_of_ns": pa.int64(),
    "log_calls": pa.int64(),
    "artifact_bytes": pa.int64(),
    "artifact_files": pa.int64(),
    "artifact_count": pa.int64(),
    "sequence": pa.int64(),
    "cost_micros": pa.int64(),
    "unpriced_skus": pa.list_(pa.string()),
}


class StorageError(RuntimeError):
    pass


@dataclass(frozen=True)
class IngestResult:
    new_spans: int
    duplicate_spans: int
    runs: tuple[RunState, ...]
    previous_cost_micros: dict[str, int]
    previous_final: dict[str, bool]


class Storage:
    def __init__(self, path: str | Path, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._jobs: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._opened = threading.Event()
        self._open_error: BaseException | None = None

    # -- lifecycle -----------------------------------------------------------------
    def open(self) -> Storage:
        if self.read_only and not self.path.exists():
            raise StorageError(f"no database at {self.path}")
        self._thread = threading.Thread(target=self._run, name="genops-duckdb-writer", daemon=True)
        self._thread.start()
        self._opened.wait()
        if self._open_error is not None:
            raise StorageError(f"cannot open {self.path}: {self._open_error}")
        return self

    def close(self) -> None:
        """Finish queued work, checkpoint and close. Idempotent."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._jobs.put(None)
        thread.join()

    def __enter__(self) -> Storage:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> concurrent.futures.Future:
        if self._thread is None:
            raise StorageError("storage is closed")
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._jobs.put((fn, future))
        return future

    def call(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        return self.submit(fn).result()

    def _run(self) -> None:
        try:
            if not self.read_only:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = duckdb.connect(str(self.path), read_only=self.read_only)
            if not self.read_only:
                conn.execute(SCHEMA)
        except BaseException as error:  # reported to open()
            self._open_error = error
            self._opened.set()
            return
        self._opened.set()
        try:
            while (job := self._jobs.get()) is not None:
                fn, future = job
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    future.set_result(fn(conn))
                except BaseException as error:
                    future.set_exception(error)
        finally:
            if not self.read_only:
                conn.execute("CHECKPOINT")
            conn.close()

    # -- operations (each returns a fn for the writer thread) -------------------------
    def ingest(self, batch: Batch, catalog: Catalog) -> concurrent.futures.Future:
        return self.submit(lambda conn: _ingest(conn, batch, catalog))


def spend_query(conn: duckdb.DuckDBPyConnection, budget: Budget, since: dt.datetime) -> int:
    where, params = _scope_filter(budget.scope)
    params.append(int(since.timestamp() * 1_000_000_000))
    row = conn.execute(
        f"SELECT COALESCE(SUM(cost_micros), 0) FROM runs WHERE {where} AND as_of_ns >= ?",
        params,
    ).fetchone()
    return int(row[0])


def record_decision(
    conn: duckdb.DuckDBPyConnection,
    scope: Scope,
    wandb_project: str,
    wandb_run_name: str,
    decision: Decision,
    now: dt.datetime,
) -> str:
    decision_id = uuid.uuid4().hex
    deciding = decision.deciding
    budgets = [
        {
            "name": s.budget.name,
            "mode": s.budget.mode,
            "source": s.budget.source,
            "limit_micros": s.budget.limit_micros,
            "spent_micros": s.spent_micros,
            "exceeded": s.exceeded,
        }
        for s in decision.states
    ]
    conn.execute(
        "INSERT INTO budget_decisions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            decision_id,
            now,
            scope.team,
            scope.project,
            scope.customer_id,
            scope.cost_center,
            scope.environment,
            wandb_project,
            wandb_run_name,
            decision.requested_micros,
            decision.outcome,
            deciding.budget.name if deciding else None,
            deciding.budget.mode if deciding else None,
            deciding.budget.limit_micros if deciding else None,
            deciding.spent_micros if deciding else None,
            json.dumps(budgets),
            decision.message,
        ],
    )
    return decision_id


def list_runs(
    conn: duckdb.DuckDBPyConnection, scope: Scope | None = None, limit: int = 0
) -> list[RunState]:
    where, params = _scope_filter(scope or Scope())
    sql = f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs WHERE {where} "
    sql += "ORDER BY compute_start_ns DESC, run_key"
    if limit > 0:
        sql += f" LIMIT {int(limit)}"
    return [_row_to_state(row) for row in conn.execute(sql, params).fetchall()]


def list_decisions(conn: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    cursor = conn.execute("SELECT * FROM budget_decisions ORDER BY decided_at")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def cost_lines(conn: duckdb.DuckDBPyConnection, run_key: str) -> list[dict[str, Any]]:
    cursor = conn.execute(
        "SELECT * FROM cost_lines WHERE run_key = ? ORDER BY catalog_version, sku", [run_key]
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# -- ingest -----------------------------------------------------------------------------
def _ingest(conn: duckdb.DuckDBPyConnection, batch: Batch, catalog: Catalog) -> IngestResult:
    records = {(s.trace_id, s.span_id): s for s in batch.spans}
    if not records:
        return IngestResult(0, 0, (), {}, {})
    conn.begin()
    try:
        result = _ingest_in_transaction(conn, batch, records, catalog)
        conn.commit()
        return result
    except BaseException:
        conn.rollback()
        raise
    finally:
        for name in ("incoming_spans", "changed_runs", "new_lines", "new_artifacts"):
            conn.unregister(name)


def _ingest_in_transaction(conn, batch: Batch, records: dict, catalog: Catalog) -> IngestResult:
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
            "ON s.trace_id = i.trace_id AND s.span_id = i.span_id"
        ).fetchall()
    )
    conn.execute(
        "INSERT INTO spans (trace_id, span_id, kind, name, run_key, start_ns, end_ns, attributes)"
        " SELECT i.* FROM incoming_spans i ANTI JOIN spans s "
        "ON s.trace_id = i.trace_id AND s.span_id = i.span_id"
    )
    events = _unique_new(batch.usage, new)
    artifacts = _unique_new(batch.artifacts, new)
    states = _load_runs(conn, {e.span.run_key for e in events})
    changed, lines = ledger.apply_events(states, events, catalog)
    if changed:
        _write_runs(conn, changed.values())
        _write_lines(conn, changed.keys(), lines, catalog.version)
    if artifacts:
        _write_artifacts(conn, artifacts)
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
    if not keys:
        return {}
    rows = conn.execute(
        f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs WHERE run_key IN (SELECT unnest(?))",
        [sorted(keys)],
    ).fetchall()
    return {row[0]: _row_to_state(row) for row in rows}


def _write_runs(conn, states: Iterable[RunState]) -> None:
    rows = [_state_to_row(s) for s in states]
    columns = {
        name: pa.array([r[i] for r in rows], _RUN_TYPES.get(name, pa.string()))
        for i, name in enumerate(_RUN_COLUMNS)
    }
    conn.register("changed_runs", pa.table(columns))
    conn.execute("INSERT OR REPLACE INTO runs SELECT * FROM changed_runs")


def _write_lines(conn, keys: Iterable[str], lines: dict[str, list[CostLine]], version: str):
    keys = sorted(keys)
    conn.execute(
        "DELETE FROM cost_lines WHERE catalog_version = ? AND run_key IN (SELECT unnest(?))",
        [version, keys],
    )
    flat = [line for key in keys for line in lines.get(key, [])]
    if not flat:
        return
    table = pa.table(
        {
            "run_key": [x.run_key for x in flat],
            "sku": [x.sku for x in flat],
            "category": [x.category for x in flat],
            "unit": [x.unit for x in flat],
            "quantity": pa.array([x.quantity for x in flat], pa.decimal128(38, 12)),
            "unit_price": pa.array([x.unit_price for x in flat], pa.decimal128(18, 9)),
            "amount_micros": pa.array([x.amount_micros for x in flat], pa.int64()),
            "priced": [x.priced for x in flat],
            "catalog_version": [x.catalog_version for x in flat],
            "catalog_source": [x.catalog_source for x in flat],
            "catalog_date": [x.catalog_date for x in flat],
            "as_of_ns": pa.array([x.as_of_ns for x in flat], pa.int64()),
        }
    )
    conn.register("new_lines", table)
    conn.execute("INSERT INTO cost_lines SELECT * FROM new_lines")


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
        }
    )
    conn.register("new_artifacts", table)
    conn.execute("INSERT OR IGNORE INTO artifacts SELECT * FROM new_artifacts")


def _scope_filter(scope: Scope) -> tuple[str, list[Any]]:
    clauses, params = ["TRUE"], []
    for key, value in scope.as_dict().items():
        if value:
            clauses.append(f"{key} = ?")
            params.append(value)
    return " AND ".join(clauses), params


def _state_to_row(s: RunState) -> tuple:
    return (
        s.run_key,
        s.run_id,
        s.run_name,
        s.wandb_project,
        s.scope.team,
        s.scope.project,
        s.scope.customer_id,
        s.scope.cost_center,
        s.scope.environment,
        s.status,
        s.final,
        s.error,
        s.hardware.gpu_type,
        s.hardware.gpu_count,
        s.hardware.cpu_count,
        s.hardware.instance_type,
        s.usage.compute_start_ns,
        s.usage.as_of_ns,
        s.usage.log_calls,
        s.usage.artifact_bytes,
        s.usage.artifact_files,
        s.usage.artifact_count,
        s.usage.sequence,
        s.catalog_version,
        s.cost_micros,
        list(s.unpriced_skus),
    )


def _row_to_state(r: Sequence) -> RunState:
    return RunState(
        run_key=r[0],
        run_id=r[1] or "",
        run_name=r[2] or "",
        wandb_project=r[3] or "",
        scope=Scope(
            team=r[4] or "",
            project=r[5] or "",
            customer_id=r[6] or "",
            cost_center=r[7] or "",
            environment=r[8] or "",
        ),
        status=r[9],
        final=bool(r[10]),
        error=r[11] or "",
        hardware=HardwareUse(
            gpu_type=r[12] or "",
            gpu_count=r[13] or 0,
            cpu_count=r[14] or 0,
            instance_type=r[15] or "",
        ),
        usage=RunUsage(
            compute_start_ns=r[16],
            as_of_ns=r[17],
            log_calls=r[18],
            artifact_bytes=r[19],
            artifact_files=r[20],
            artifact_count=r[21],
            sequence=r[22],
        ),
        catalog_version=r[23] or "",
        cost_micros=r[24] or 0,
        unpriced_skus=tuple(r[25] or ()),
    )

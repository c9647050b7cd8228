"""DuckDB storage: the only module that imports duckdb.

One connection, owned by one writer thread; callers submit ``fn(conn)`` and
get a future (await it with :func:`asyncio.wrap_future`). The SQL lives in
:mod:`ingest` (writes of received telemetry), :mod:`queries` (reads) and
:mod:`decisions` (the budget decision log); they receive the connection and
never open one.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import duckdb

from genops_processor import ingest
from genops_processor.domain import Batch
from genops_processor.pricing import CatalogSource

_log = logging.getLogger(__name__)
T = TypeVar("T")
Connection = duckdb.DuckDBPyConnection

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
    catalog_version VARCHAR, cost_micros BIGINT, unpriced_skus VARCHAR[],
    declared_storage_micros BIGINT, experiment_id VARCHAR, tags VARCHAR, workflow VARCHAR,
    metrics_last VARCHAR, region VARCHAR, storage_tier VARCHAR, retention_days INTEGER,
    capacity_type VARCHAR, wandb_mode VARCHAR, declared_catalog VARCHAR, config_hash VARCHAR,
    violations VARCHAR[], gpu_util_mean DOUBLE, gpu_mem_peak_gb DOUBLE,
    artifacts_used VARCHAR, hold_id VARCHAR, compute_micros BIGINT DEFAULT 0,
    storage_micros BIGINT DEFAULT 0, data_transfer_micros BIGINT DEFAULT 0,
    tracking_micros BIGINT DEFAULT 0, unpriced_lines INTEGER DEFAULT 0);
CREATE TABLE IF NOT EXISTS holds (
    hold_id VARCHAR PRIMARY KEY, decision_id VARCHAR, run_key VARCHAR, team VARCHAR,
    project VARCHAR, customer_id VARCHAR, cost_center VARCHAR, environment VARCHAR,
    amount_micros BIGINT NOT NULL, status VARCHAR NOT NULL, created_ns BIGINT NOT NULL,
    last_seen_ns BIGINT, closed_ns BIGINT, committed_micros BIGINT);
CREATE TABLE IF NOT EXISTS manual_costs (
    trace_id VARCHAR NOT NULL, span_id VARCHAR NOT NULL, experiment_id VARCHAR,
    run_id VARCHAR, team VARCHAR, project VARCHAR, customer_id VARCHAR, cost_center VARCHAR,
    environment VARCHAR, sku VARCHAR, category VARCHAR, unit VARCHAR,
    quantity DECIMAL(38, 12), unit_price DECIMAL(18, 9), amount_micros BIGINT,
    priced BOOLEAN, catalog_version VARCHAR, at_ns BIGINT,
    PRIMARY KEY (trace_id, span_id));
CREATE TABLE IF NOT EXISTS alerts_fired (
    alert_id VARCHAR PRIMARY KEY, budget VARCHAR NOT NULL, period_start VARCHAR NOT NULL,
    threshold INTEGER NOT NULL, spent_micros BIGINT, limit_micros BIGINT,
    fired_at TIMESTAMPTZ, UNIQUE (budget, period_start, threshold));
CREATE TABLE IF NOT EXISTS alert_deliveries (
    alert_id VARCHAR NOT NULL, channel VARCHAR NOT NULL, attempt INTEGER NOT NULL,
    status VARCHAR NOT NULL, error VARCHAR, attempted_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS alert_rules (
    rule_id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, body VARCHAR NOT NULL,
    created_at TIMESTAMPTZ, created_by VARCHAR);
CREATE TABLE IF NOT EXISTS alert_events (
    alert_id VARCHAR PRIMARY KEY, rule_id VARCHAR NOT NULL, event_key VARCHAR NOT NULL,
    subject VARCHAR, body VARCHAR, fired_at TIMESTAMPTZ, level INTEGER,
    escalated_at TIMESTAMPTZ, acknowledged_at TIMESTAMPTZ, acknowledged_by VARCHAR,
    UNIQUE (rule_id, event_key));
CREATE TABLE IF NOT EXISTS approvals (
    approval_id VARCHAR PRIMARY KEY, status VARCHAR NOT NULL, team VARCHAR, project VARCHAR,
    customer_id VARCHAR, cost_center VARCHAR, environment VARCHAR, wandb_project VARCHAR,
    wandb_run_name VARCHAR, requested_at TIMESTAMPTZ, expires_at TIMESTAMPTZ,
    decided_at TIMESTAMPTZ, actor VARCHAR, reason VARCHAR, hold_id VARCHAR);
CREATE TABLE IF NOT EXISTS policy_versions (
    version INTEGER PRIMARY KEY, body VARCHAR NOT NULL, changed_at TIMESTAMPTZ,
    actor VARCHAR, reason VARCHAR);
CREATE TABLE IF NOT EXISTS catalogs (
    version VARCHAR PRIMARY KEY, body VARCHAR NOT NULL, registered_at TIMESTAMPTZ,
    origin VARCHAR);
CREATE TABLE IF NOT EXISTS audit_events (
    event_id VARCHAR PRIMARY KEY, occurred_at TIMESTAMPTZ, kind VARCHAR, actor VARCHAR,
    detail VARCHAR);
CREATE TABLE IF NOT EXISTS cost_lines (
    run_key VARCHAR NOT NULL, sku VARCHAR NOT NULL, category VARCHAR, unit VARCHAR,
    quantity DECIMAL(38, 12), unit_price DECIMAL(18, 9), amount_micros BIGINT,
    priced BOOLEAN, catalog_version VARCHAR NOT NULL, catalog_source VARCHAR,
    catalog_date VARCHAR, as_of_ns BIGINT,
    PRIMARY KEY (run_key, sku, catalog_version));
CREATE TABLE IF NOT EXISTS artifacts (
    trace_id VARCHAR NOT NULL, span_id VARCHAR NOT NULL, run_key VARCHAR NOT NULL,
    name VARCHAR, type VARCHAR, bytes BIGINT, files BIGINT, logged_ns BIGINT,
    governance_metadata VARCHAR, cost_estimate_micros BIGINT,
    PRIMARY KEY (trace_id, span_id));
CREATE TABLE IF NOT EXISTS experiments (
    experiment_id VARCHAR PRIMARY KEY, name VARCHAR, experiment_type VARCHAR, status VARCHAR,
    team VARCHAR, project VARCHAR, customer_id VARCHAR, cost_center VARCHAR,
    environment VARCHAR, max_cost_micros BIGINT, estimated_cost_micros BIGINT,
    start_ns BIGINT, end_ns BIGINT, error VARCHAR, violations VARCHAR);
CREATE TABLE IF NOT EXISTS budget_decisions (
    decision_id VARCHAR PRIMARY KEY, decided_at TIMESTAMPTZ, team VARCHAR, project VARCHAR,
    customer_id VARCHAR, cost_center VARCHAR, environment VARCHAR, wandb_project VARCHAR,
    wandb_run_name VARCHAR, requested_micros BIGINT, decision VARCHAR,
    budget_name VARCHAR, budget_mode VARCHAR, limit_micros BIGINT, spent_micros BIGINT,
    budgets VARCHAR, message VARCHAR);
"""

# Columns added after a release: (table, column, type). A database written by an
# older processor gets them on open, then MIGRATION_BACKFILL fills them in.
ADDED_COLUMNS = (
    ("runs", "compute_micros", "BIGINT DEFAULT 0"),
    ("runs", "storage_micros", "BIGINT DEFAULT 0"),
    ("runs", "data_transfer_micros", "BIGINT DEFAULT 0"),
    ("runs", "tracking_micros", "BIGINT DEFAULT 0"),
    ("runs", "unpriced_lines", "INTEGER DEFAULT 0"),
)
# A run's per-category totals from its lines of the catalog version that priced it.
MIGRATION_BACKFILL = """
UPDATE runs SET compute_micros = t.compute, storage_micros = t.storage,
    data_transfer_micros = t.data_transfer, tracking_micros = t.tracking,
    unpriced_lines = t.unpriced
FROM (
    SELECT l.run_key,
        COALESCE(SUM(l.amount_micros) FILTER (WHERE l.priced AND l.category = 'compute'), 0)
            AS compute,
        COALESCE(SUM(l.amount_micros) FILTER (WHERE l.priced AND l.category = 'storage'), 0)
            AS storage,
        COALESCE(SUM(l.amount_micros) FILTER (WHERE l.priced AND l.category = 'data_transfer'),
            0) AS data_transfer,
        COALESCE(SUM(l.amount_micros) FILTER (WHERE l.priced AND l.category = 'tracking'), 0)
            AS tracking,
        count(*) FILTER (WHERE NOT l.priced) AS unpriced
    FROM cost_lines l JOIN runs r ON r.run_key = l.run_key
        AND r.catalog_version = l.catalog_version
    GROUP BY 1
) t WHERE runs.run_key = t.run_key
"""


def migrate(conn: Connection) -> list[str]:
    """Bring a database written by an older processor up to SCHEMA; returns what was added."""
    existing = {
        (table, column)
        for table, column in conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
        ).fetchall()
    }
    added = []
    for table, column, sql_type in ADDED_COLUMNS:
        if (table, column) not in existing:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}")
            added.append(f"{table}.{column}")
    if added:
        conn.execute(MIGRATION_BACKFILL)
    return added


class StorageError(RuntimeError):
    pass


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

    def submit(self, fn: Callable[[Connection], T]) -> concurrent.futures.Future:
        if self._thread is None:
            raise StorageError("storage is closed")
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._jobs.put((fn, future))
        return future

    def call(self, fn: Callable[[Connection], T]) -> T:
        return self.submit(fn).result()

    def _run(self) -> None:
        try:
            if not self.read_only:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = duckdb.connect(str(self.path), read_only=self.read_only)
            if not self.read_only:
                conn.execute(SCHEMA)
                if added := migrate(conn):
                    _log.info("%s: added and filled %s", self.path, ", ".join(added))
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
    def ingest(self, batch: Batch, catalogs: CatalogSource) -> concurrent.futures.Future:
        """Store a batch in one transaction; the future resolves after the commit."""
        return self.submit(lambda conn: ingest.ingest_batch(conn, batch, catalogs))

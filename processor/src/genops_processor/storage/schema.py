"""The ledger's schema (DDL) and the migrations that bring an older database up to it."""

from __future__ import annotations

import logging
from typing import Any

from genops_processor.storage.quarantine import quarantine

Connection = Any  # a duckdb connection; storage.writer owns the import
_log = logging.getLogger(__name__)


# The raw spans. No primary key, like span_ids: ingest keeps each span once by its own
# check (ingest/write.py, one join per batch), and DuckDB's index on two random text ids
# cost more than the spans (1,000,000 spans: file 229 vs 38 MiB, RSS 386 vs 208 MiB,
# a checkpoint after 10 batches 57 vs 5 ms; /work/prof/spans_pk.py) and was never read.
SPANS_COLUMNS = """(
    trace_id VARCHAR NOT NULL, span_id VARCHAR NOT NULL, kind VARCHAR NOT NULL,
    name VARCHAR NOT NULL, run_key VARCHAR NOT NULL, start_ns BIGINT, end_ns BIGINT,
    attributes VARCHAR, received_at TIMESTAMPTZ DEFAULT current_timestamp)"""
_SPANS_NAMES = "trace_id, span_id, kind, name, run_key, start_ns, end_ns, attributes, received_at"

SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS spans """
    + SPANS_COLUMNS
    + """;
-- Spans compacted past the raw-content window: their ids only (see storage/compaction.py).
CREATE TABLE IF NOT EXISTS span_ids (trace_id BLOB NOT NULL, span_id BLOB NOT NULL);
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
    tracking_micros BIGINT DEFAULT 0, unpriced_lines INTEGER DEFAULT 0, exit_code INTEGER,
    security_level VARCHAR, residency VARCHAR);
CREATE TABLE IF NOT EXISTS holds (
    hold_id VARCHAR PRIMARY KEY, decision_id VARCHAR, run_key VARCHAR, team VARCHAR,
    project VARCHAR, customer_id VARCHAR, cost_center VARCHAR, environment VARCHAR,
    amount_micros BIGINT NOT NULL, status VARCHAR NOT NULL, created_ns BIGINT NOT NULL,
    last_seen_ns BIGINT, closed_ns BIGINT, committed_micros BIGINT, parent_hold_id VARCHAR,
    principal VARCHAR);
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
-- One row per (alert, channel), written with the alert; its delivery state (pending,
-- retrying, delivered, expired), attempts and next attempt; each attempt is a row of
-- alert_deliveries (alerts/outbox.py).
CREATE TABLE IF NOT EXISTS alert_outbox (
    alert_id VARCHAR NOT NULL, channel VARCHAR NOT NULL, message VARCHAR NOT NULL,
    attempts INTEGER NOT NULL, created_at TIMESTAMPTZ NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL, last_error VARCHAR,
    state VARCHAR DEFAULT 'pending', PRIMARY KEY (alert_id, channel));
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
-- The audit trail, a hash chain (record/audit_log.py; encoding: genops.governance.audit_chain).
-- Every chained column is text ('' when unknown, never NULL) except seq (gap-free from 1).
CREATE TABLE IF NOT EXISTS audit_events (
    event_id VARCHAR PRIMARY KEY, occurred_at TIMESTAMPTZ, kind VARCHAR, actor VARCHAR,
    detail VARCHAR, seq BIGINT, team VARCHAR DEFAULT '', reported VARCHAR DEFAULT '',
    region VARCHAR DEFAULT '', environment VARCHAR DEFAULT '',
    client_address VARCHAR DEFAULT '', policy_version VARCHAR DEFAULT '',
    approval_id VARCHAR DEFAULT '', business_context VARCHAR DEFAULT '',
    prev_hash VARCHAR, hash VARCHAR);
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
-- Re-pricing jobs (pricing/repricing.py): each step re-prices the runs after
-- last_run_key and moves the cursor in the same transaction, so a killed job resumes.
CREATE TABLE IF NOT EXISTS reprice_jobs (
    job_id VARCHAR PRIMARY KEY, catalog_version VARCHAR NOT NULL, since_ns BIGINT NOT NULL,
    actor VARCHAR, started_at TIMESTAMPTZ, total_runs BIGINT, done_runs BIGINT NOT NULL,
    last_run_key VARCHAR, before_micros HUGEINT NOT NULL, after_micros HUGEINT NOT NULL,
    finished_at TIMESTAMPTZ, audit_event_id VARCHAR);
-- Rows that broke the ledger's invariants, set aside on open (storage/quarantine.py).
CREATE TABLE IF NOT EXISTS quarantine (
    source VARCHAR NOT NULL, row_key VARCHAR, reason VARCHAR NOT NULL, body VARCHAR,
    quarantined_at TIMESTAMPTZ DEFAULT current_timestamp);
-- Spans refused against the ledger (a run's scope changed, its usage went down, a span id
-- sent again with other content): ids and reason only, never the content (ingest/write.py).
CREATE TABLE IF NOT EXISTS span_rejections (
    trace_id VARCHAR NOT NULL, span_id VARCHAR NOT NULL, run_key VARCHAR,
    reason VARCHAR NOT NULL, rejected_at TIMESTAMPTZ DEFAULT current_timestamp);
CREATE TABLE IF NOT EXISTS budget_decisions (
    decision_id VARCHAR PRIMARY KEY, decided_at TIMESTAMPTZ, team VARCHAR, project VARCHAR,
    customer_id VARCHAR, cost_center VARCHAR, environment VARCHAR, wandb_project VARCHAR,
    wandb_run_name VARCHAR, requested_micros BIGINT, decision VARCHAR,
    budget_name VARCHAR, budget_mode VARCHAR, limit_micros BIGINT, spent_micros BIGINT,
    budgets VARCHAR, message VARCHAR);
-- Backups of the ledger (storage/backup.py, record/backups.py): when, where, what the
-- copy holds (its totals and audit events), how long it held the writer.
CREATE TABLE IF NOT EXISTS backups (
    backup_id VARCHAR PRIMARY KEY, taken_at TIMESTAMPTZ NOT NULL, path VARCHAR NOT NULL,
    audit_event_id VARCHAR, audit_seq BIGINT, audit_events BIGINT, runs BIGINT,
    cost_micros HUGEINT, blocked_ms BIGINT);
-- One-time rewrites of an older ledger's content, done once each (record/stored_errors.py).
CREATE TABLE IF NOT EXISTS ledger_migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ);
-- Artifacts and runs a retention clean-up was applied to (record/retention.py).
CREATE TABLE IF NOT EXISTS retention_applied (
    kind VARCHAR NOT NULL, item_key VARCHAR NOT NULL, applied_at TIMESTAMPTZ,
    actor VARCHAR, audit_event_id VARCHAR, PRIMARY KEY (kind, item_key));
"""
)


# Columns added after a release: (table, column, type). A database written by an
# older processor gets them on open, then MIGRATION_BACKFILL fills them in.
ADDED_COLUMNS = (
    ("runs", "compute_micros", "BIGINT DEFAULT 0"),
    ("runs", "storage_micros", "BIGINT DEFAULT 0"),
    ("runs", "data_transfer_micros", "BIGINT DEFAULT 0"),
    ("runs", "tracking_micros", "BIGINT DEFAULT 0"),
    ("runs", "unpriced_lines", "INTEGER DEFAULT 0"),
    ("runs", "exit_code", "INTEGER"),  # NULL: recorded before clients sent it
    ("runs", "security_level", "VARCHAR"),  # NULL: unclassified (no security_level)
    # An outbox row's delivery state; rows of older ledgers are all still to deliver.
    ("alert_outbox", "state", "VARCHAR DEFAULT 'pending'"),
    ("runs", "residency", "VARCHAR"),  # NULL: no data_residency verdict (older runs)
    # The experiment hold that funds a run's hold; NULL: funded by nobody (every older hold).
    ("holds", "parent_hold_id", "VARCHAR"),
    # Who created a hold (the authenticated principal); NULL: created before authentication.
    ("holds", "principal", "VARCHAR"),
    # The audit chain (record/audit_log.py): events written before it are chained on open
    # in (occurred_at, event_id) order by chain_audit_events.
    ("audit_events", "seq", "BIGINT"),
    ("audit_events", "team", "VARCHAR DEFAULT ''"),
    ("audit_events", "reported", "VARCHAR DEFAULT ''"),
    ("audit_events", "region", "VARCHAR DEFAULT ''"),
    ("audit_events", "environment", "VARCHAR DEFAULT ''"),
    ("audit_events", "client_address", "VARCHAR DEFAULT ''"),
    ("audit_events", "policy_version", "VARCHAR DEFAULT ''"),
    ("audit_events", "approval_id", "VARCHAR DEFAULT ''"),
    ("audit_events", "business_context", "VARCHAR DEFAULT ''"),
    ("audit_events", "prev_hash", "VARCHAR"),
    ("audit_events", "hash", "VARCHAR"),
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
    if "audit_events.seq" in added:
        chain_audit_events(conn)
    quarantine(conn)  # rows that break the money invariants, set aside with their reason
    if (moved := spans_without_primary_key(conn)) is not None:
        added.append(f"spans rebuilt without its primary key ({moved:,} rows)")
    return added


def spans_without_primary_key(conn: Connection) -> int | None:
    """A ledger written before the raw spans lost their primary key (see SPANS_COLUMNS):
    its spans copied, in one transaction, into a table without it that takes the name
    (DuckDB cannot drop a constraint). Returns the rows copied; None when there was no
    key to drop."""
    keyed = conn.execute(
        "SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'spans' "
        "AND schema_name = current_schema() AND constraint_type = 'PRIMARY KEY'"
    ).fetchall()[0][0]
    if not keyed:
        return None
    rows = conn.execute("SELECT count(*) FROM spans").fetchall()[0][0]
    # said before the copy: on a ledger of millions of raw spans it takes a while, once
    _log.info("rebuilding the spans table without its primary key (%s rows, once)", f"{rows:,}")
    from genops_processor.storage.writer import transaction  # writer imports this module

    with transaction(conn):
        conn.execute(f"CREATE TABLE spans_rebuilt {SPANS_COLUMNS}")
        conn.execute(f"INSERT INTO spans_rebuilt ({_SPANS_NAMES}) SELECT {_SPANS_NAMES} FROM spans")
        conn.execute("DROP TABLE spans")
        conn.execute("ALTER TABLE spans_rebuilt RENAME TO spans")
    return rows


def chain_audit_events(conn: Connection) -> int:
    """Give the events of a ledger written before the audit chain their place in it: seq
    in (occurred_at, event_id) order, the fields then unknown as '', and their hashes.
    Returns how many were chained."""
    from genops.governance.audit_chain import EVENT_FIELDS, GENESIS_HASH, event_hash, format_time

    conn.execute(
        "UPDATE audit_events SET seq = o.n FROM (SELECT event_id, row_number() OVER "
        "(ORDER BY occurred_at, event_id) AS n FROM audit_events) o "
        "WHERE audit_events.event_id = o.event_id"
    )
    columns = ", ".join(f"COALESCE(CAST({n} AS VARCHAR), '')" for n in EVENT_FIELDS[3:-2])
    rows = conn.execute(
        f"SELECT seq, event_id, occurred_at, {columns} FROM audit_events ORDER BY seq"
    ).fetchall()
    prev, hashes = GENESIS_HASH, []
    for seq, event_id, occurred_at, *rest in rows:
        values = (seq, event_id, format_time(occurred_at), *rest)
        event = dict(zip(EVENT_FIELDS, values, strict=False))  # prev_hash, hash: below
        event["prev_hash"] = prev
        prev = event_hash(event)
        hashes.append((seq, event["prev_hash"], prev))
    for n in EVENT_FIELDS[3:-2]:
        conn.execute(f"UPDATE audit_events SET {n} = '' WHERE {n} IS NULL")
    if hashes:
        import pyarrow as pa

        seqs, prevs, hs = zip(*hashes, strict=True)
        conn.register("audit_hashes", pa.table({"seq": seqs, "prev_hash": prevs, "hash": hs}))
        conn.execute(
            "UPDATE audit_events SET prev_hash = h.prev_hash, hash = h.hash "
            "FROM audit_hashes h WHERE audit_events.seq = h.seq"
        )
        conn.unregister("audit_hashes")
    return len(rows)

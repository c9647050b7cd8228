"""The per-run category totals that cost summaries read stay equal to the runs' lines:
after ingest, after re-pricing under another catalog version, and when a database
written before the columns existed is opened. Real DuckDB files, no gRPC."""

from __future__ import annotations

import datetime as dt
from importlib import resources

import duckdb
import pytest
import yaml

from genops_processor.analytics.queries import cost_summary
from genops_processor.domain import (
    Batch,
    HardwareUse,
    RunLabels,
    RunUsage,
    Scope,
    SpanRecord,
    UsageEvent,
)
from genops_processor.ingest import ingest_batch
from genops_processor.pricing import Catalog, CatalogSource, repricing
from genops_processor.storage import Storage
from genops_processor.storage.schema import ADDED_COLUMNS

UTC = dt.timezone.utc
START = dt.datetime(2026, 11, 28, 9, tzinfo=UTC)
HOUR_NS = 3_600 * 10**9
GIB = 2**30
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
ROLLUPS = "compute_micros, storage_micros, data_transfer_micros, tracking_micros, unpriced_lines"


def run_event(key: str, hardware: HardwareUse, hours: int, artifact_bytes: int) -> UsageEvent:
    start_ns = int(START.timestamp() * 1e9)
    return UsageEvent(
        span=SpanRecord(key, "02" * 8, "run", "wandb.run", key, start_ns, start_ns, "{}"),
        run_id=key[:8],
        run_name=key,
        wandb_project="p",
        scope=Scope(team="rollup"),
        hardware=hardware,
        usage=RunUsage(
            compute_start_ns=start_ns,
            as_of_ns=start_ns + hours * HOUR_NS,
            artifact_bytes=artifact_bytes,
            artifact_count=1 if artifact_bytes else 0,
        ),
        status="finished",
        final=True,
        labels=RunLabels(wandb_mode="online", retention_days=30),
    )


EVENTS = (
    # T4 x2 + 8 vCPU for 3 h, 5 GiB stored and uploaded: compute, storage, transfer
    run_event("a" * 32, HardwareUse(gpu_type="T4", gpu_count=2, cpu_count=8), 3, 5 * GIB),
    # a GPU no catalog prices: an unpriced line beside a priced vCPU line
    run_event("b" * 32, HardwareUse(gpu_type="B300", gpu_count=1, cpu_count=4), 1, 0),
    run_event("c" * 32, HardwareUse(cpu_count=16), 2, GIB // 2),
)


def lines_by_category(conn) -> tuple[dict[str, int], int]:
    """The plain answer: each run's lines of its current catalog version, grouped."""
    rows = conn.execute(
        "SELECT l.category, COALESCE(SUM(l.amount_micros) FILTER (WHERE l.priced), 0), "
        "count(*) FILTER (WHERE NOT l.priced) FROM cost_lines l JOIN runs r "
        "ON r.run_key = l.run_key AND r.catalog_version = l.catalog_version GROUP BY 1"
    ).fetchall()
    return {c: int(m) for c, m, _ in rows if m}, sum(int(u) for *_, u in rows)


@pytest.fixture
def ledger(tmp_path):
    storage = Storage(tmp_path / "ledger.duckdb").open()
    catalogs = CatalogSource(Catalog.load())
    storage.submit(lambda conn: ingest_batch(conn, Batch(usage=EVENTS), catalogs)).result()
    yield storage
    storage.close()


def test_summary_from_run_totals_equals_the_lines(ledger):
    summary = ledger.call(lambda conn: cost_summary(conn, Scope(team="rollup"), EPOCH))
    plain, unpriced = ledger.call(lines_by_category)
    assert set(plain) == {"compute", "storage", "data_transfer"}
    assert summary.by_category == plain
    assert summary.unpriced_lines == unpriced == 1
    assert summary.total_micros == sum(plain.values())
    assert summary.runs == 3
    assert sum(summary.by_run.values()) == summary.total_micros
    assert summary.by_experiment_type == {"untracked": summary.total_micros}


def test_run_totals_follow_a_repricing(ledger, tmp_path):
    # v2: the bundled catalog with every price doubled
    body = yaml.safe_load(resources.files("genops").joinpath("catalogs/default.yaml").read_text())
    body["version"] = "rollup-v2"
    for row in body["rows"]:
        row["unit_price"] = str(2 * float(row["unit_price"]))
    v2 = tmp_path / "v2.yaml"
    v2.write_text(yaml.safe_dump(body))
    before = ledger.call(lambda conn: cost_summary(conn, Scope(team="rollup"), EPOCH))

    now = dt.datetime(2026, 11, 29, tzinfo=UTC)
    catalog = Catalog.load(v2)
    job, _ = ledger.call(lambda conn: repricing.start(conn, catalog, None, "test", now))
    while not job.finished:
        job = ledger.call(lambda conn, job=job: repricing.step(conn, job, catalog, now))

    after = ledger.call(lambda conn: cost_summary(conn, Scope(team="rollup"), EPOCH))
    plain, _ = ledger.call(lines_by_category)
    assert after.by_category == plain
    # doubled prices, each line rounded to the micro-dollar on its own: within 1 µ$ a line
    for category, micros in before.by_category.items():
        assert abs(after.by_category[category] - 2 * micros) <= 3


def test_a_database_from_before_the_run_totals_gets_them_filled_on_open(ledger, tmp_path):
    expected = ledger.call(
        lambda conn: conn.execute(f"SELECT run_key, {ROLLUPS} FROM runs ORDER BY 1").fetchall()
    )
    assert any(row[1] for row in expected)
    ledger.close()
    path = tmp_path / "ledger.duckdb"
    with duckdb.connect(str(path)) as conn:  # what an older processor left behind
        for table, column, _ in ADDED_COLUMNS:
            conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")

    with Storage(path) as reopened:
        migrated = reopened.call(
            lambda conn: conn.execute(f"SELECT run_key, {ROLLUPS} FROM runs ORDER BY 1").fetchall()
        )
        summary = reopened.call(lambda conn: cost_summary(conn, Scope(team="rollup"), EPOCH))
        plain, unpriced = reopened.call(lines_by_category)
    assert migrated == expected
    assert summary.by_category == plain and summary.unpriced_lines == unpriced

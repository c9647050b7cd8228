"""The key indexes of large tables are loaded at start (storage/warm_indexes.py): the
ledger's rows stay exactly as they were, small tables are left alone, and a warm-up the
ledger refuses is logged and changes nothing. Real DuckDB files in a temporary
directory; the processor's own Storage and ingest; the row threshold lowered so that a
test-sized ledger counts as large (a year-sized one takes minutes to build)."""

from __future__ import annotations

import logging

from genops_processor import storage as store
from genops_processor.ingest import ingest_batch
from genops_processor.pricing import Catalog, CatalogSource
from genops_processor.storage.warm_indexes import warm_indexes
from tests.helpers import ROUND_CATALOG
from tests.processor.test_run_cache import batch, beat

CATALOGS = CatalogSource(Catalog.load(ROUND_CATALOG))
TABLES = ("runs", "cost_lines", "spans")


def contents(storage) -> dict[str, list[tuple]]:
    return storage.call(
        lambda conn: {t: conn.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}
    )


def test_large_tables_are_warmed_and_keep_every_row(tmp_path):
    with store.Storage(tmp_path / "ledger.duckdb") as storage:
        storage.call(
            lambda conn: ingest_batch(conn, batch(*(beat(r, 60) for r in range(30))), CATALOGS)
        )
        before = contents(storage)
        warmed = storage.call(lambda conn: warm_indexes(conn, min_rows=20))
        assert "runs" in warmed and "cost_lines" in warmed  # 30 runs, their lines
        assert "spans" not in warmed  # no key: nothing to load
        assert contents(storage) == before
        # the ledger goes on as before: a resend is a duplicate, a new beat is stored
        again = storage.call(
            lambda conn: ingest_batch(conn, batch(beat(1, 60), beat(1, 120)), CATALOGS)
        )
        assert (again.new_spans, again.duplicate_spans) == (1, 1)
    with store.Storage(tmp_path / "ledger.duckdb") as storage:  # and after a restart
        assert len(contents(storage)["spans"]) == 31


def test_small_tables_are_left_alone(tmp_path):
    with store.Storage(tmp_path / "ledger.duckdb") as storage:
        storage.call(lambda conn: ingest_batch(conn, batch(beat(1, 60)), CATALOGS))
        assert storage.call(warm_indexes) == []  # below WARM_MIN_ROWS
        assert storage.call(lambda conn: warm_indexes(conn, min_rows=10**9)) == []


def test_a_refused_warm_up_is_logged_and_changes_nothing(tmp_path, caplog):
    # hostile to the warm-up: another connection holds a write transaction open, so
    # DuckDB refuses the CHECKPOINT
    with store.Storage(tmp_path / "ledger.duckdb") as storage:
        storage.call(
            lambda conn: ingest_batch(conn, batch(*(beat(r, 60) for r in range(5))), CATALOGS)
        )
        before = contents(storage)

        def blocked(conn):
            other = conn.cursor()
            other.execute("BEGIN")
            other.execute("UPDATE runs SET run_name = run_name WHERE run_key = 'run-1'")
            try:
                return warm_indexes(conn, min_rows=2)
            finally:
                other.execute("ROLLBACK")
                other.close()

        with caplog.at_level(logging.WARNING):
            assert storage.call(blocked) == []
        assert "indexes were not loaded at start" in caplog.text
        assert contents(storage) == before
        later = storage.call(lambda conn: ingest_batch(conn, batch(beat(9, 60)), CATALOGS))
        assert later.new_spans == 1

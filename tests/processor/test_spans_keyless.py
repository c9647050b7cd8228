"""The raw spans table has no primary key (storage/schema.py, SPANS_COLUMNS): ingest's own
check keeps each span once, and an older ledger's keyed table is rebuilt without the key
on open, its rows kept. Real DuckDB files in a temporary directory; the processor's own
ingest queue, storage and migration."""

from __future__ import annotations

import concurrent.futures
import logging
from dataclasses import replace

import duckdb
import pytest

from genops_processor import storage as store
from genops_processor.ingest import IngestQueue, ingest_batch
from genops_processor.pricing import Catalog, CatalogSource
from genops_processor.storage.schema import spans_without_primary_key
from tests.helpers import ROUND_CATALOG
from tests.processor.test_run_cache import batch, beat

# The spans table as ledgers before this change created it.
KEYED_SPANS = """CREATE TABLE spans (
    trace_id VARCHAR NOT NULL, span_id VARCHAR NOT NULL, kind VARCHAR NOT NULL,
    name VARCHAR NOT NULL, run_key VARCHAR NOT NULL, start_ns BIGINT, end_ns BIGINT,
    attributes VARCHAR, received_at TIMESTAMPTZ DEFAULT current_timestamp,
    PRIMARY KEY (trace_id, span_id))"""
CATALOGS = CatalogSource(Catalog.load(ROUND_CATALOG))


def _constraints(conn) -> list[tuple]:
    return conn.execute(
        "SELECT constraint_type, constraint_column_names FROM duckdb_constraints() "
        "WHERE table_name = 'spans' ORDER BY ALL"
    ).fetchall()


def _spans(storage) -> list[tuple]:
    return storage.call(
        lambda conn: conn.execute(
            "SELECT trace_id, span_id, kind, end_ns FROM spans ORDER BY ALL"
        ).fetchall()
    )


def test_a_new_ledger_keeps_spans_without_a_key_and_each_span_once(tmp_path):
    with store.Storage(tmp_path / "ledger.duckdb") as storage:
        kinds = [c[0] for c in storage.call(_constraints)]
        assert "PRIMARY KEY" not in kinds
        assert kinds.count("NOT NULL") == 5  # the ids, kind, name and run key stay required
        first = storage.call(lambda conn: ingest_batch(conn, batch(beat(1, 10)), CATALOGS))
        again = storage.call(lambda conn: ingest_batch(conn, batch(beat(1, 10)), CATALOGS))
        assert (first.new_spans, first.duplicate_spans) == (1, 0)
        assert (again.new_spans, again.duplicate_spans) == (0, 1)
        assert len(_spans(storage)) == 1


def test_copies_of_one_request_sent_at_once_store_each_span_once(tmp_path):
    # hostile: a client resends the same request many times without waiting
    with store.Storage(tmp_path / "ledger.duckdb") as storage:
        queue = IngestQueue(storage, lambda: CATALOGS)
        request = batch(*(beat(run, 30) for run in range(1, 21)))
        futures = [queue.submit(request) for _ in range(12)]
        results = [f.result(timeout=60) for f in concurrent.futures.as_completed(futures)]
        assert sum(r.new_spans for r in results) == 20
        assert sum(r.duplicate_spans for r in results) == 20 * 11
        stored = _spans(storage)
        assert len(stored) == len(set((t, s) for t, s, *_ in stored)) == 20


def test_a_reused_span_id_with_other_content_is_rejected_not_stored_twice(tmp_path):
    # hostile: the same ids, another body, in one request and in a later one
    with store.Storage(tmp_path / "ledger.duckdb") as storage:
        original = beat(2, 10)
        forged = replace(original, span=replace(original.span, end_ns=original.span.end_ns + 1))
        result = storage.call(lambda conn: ingest_batch(conn, batch(original, forged), CATALOGS))
        later = storage.call(lambda conn: ingest_batch(conn, batch(forged), CATALOGS))
        assert result.new_spans == 1 and len(result.rejected) == 1
        assert later.new_spans == 0 and len(later.rejected) == 1
        assert [row[3] for row in _spans(storage)] == [original.span.end_ns]


def _older_ledger(path, rows: int) -> None:
    conn = duckdb.connect(str(path))
    conn.execute(KEYED_SPANS)
    conn.execute(
        "INSERT INTO spans (trace_id, span_id, kind, name, run_key, start_ns, end_ns, "
        "attributes) SELECT lpad(i::VARCHAR, 32, '0'), lpad(i::VARCHAR, 16, '0'), "
        "'heartbeat', 'genops.heartbeat', 'run-' || i, 1, 2, '{}' FROM range(?) r(i)",
        [rows],
    )
    conn.close()


def test_an_older_ledger_is_rebuilt_without_the_key_keeping_every_span(tmp_path, caplog):
    path = tmp_path / "ledger.duckdb"
    _older_ledger(path, 1_000)
    before = duckdb.connect(str(path))
    kept = before.execute("SELECT * FROM spans ORDER BY ALL").fetchall()
    assert ("PRIMARY KEY", ["trace_id", "span_id"]) in _constraints(before)
    before.close()
    caplog.set_level(logging.INFO, logger="genops_processor.storage.schema")
    with store.Storage(path) as storage:
        assert (
            storage.call(lambda conn: conn.execute("SELECT * FROM spans ORDER BY ALL").fetchall())
            == kept
        )
        assert "PRIMARY KEY" not in [c[0] for c in storage.call(_constraints)]
        # a span stored before the change is still recognised as a duplicate
        resent = beat(7, 1)
        resent = replace(
            resent, span=replace(resent.span, trace_id="0" * 31 + "7", span_id="0" * 15 + "7")
        )
        result = storage.call(lambda conn: ingest_batch(conn, batch(resent), CATALOGS))
        assert result.new_spans == 0
    # said before the long copy starts, with its size
    assert "rebuilding the spans table without its primary key (1,000 rows, once)" in caplog.text
    with store.Storage(path) as storage:  # done once: the next open finds nothing to do
        assert storage.call(spans_without_primary_key) is None
        assert len(_spans(storage)) == 1_000


def test_a_rebuild_that_fails_leaves_the_keyed_table_whole(tmp_path):
    path = tmp_path / "ledger.duckdb"
    _older_ledger(path, 50)
    conn = duckdb.connect(str(path))
    conn.execute("CREATE TABLE spans_rebuilt (x INTEGER)")  # in the way: CREATE fails
    with pytest.raises(duckdb.CatalogException):
        spans_without_primary_key(conn)
    assert conn.execute("SELECT count(*) FROM spans").fetchall() == [(50,)]
    assert ("PRIMARY KEY", ["trace_id", "span_id"]) in _constraints(conn)
    conn.close()

"""Stored spans found by their one-column keys (storage/span_keys.py): raw and compacted
ones, in one join on a small ledger and in chunks on a large one, the same either way;
ids that collide when concatenated, or are not hex, never match another span's; a ledger
written before the keys gets them on open. Real DuckDB files in a temporary directory;
the processor's own ingest, compaction and migration."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from genops_processor import storage as store
from genops_processor.storage import span_keys
from genops_processor.storage.key_lookup import KEY_CHUNK
from tests.processor.test_compaction import heartbeats, ingest, ledger, ledger_state  # noqa: F401


def _as_if_large(monkeypatch, large: bool = True) -> None:
    """Look ids up as on a ledger past CHUNKED_FROM_ROWS spans (or below it)."""
    monkeypatch.setattr(span_keys, "CHUNKED_FROM_ROWS", 0 if large else 10**12)
    monkeypatch.setattr(span_keys, "_sizes", type(span_keys._sizes)())  # read again


def _compact_all(storage) -> int:
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    return storage.call(lambda conn: store.compact_step(conn, future))


class _Counting:
    """The writer's connection, counting the lookups' statements."""

    def __init__(self, conn) -> None:
        self.conn, self.lookups = conn, 0

    def execute(self, sql, *params):
        self.lookups += "span_ids c" in sql
        return self.conn.execute(sql, *params)

    def __getattr__(self, name):
        return getattr(self.conn, name)


def test_raw_and_compacted_spans_are_found_alike_in_one_join_and_in_chunks(
    ledger,  # noqa: F811
    monkeypatch,
):
    storage, catalogs = ledger
    compacted = heartbeats("run-old", 40)  # 41 spans, compacted below
    raw = heartbeats("run-new", 30)  # 31 spans, left raw
    ingest(storage, catalogs, compacted)
    assert _compact_all(storage) == 41
    ingest(storage, catalogs, raw)
    unknown = [("f" * 32, f"{i:016x}") for i in range(5)]
    asked = [(e.span.trace_id, e.span.span_id) for e in compacted + raw] + unknown

    def look(conn):
        counting = _Counting(conn)
        return span_keys.stored_spans(counting, asked), counting.lookups

    _as_if_large(monkeypatch, False)
    (one_raw, one_compacted), one_statements = storage.call(look)
    _as_if_large(monkeypatch)
    (chunk_raw, chunk_compacted), chunk_statements = storage.call(look)

    assert one_statements == 1
    assert chunk_statements == -(-len(asked) // KEY_CHUNK) > 1
    assert (
        one_compacted == chunk_compacted == {(e.span.trace_id, e.span.span_id) for e in compacted}
    )
    assert set(one_raw) == set(chunk_raw) == {(e.span.trace_id, e.span.span_id) for e in raw}
    assert one_raw == chunk_raw
    first = raw[0].span
    assert one_raw[(first.trace_id, first.span_id)] == (
        first.kind,
        first.name,
        first.run_key,
        first.start_ns,
        first.end_ns,
        first.attributes_json,
    )


def test_a_large_ledger_recognises_every_span_sent_again(ledger, monkeypatch):  # noqa: F811
    storage, catalogs = ledger
    _as_if_large(monkeypatch)
    events = heartbeats("run-a", 50) + heartbeats("run-b", 20)
    assert ingest(storage, catalogs, events).new_spans == 72
    before = ledger_state(storage)
    assert _compact_all(storage) == 72
    ingest(storage, catalogs, heartbeats("run-c", 45))
    again = ingest(storage, catalogs, events + heartbeats("run-c", 45))
    assert (again.new_spans, again.duplicate_spans) == (0, 72 + 46)
    assert ledger_state(storage)[0][:2] == before[0]


@pytest.mark.parametrize("large", [True, False])
def test_ids_that_collide_when_joined_or_are_not_hex_match_only_themselves(
    ledger,  # noqa: F811
    monkeypatch,
    large,
):
    storage, catalogs = ledger
    _as_if_large(monkeypatch, large)
    ingest(storage, catalogs, heartbeats("run-x", 0, trace="ab"))  # span id 0000000000000001
    ingest(storage, catalogs, heartbeats("run-y", 0, trace="odd-not-hex"))
    assert _compact_all(storage) == 2
    ingest(storage, catalogs, heartbeats("run-z", 0, trace="abc"))  # raw, odd-length hex
    # the same concatenation as stored ids, other pairs
    asked = [
        ("a", "b0000000000000001"),
        ("a", "bc0000000000000001"),  # the raw one's key, another pair
        ("ab0", "000000000000001"),
        ("", "ab0000000000000001"),
        ("ab", "0000000000000001"),  # stored (compacted)
        ("odd-not-hex", "0000000000000001"),  # stored (compacted, its text's bytes)
        ("abc", "0000000000000001"),  # stored (raw)
        ("0abc", "0000000000000001"),  # the same bytes as "abc" once compacted, not stored
    ]
    raw, compacted = storage.call(lambda conn: span_keys.stored_spans(conn, asked))
    assert compacted == {("ab", "0000000000000001"), ("odd-not-hex", "0000000000000001")}
    assert set(raw) == {("abc", "0000000000000001")}


@pytest.mark.parametrize("text", ["00ff", "ABcd", "abc", "", "not hex", "a b", "é", "0x1f"])
def test_id_bytes_in_python_are_the_ledgers_own(text):
    conn = duckdb.connect()
    [(in_sql,)] = conn.execute(
        f"SELECT {span_keys.id_bytes('t')} FROM (SELECT ?::VARCHAR AS t)", [text]
    ).fetchall()
    assert span_keys.id_bytes_of(text) == bytes(in_sql)


def test_a_ledger_written_before_the_keys_gets_them_on_open(tmp_path, ledger):  # noqa: F811
    storage, catalogs = ledger
    events = heartbeats("run-a", 4)
    ingest(storage, catalogs, events[:3])
    assert _compact_all(storage) == 3
    ingest(storage, catalogs, events[3:])
    storage.close()
    path = storage.path
    old = duckdb.connect(str(path))  # as an older processor left it: no keys, no indexes
    for table in ("spans", "span_ids"):
        old.execute(f"DROP INDEX {table}_span_key")
        old.execute(f"ALTER TABLE {table} DROP COLUMN span_key")
    old.close()

    reopened = store.Storage(path).open()
    try:
        keys = reopened.call(
            lambda conn: conn.execute(
                "SELECT (SELECT count(*) FROM spans WHERE span_key = trace_id || span_id), "
                "(SELECT count(*) FROM span_ids WHERE span_key = trace_id || span_id), "
                "(SELECT count(*) FROM duckdb_indexes() WHERE index_name LIKE '%span_key')"
            ).fetchall()
        )
        assert keys == [(2, 3, 2)]
        again = ingest(reopened, catalogs, events)
        assert (again.new_spans, again.duplicate_spans) == (0, 5)
    finally:
        reopened.close()

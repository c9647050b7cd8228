"""Stored spans found by their ids, at any size of the ledger.

Ingest treats a span whose (trace id, span id) is in ``spans`` (raw content) or
``span_ids`` (compacted ids) as already stored. DuckDB here (2.0.1) answers a join on the
composite primary key by scanning the table (3 M spans and 3 M compacted ids: ~180 ms
for one batch), so each table also has a one-column key with an index: ``span_key``,
the trace id's text followed by the span id's in ``spans``, the bytes of both in
``span_ids``. DuckDB reads that index for a list of up to ~48 keys and scans for a
longer one, so on a large ledger the ids are looked up ``KEY_CHUNK`` at a time: 256
ids against 3 M + 3 M rows, 176 ms by the one join → 58 ms (1 M + 1 M: 62 → 65 ms; the
join grows with the ledger, the chunks do not). Below ``CHUNKED_FROM_ROWS`` the one
join on the primary keys' columns is cheaper (1 k + 1 k rows: 6 ms, chunks 36 ms) and
stays. A row is taken for the ids it holds itself.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from genops_processor.storage.columnwise import text_array
from genops_processor.storage.key_lookup import KEY_CHUNK

# Rows in spans + span_ids from which ids are looked up in chunks (DuckDB's estimate).
CHUNKED_FROM_ROWS = 2_000_000

# The ``span_key`` of a row, in SQL over its own columns (migration, compaction).
SPANS_KEY_SQL = "trace_id || span_id"


def id_bytes(column: str) -> str:
    """SQL for an id's compact form: the bytes of its hex text (ids from OTLP always are
    hex), else the text's own bytes."""
    return f"COALESCE(TRY(from_hex({column})), encode({column}))"


def span_ids_key_sql(trace_id: str, span_id: str) -> str:
    """SQL for the ``span_key`` of a compacted id pair, from the text ids' columns."""
    return f"{id_bytes(trace_id)} || {id_bytes(span_id)}"


_HEX = re.compile(r"[0-9a-fA-F]*")


def id_bytes_of(text: str) -> bytes:
    """:func:`id_bytes` in Python, as DuckDB computes it (odd hex: a leading 0)."""
    if _HEX.fullmatch(text):
        return bytes.fromhex(text if len(text) % 2 == 0 else "0" + text)
    return text.encode()


_RAW = "s.trace_id, s.span_id, s.kind, s.name, s.run_key, s.start_ns, s.end_ns, s.attributes"
_NONE = "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
# kind is NOT NULL in spans: a row with none is a compacted pair (its ids as bytes).
# A small ledger: one join on the primary keys' columns (cheapest there).
_JOINED = (
    f"SELECT {_RAW}, NULL::BLOB, NULL::BLOB FROM looked_up_ids i JOIN spans s "
    "ON s.trace_id = i.trace_id AND s.span_id = i.span_id "
    f"UNION ALL SELECT {_NONE}, c.trace_id, c.span_id FROM looked_up_ids i JOIN span_ids c "
    f"ON c.trace_id = {id_bytes('i.trace_id')} AND c.span_id = {id_bytes('i.span_id')}"
)
# A large one: a chunk of ids by the one-column keys' indexes.
_BY_KEY = (
    f"SELECT {_RAW}, NULL::BLOB, NULL::BLOB FROM spans s "
    "WHERE s.span_key IN (SELECT unnest($1::VARCHAR[])) "
    f"UNION ALL SELECT {_NONE}, c.trace_id, c.span_id FROM span_ids c "
    "WHERE c.span_key IN (SELECT unnest($2::BLOB[]))"
)
# How many lookups go by before the ledger's size is read again.
_SIZE_READ_EVERY = 64
_sizes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def stored_spans(
    conn: Any, ids: Sequence[tuple[str, str]]
) -> tuple[dict[tuple[str, str], tuple], set[tuple[str, str]]]:
    """Of these (trace id, span id) pairs: the content of those in ``spans`` (kind, name,
    run key, start, end, attributes), and those in ``span_ids``."""
    ids = list(dict.fromkeys(ids))
    raw: dict[tuple[str, str], tuple] = {}
    compacted: set[tuple[str, str]] = set()
    if not ids:
        return raw, compacted
    wanted = set(ids)
    by_bytes = {(id_bytes_of(t), id_bytes_of(s)): (t, s) for t, s in ids}
    if _large(conn):
        rows = []
        for start in range(0, len(ids), KEY_CHUNK):
            chunk = ids[start : start + KEY_CHUNK]
            keys = [t + s for t, s in chunk]
            id_keys = [id_bytes_of(t) + id_bytes_of(s) for t, s in chunk]
            rows += conn.execute(_BY_KEY, [keys, id_keys]).fetchall()
    else:
        conn.register("looked_up_ids", _ids_table(ids))
        try:
            rows = conn.execute(_JOINED).fetchall()
        finally:
            conn.unregister("looked_up_ids")
    for row in rows:
        if row[2] is None:
            pair = by_bytes.get((bytes(row[8]), bytes(row[9])))
            if pair is not None:
                compacted.add(pair)
        elif (row[0], row[1]) in wanted:
            raw.setdefault((row[0], row[1]), tuple(row[2:8]))
    return raw, compacted


def _large(conn: Any) -> bool:
    """Does the ledger hold CHUNKED_FROM_ROWS spans, raw and compacted (DuckDB's
    estimate, read again every _SIZE_READ_EVERY lookups)?"""
    key = getattr(conn, "conn", conn)  # the writer's Connection wraps DuckDB's
    left, large = _sizes.get(key, (0, False))
    if left <= 0:
        [(rows,)] = conn.execute(
            "SELECT COALESCE(sum(estimated_size), 0) FROM duckdb_tables() "
            "WHERE table_name IN ('spans', 'span_ids') AND NOT temporary"
        ).fetchall()
        left, large = _SIZE_READ_EVERY, rows >= CHUNKED_FROM_ROWS
    _sizes[key] = (left - 1, large)
    return large


def _ids_table(ids: Sequence[tuple[str, str]]) -> pa.Table:
    return pa.table(
        {
            "trace_id": text_array([t for t, _ in ids]),
            "span_id": text_array([s for _, s in ids]),
        }
    )

"""Rows by primary key in chunks the key's index answers (storage/key_lookup.py): the
same rows as one statement would give, for any number of keys, odd ones included.
Real DuckDB file in a temporary directory."""

from __future__ import annotations

import duckdb

from genops_processor.storage.key_lookup import KEY_CHUNK, rows_by_key


class _Counting:
    def __init__(self, conn) -> None:
        self.conn, self.lists = conn, []

    def execute(self, sql, params):
        self.lists.append(len(params[0]))
        return self.conn.execute(sql, params)


def test_many_keys_are_looked_up_in_chunks_and_find_the_same_rows(tmp_path):
    conn = duckdb.connect(str(tmp_path / "keys.duckdb"))
    conn.execute("CREATE TABLE t (k VARCHAR PRIMARY KEY, v BIGINT)")
    conn.execute("INSERT INTO t SELECT 'k' || i::VARCHAR, i FROM range(1000) r(i)")
    wanted = [f"k{i}" for i in range(0, 1000, 7)] + ["missing", "k'); DROP TABLE t; --", ""]
    counting = _Counting(conn)
    found = rows_by_key(counting, "SELECT k, v FROM t", "k", wanted)
    whole = conn.execute("SELECT k, v FROM t WHERE k IN (SELECT unnest(?))", [wanted]).fetchall()
    assert sorted(found) == sorted(whole) and len(found) == len(range(0, 1000, 7))
    assert max(counting.lists) == KEY_CHUNK and sum(counting.lists) == len(wanted)
    assert rows_by_key(counting, "SELECT k, v FROM t", "k", []) == []
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (1000,)

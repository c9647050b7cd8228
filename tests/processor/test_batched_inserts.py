"""Rows appended inside a transaction go to the ledger as one column-wise statement per
insert (storage.writer.Connection.append): what is stored equals what one ``INSERT ...
VALUES`` per row stores, for every value kind the appenders use (text, NULL, integers at
the int64 edges, time stamps, literals in the row template); a value the column cannot
take fails the transaction as a data error. Real DuckDB file, no gRPC."""

from __future__ import annotations

import datetime as dt

import pytest

from genops_processor.storage import Storage, columnwise, is_data_error

INSERT = "INSERT INTO holds (hold_id, decision_id, team, amount_micros, status, created_ns, parent_hold_id, principal) VALUES "  # noqa: E501
ROW = "(?, ?, ?, ?, 'open', ?, ?, ?)"
ROWS = [
    ["h1", "d1", "ml", 0, 1, None, "alice"],
    ["h2", None, "", 2**63 - 1, -(2**63), "h1", None],
    ["h3", "d3", "tëam ✓", -(2**63), 0, None, None],
]
MANY = [[f"h{i:03d}", *row[1:]] for i, row in enumerate(ROWS * 14)]  # 42 rows
SELECT = (
    "SELECT hold_id, decision_id, team, amount_micros, status, created_ns, parent_hold_id, "
    "principal FROM holds ORDER BY hold_id"
)


@pytest.fixture
def storage(tmp_path):
    storage = Storage(tmp_path / "ledger.duckdb").open()
    yield storage
    storage.close()


def _stored(storage: Storage, job) -> list[tuple]:
    def run(conn):
        conn.begin()
        job(conn)
        conn.commit()
        return conn.execute(SELECT).fetchall()

    return storage.call(run)


def _one_by_one(tmp_path, rows) -> list[tuple]:
    """What one ``INSERT ... VALUES`` per row stores, in another ledger."""
    other = Storage(tmp_path / "other.duckdb").open()
    try:
        return _stored(other, lambda conn: [conn.execute(INSERT + ROW, r) for r in rows])
    finally:
        other.close()


def test_appended_rows_equal_rows_inserted_one_by_one(storage, tmp_path):
    batched = _stored(storage, lambda conn: [conn.append(INSERT, ROW, r) for r in ROWS])
    assert batched == _one_by_one(tmp_path, ROWS)
    assert [row[0] for row in batched] == ["h1", "h2", "h3"]
    assert batched[1][3:6] == (2**63 - 1, "open", -(2**63))


@pytest.mark.parametrize("count", [3, 40], ids=["lists", "arrow"])
def test_time_stamps_in_any_zone_and_null_columns_are_stored(storage, count):
    """``actor`` NULL in every row, ``detail`` in every other one."""
    insert = "INSERT INTO audit_events (event_id, occurred_at, kind, actor, detail, seq) VALUES "
    zone = dt.timezone(dt.timedelta(hours=-5, minutes=-30))
    at = [dt.datetime(2026, 12, 4, 9, 30, i, 123456, tzinfo=zone) for i in range(count)]

    def job(conn):
        conn.begin()
        for i in range(count):
            conn.append(
                insert, "(?, ?, ?, ?, ?, ?)", [f"e{i:02d}", at[i], "k", None, _detail(i), i]
            )
        conn.commit()
        return conn.execute(
            "SELECT event_id, occurred_at, actor, detail, seq FROM audit_events ORDER BY seq"
        ).fetchall()

    rows = storage.call(job)
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows] == [
        (f"e{i:02d}", at[i], None, _detail(i), i) for i in range(count)
    ]


@pytest.mark.parametrize("before", [ROWS[:1], MANY], ids=["lists", "arrow"])
def test_a_value_the_column_cannot_take_fails_the_transaction_as_a_data_error(storage, before):
    def job(conn):
        conn.begin()
        for row in before:
            conn.append(INSERT, ROW, row)
        conn.append(INSERT, ROW, ["h9", "d9", "ml", 2**63, 0, None, None])  # past BIGINT
        try:
            conn.commit()
        except Exception as error:  # noqa: BLE001 - the error is the result
            return error, conn.execute("SELECT count(*) FROM holds").fetchone()[0]
        return None, None

    error, count = storage.call(job)
    assert error is not None and is_data_error(error), error
    assert count == 0


def test_a_template_that_is_not_insert_values_is_refused(storage):
    def job(conn):
        conn.begin()
        conn.append("INSERT INTO holds SELECT ", "(?)", ["x"])
        try:
            conn.commit()
        except ValueError as error:
            return str(error)
        return ""

    assert "not an INSERT ... VALUES" in storage.call(job)


# -- many rows: one Arrow table per template, typed from the ledger's columns ----------


def test_many_rows_go_as_an_arrow_table_typed_from_the_ledger(storage):
    assert len(MANY) >= columnwise.ARROW_MIN_ROWS
    plan = storage.call(lambda conn: columnwise._arrow_plan(conn, (INSERT, ROW), {}))
    assert plan is not None
    assert [str(t) for t in plan[1]] == ["string", "string", "string", "int64", "int64"] + [
        "string",
        "string",
    ]
    # a HUGEINT column has no Arrow counterpart: that template stays with lists
    backups = ("INSERT INTO backups (backup_id, cost_micros) VALUES ", "(?, ?)")
    assert storage.call(lambda conn: columnwise._arrow_plan(conn, backups, {})) is None


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param(MANY, id="arrow"),
        # one value Arrow refuses for BIGINT ('7'): the template goes the list way, where
        # DuckDB casts it as it does for one row
        pytest.param([*MANY, ["h999", "d", "ml", "7", 1, None, None]], id="fallback"),
    ],
)
def test_many_appended_rows_equal_rows_inserted_one_by_one(storage, tmp_path, rows):
    def appended(conn):
        conn.execute("SELECT 1")  # a statement: the rows go to DuckDB at the commit
        for row in rows:
            conn.append(INSERT, ROW, row)

    batched = _stored(storage, appended)
    assert batched == _one_by_one(tmp_path, rows)
    assert len(batched) == len(rows)


def _detail(i: int) -> str | None:
    return f'{{"n": {i}}}' if i % 2 else None


def test_each_ledger_inserts_with_its_own_column_types(tmp_path):
    """Hostile to a shared plan: the same template on two ledgers whose table differs
    (VARCHAR on one, BLOB on the other). Bytes that read as text with an escape in them
    stay the bytes they are on the BLOB one; a plan typed from the VARCHAR one would send
    them as text, which DuckDB's cast to BLOB reads as escapes (``\\x41`` -> ``A``)."""
    value = b"a\\x41b"  # 6 bytes, valid UTF-8
    stored = {}
    for kind in ("VARCHAR", "BLOB"):
        with Storage(tmp_path / f"{kind}.duckdb") as storage:

            def job(conn, kind=kind):
                conn.execute(f"CREATE TABLE t (v {kind})")
                conn.begin()
                conn.execute("SELECT 1").fetchall()  # the rows go to DuckDB at the commit
                for _ in range(40):
                    conn.append(
                        "INSERT INTO t VALUES ",
                        "(?)",
                        [value.decode() if kind == "VARCHAR" else value],
                    )
                conn.commit()
                return {r[0] for r in conn.execute("SELECT v FROM t").fetchall()}

            stored[kind] = storage.call(job)
    assert stored == {"VARCHAR": {value.decode()}, "BLOB": {value}}

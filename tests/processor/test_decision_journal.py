"""The decision journal (storage/journal.py): a transaction that only appended rows is
committed by one fdatasync'd write beside the ledger, its rows reach the DuckDB file
before any statement that may read their table (inside an open transaction as part of
it, leaving the journal only once it commits) and when the ledger closes; statements of
other tables (ingest's) leave them gathering, and a process that dies at
any point loses no acknowledged row and applies none twice. Real DuckDB files; the
crashes are real processes ending with ``os._exit`` (no close, no checkpoint)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from genops_processor.storage import Priority, Storage, StorageError
from genops_processor.storage.backup import RestoreError, restore
from genops_processor.storage.journal import journal_path, read_entries

INSERT = "INSERT INTO t VALUES "
ROW = "(?, ?, ?)"


def appending(i: int):
    """A decision-like job: rows appended, no statement."""

    def job(conn) -> int:
        conn.append(INSERT, ROW, [i, f"row {i}", None])
        conn.append(INSERT, ROW, [-i, "its twin", b"\x00\xff"])
        return i

    return job


def count(storage: Storage) -> int:
    return storage.call(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0])


def committed_in_duckdb(storage: Storage) -> int:
    """What the DuckDB file holds, read beside the writer (journaled rows not applied
    yet are not in it)."""
    return storage.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0])


def test_appended_rows_commit_to_the_journal_and_every_statement_sees_them(tmp_path):
    db = tmp_path / "ledger.duckdb"
    with Storage(db) as storage:
        storage.call(lambda c: c.execute("CREATE TABLE t (i BIGINT, s VARCHAR, b BLOB)"))
        futures = [storage.submit(appending(i), Priority.DECISION, group=True) for i in range(5)]
        assert [f.result() for f in futures] == list(range(5))
        assert journal_path(db).stat().st_size > 0
        assert committed_in_duckdb(storage) == 0  # in the journal only
        assert count(storage) == 10  # a statement on the writer applies them first
        assert committed_in_duckdb(storage) == 10
        assert journal_path(db).stat().st_size == 0
        rows = storage.call(lambda c: c.execute("SELECT * FROM t ORDER BY i").fetchall())
    assert rows[0] == (-4, "its twin", b"\x00\xff") and rows[-1] == (4, "row 4", None)
    assert not journal_path(db).exists()  # applied and removed at close


def test_journaled_rows_are_applied_when_the_writer_is_idle(tmp_path, monkeypatch):
    from genops_processor.storage import writer

    monkeypatch.setattr(writer, "JOURNAL_APPLY_DELAY_S", 0.05)
    db = tmp_path / "ledger.duckdb"
    with Storage(db) as storage:
        storage.call(lambda c: c.execute("CREATE TABLE t (i BIGINT, s VARCHAR, b BLOB)"))
        storage.submit(appending(1), Priority.DECISION, group=True).result()
        for _ in range(200):  # no job follows: the writer applies them by itself
            if committed_in_duckdb(storage) == 2:
                break
            time.sleep(0.05)
        assert committed_in_duckdb(storage) == 2


def test_the_journal_is_applied_at_its_row_cap_while_decisions_keep_coming(tmp_path, monkeypatch):
    from genops_processor.storage import writer

    monkeypatch.setattr(writer, "JOURNAL_APPLY_ROWS", 10)
    with Storage(tmp_path / "ledger.duckdb") as storage:
        storage.call(lambda c: c.execute("CREATE TABLE t (i BIGINT, s VARCHAR, b BLOB)"))
        started, go = threading.Event(), threading.Event()

        def blocker(conn) -> None:
            started.set()
            go.wait()

        storage.submit(blocker, Priority.DECISION)
        started.wait()  # the decisions below queue together: the queue is never empty
        first = [storage.submit(appending(i), Priority.DECISION, group=True) for i in range(100)]
        probe = storage.submit(lambda conn: conn._journal.pending_rows, Priority.DECISION)
        rest = [storage.submit(appending(i), Priority.DECISION, group=True) for i in range(100)]
        go.set()
        for future in first + rest:
            future.result()
        assert probe.result() < 10  # 200 rows were journaled before it: applied on the way
        assert count(storage) == 400


CRASH = textwrap.dedent(
    """
    import os, sys
    from genops_processor.storage import Priority, Storage

    def job(i):
        def run(conn):
            conn.append("INSERT INTO t VALUES ", "(?, ?, ?)", [i, f"row {i}", None])
            return i
        return run

    storage = Storage(sys.argv[1]).open()
    storage.call(lambda c: c.execute("CREATE TABLE IF NOT EXISTS t (i BIGINT, s VARCHAR, b BLOB)"))
    for i in range(int(sys.argv[2])):
        storage.submit(job(i), Priority.DECISION, group=True).result()
    print("acknowledged", flush=True)
    os._exit(0)  # dies: no apply, no close, no checkpoint
    """
)


def crash_after(db, decisions: int) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CRASH, str(db), str(decisions)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "acknowledged" in done.stdout, done.stderr


def test_acknowledged_rows_survive_a_crash_and_are_applied_once(tmp_path):
    db = tmp_path / "ledger.duckdb"
    crash_after(db, 30)
    assert len(read_entries(journal_path(db))) == 30
    saved = tmp_path / "journal.copy"
    shutil.copyfile(journal_path(db), saved)
    with Storage(db) as storage:
        assert committed_in_duckdb(storage) == 30  # applied on open
    # a crash after the rows were applied but before the file was emptied: the journal
    # comes back whole; its entries are at or before the ledger's position
    shutil.copyfile(saved, journal_path(db))
    with Storage(db) as storage:
        assert count(storage) == 30
        assert sorted(
            r[0] for r in storage.call(lambda c: c.execute("SELECT i FROM t").fetchall())
        ) == list(range(30))


def test_a_torn_last_record_is_dropped_and_the_whole_ones_applied(tmp_path):
    db = tmp_path / "ledger.duckdb"
    crash_after(db, 3)
    whole = journal_path(db).read_bytes()
    journal_path(db).write_bytes(whole + whole[: len(whole) // 3 // 2])  # half a record more
    with Storage(db) as storage:
        assert count(storage) == 3
    # a corrupt record (bit flipped) ends the journal too: nothing after it was answered
    crash_after(db, 2)  # rows 0 and 1 again, journaled past the ledger's position
    data = bytearray(journal_path(db).read_bytes())
    data[-1] ^= 0xFF
    journal_path(db).write_bytes(bytes(data))
    with Storage(db) as storage:
        assert count(storage) == 4  # the first of the two; the corrupt second dropped


def test_a_ledger_opened_to_read_after_a_crash_shows_the_journaled_rows(tmp_path):
    db = tmp_path / "ledger.duckdb"
    crash_after(db, 4)
    with Storage(db, read_only=True) as storage:
        assert count(storage) == 4
    assert journal_path(db).stat().st_size == 0


def test_a_journal_that_cannot_be_written_fails_the_decision_and_keeps_nothing(tmp_path):
    # the journal's descriptor is swapped for a read-only one: the write fails (EBADF), as
    # a full or failing disk fails it (a real full disk: tests/e2e/test_cli_errors.py)
    db = tmp_path / "ledger.duckdb"
    with Storage(db) as storage:
        storage.call(lambda c: c.execute("CREATE TABLE t (i BIGINT, s VARCHAR, b BLOB)"))
        conn = storage.call(lambda c: c)
        journal = conn._journal
        undone = []

        def undoable(conn) -> None:
            conn.on_rollback(lambda: undone.append(1))
            appending(7)(conn)

        good_fd, journal._fd = journal._fd, os.open(journal.path, os.O_RDONLY)
        try:
            with pytest.raises(StorageError, match="decision journal"):
                storage.submit(undoable, Priority.DECISION, group=True).result()
        finally:
            os.close(journal._fd)
            journal._fd = good_fd
        assert undone == [1]  # memory beside the ledger put back
        assert journal.pending_rows == 0 and count(storage) == 0
        storage.submit(appending(8), Priority.DECISION, group=True).result()
        assert count(storage) == 2


def test_a_transaction_that_runs_a_statement_commits_in_duckdb_not_the_journal(tmp_path):
    db = tmp_path / "ledger.duckdb"
    with Storage(db) as storage:
        storage.call(lambda c: c.execute("CREATE TABLE t (i BIGINT, s VARCHAR, b BLOB)"))

        def reads_then_appends(conn) -> int:
            seen = conn.execute("SELECT count(*) FROM t").fetchone()[0]
            appending(1)(conn)
            return seen

        storage.submit(reads_then_appends, Priority.DECISION, group=True).result()
        assert committed_in_duckdb(storage) == 2
        assert not read_entries(journal_path(db))


def test_restore_refuses_a_target_with_a_journal(tmp_path):
    backup = tmp_path / "backup.duckdb"
    with Storage(backup):
        pass
    target = tmp_path / "restored.duckdb"
    journal_path(target).write_bytes(b"")
    with pytest.raises(RestoreError, match="journal"):
        restore(backup, target)


def test_a_value_the_column_cannot_take_fails_at_commit_not_later(tmp_path):
    db = tmp_path / "ledger.duckdb"
    with Storage(db) as storage:
        storage.call(lambda c: c.execute("CREATE TABLE t (i BIGINT NOT NULL, s VARCHAR, b BLOB)"))
        for bad, why in [([2**63, "x", None], "out of range"), ([None, "x", None], "NULL"),
                         (["1", "x", None], "integer"), ([1, 5, None], "VARCHAR")]:  # fmt: skip

            def job(conn, bad=bad) -> None:
                conn.append(INSERT, ROW, bad)

            with pytest.raises(ValueError, match=why):
                storage.submit(job, Priority.DECISION, group=True).result()
        assert not read_entries(journal_path(db)) and count(storage) == 0


def test_rows_the_ledger_refuses_later_are_kept_aside_and_never_wedge_the_journal(tmp_path):
    # a constraint the write-time check does not know (a duplicate key across two
    # transactions): the batch fails, each transaction is applied alone, the refused
    # one is kept whole in journal_unapplied, and the writer goes on
    db = tmp_path / "ledger.duckdb"
    with Storage(db) as storage:
        storage.call(lambda c: c.execute("CREATE TABLE k (i BIGINT PRIMARY KEY, s VARCHAR)"))

        def keyed(i: int, s: str):
            def job(conn) -> None:
                conn.append("INSERT INTO k VALUES ", "(?, ?)", [i, s])

            return job

        for i, s in [(1, "first"), (1, "duplicate"), (2, "after")]:
            storage.submit(keyed(i, s), Priority.DECISION, group=True).result()
        kept = storage.call(lambda c: c.execute("SELECT i, s FROM k ORDER BY i").fetchall())
        aside = storage.call(
            lambda c: c.execute("SELECT seq, error, entry FROM journal_unapplied").fetchall()
        )
        storage.submit(keyed(3, "still works"), Priority.DECISION, group=True).result()
        assert count_k(storage) == 3
    assert kept == [(1, "first"), (2, "after")]
    [(seq, error, entry)] = aside
    assert seq == 2 and "duplicate" in entry and "constraint" in error.lower()


def count_k(storage: Storage) -> int:
    return storage.call(lambda c: c.execute("SELECT count(*) FROM k").fetchone()[0])


def pending(storage: Storage) -> int:
    return storage.call(lambda c: c._journal.pending_rows)


def test_statements_of_other_tables_leave_journaled_rows_gathering(tmp_path):
    db = tmp_path / "ledger.duckdb"
    with Storage(db) as storage:
        storage.call(lambda c: c.execute("CREATE TABLE t (i BIGINT, s VARCHAR, b BLOB)"))
        storage.call(lambda c: c.execute("CREATE TABLE other (i BIGINT)"))
        storage.submit(appending(1), Priority.DECISION, group=True).result()
        for sql in (
            "INSERT INTO other VALUES (1)",
            "SELECT count(*) FROM other WHERE i > 0",
            "UPDATE other SET i = 2",
            "SELECT i AS t_i, 'tt' AS tt FROM other",  # t inside other words, not a name
        ):
            storage.call(lambda c, sql=sql: c.execute(sql).fetchall())
            assert pending(storage) == 2, sql
        assert committed_in_duckdb(storage) == 0
        # named, in any case or quoting, or a statement that may read anything: applied
        for sql in ('SELECT count(*) FROM "T"', "SHOW TABLES"):
            storage.submit(appending(2), Priority.DECISION, group=True).result()
            assert pending(storage) >= 2
            storage.call(lambda c, sql=sql: c.execute(sql).fetchall())
            assert pending(storage) == 0, sql
        assert committed_in_duckdb(storage) == 6


@pytest.mark.parametrize("ends", ["commit", "rollback"])
def test_rows_read_inside_a_transaction_leave_the_journal_only_if_it_commits(tmp_path, ends):
    db = tmp_path / "ledger.duckdb"
    with Storage(db) as storage:
        storage.call(lambda c: c.execute("CREATE TABLE t (i BIGINT, s VARCHAR, b BLOB)"))
        storage.call(lambda c: c.execute("CREATE TABLE other (i BIGINT)"))
        storage.submit(appending(7), Priority.DECISION, group=True).result()

        def job(conn):
            conn.begin()
            conn.execute("INSERT INTO other VALUES (1)")  # BEGIN sent, rows still pending
            assert conn._journal.pending_rows == 2
            seen = conn.execute("SELECT i FROM t ORDER BY i").fetchall()
            getattr(conn, ends)()
            return seen, conn._journal.pending_rows

        seen, left = storage.call(job)
        assert seen == [(-7,), (7,)]
        assert left == (0 if ends == "commit" else 2)
        assert committed_in_duckdb(storage) == (2 if ends == "commit" else 0)
        assert count(storage) == 2  # rolled back: applied by the next reader, once
    with Storage(db) as storage:  # and not again on the next open
        assert count(storage) == 2
        assert storage.call(lambda c: c.execute("SELECT count(*) FROM other").fetchone()[0]) == (
            1 if ends == "commit" else 0
        )

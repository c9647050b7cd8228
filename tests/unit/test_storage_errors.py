"""The writer names why a ledger file failed, whatever DuckDB error it surfaced as."""

from __future__ import annotations

import duckdb
import pytest

from genops_processor.storage import Storage, StorageError, storage_cause, transaction

PATH = "/data/genops.duckdb"


def chained(first: BaseException, then: BaseException) -> BaseException:
    try:
        try:
            raise first
        except BaseException:
            raise then  # noqa: B904 - the implicit context is the point
    except BaseException as error:
        return error


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (
            chained(
                duckdb.TransactionException(
                    'Failed to commit: Could not write file "/data/genops.duckdb.wal": '
                    "No space left on device"
                ),
                duckdb.TransactionException("cannot rollback - no transaction is active"),
            ),
            "disk full: cannot write /data/genops.duckdb.wal",
        ),
        (
            duckdb.IOException(
                'Could not set lock on file "/data/genops.duckdb": Conflicting lock is held '
                "in /usr/bin/python3 (PID 4242). See also https://duckdb.org/docs"
            ),
            f"{PATH} is locked by another process (PID 4242)",
        ),
        (
            duckdb.IOException(f'The file "{PATH}" exists, but it is not a valid DuckDB file!'),
            None,
        ),
        (
            duckdb.IOException(
                f'The file "{PATH}" exists, but it is not a valid DuckDB database file!'
            ),
            f"{PATH} is not a DuckDB ledger",
        ),
        (
            duckdb.IOException(f'Cannot open file "{PATH}": Read-only file system'),
            f"read-only file system: cannot write {PATH}",
        ),
        (OSError(13, "Permission denied"), f"permission denied: cannot write {PATH}"),
        (duckdb.ConversionException("Value out of range"), None),
    ],
)
def test_the_cause_is_named(error, cause):
    assert storage_cause(error, PATH) == cause


def test_a_failed_commit_propagates_its_cause_not_the_rollback(tmp_path):
    conn = duckdb.connect(str(tmp_path / "t.duckdb"))
    conn.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
    conn.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(duckdb.ConstraintException):
        with transaction(conn):
            conn.execute("INSERT INTO t VALUES (1)")
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)


def test_a_missing_ledger_is_refused_when_it_must_exist(tmp_path):
    missing = tmp_path / "sub" / "missing.duckdb"
    with pytest.raises(StorageError, match=f"^no ledger at {missing}$"):
        Storage(missing, create=False).open()
    with pytest.raises(StorageError, match="^no ledger at"):
        Storage(missing, read_only=True).open()
    assert not (tmp_path / "sub").exists()


def test_a_directory_is_not_a_ledger(tmp_path):
    with pytest.raises(StorageError, match="is a directory"):
        Storage(tmp_path).open()


def test_an_open_that_fails_removes_what_it_created(tmp_path):
    junk = tmp_path / "junk.duckdb"
    junk.write_text("x" * 5000)
    with pytest.raises(StorageError, match="not a DuckDB ledger"):
        Storage(junk).open()
    assert junk.read_text() == "x" * 5000  # a file that was there is never removed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.duckdb"]

"""--ledger-memory-mb / GENOPS_LEDGER_MEMORY_MB: the most memory the ledger's DuckDB keeps
(its cache of the file's blocks included). Read and checked where it enters, given to
DuckDB by the processor (LEDGER_MEMORY_DEFAULT_MB when unset) and raised to what the
ledger's key indexes need (storage/memory_limit.py); a Storage without a limit (the
command-line tools) leaves DuckDB's own. Real DuckDB files and a real processor started
in-process on 127.0.0.1 (port 0). The tests of the raise make an indexed row count for
more bytes than the real 16, so that a ledger of 200,000 keyed rows needs more than the
128 MiB floor (the real need shows at tens of millions of rows)."""

from __future__ import annotations

import asyncio
import logging

import duckdb
import pytest

from genops_processor.limits import LEDGER_MEMORY_DEFAULT_MB, LEDGER_MEMORY_MIN_MB
from genops_processor.server import start
from genops_processor.settings import ProcessorSettings, SettingsError
from genops_processor.storage import Storage, memory_limit

_LIMIT = "SELECT current_setting('memory_limit')"


def test_the_setting_is_read_from_the_environment_and_the_option_beats_it():
    assert ProcessorSettings.resolve({}).ledger_memory_bytes is None
    env = {"GENOPS_LEDGER_MEMORY_MB": "512"}
    assert ProcessorSettings.resolve(env).ledger_memory_bytes == 512 * 2**20
    assert ProcessorSettings.resolve(env, ledger_memory_mb="256").ledger_memory_bytes == (
        256 * 2**20
    )


@pytest.mark.parametrize(
    "value", ["0", "-256", str(LEDGER_MEMORY_MIN_MB - 1), "lots", "nan", "inf", "1e12"]
)
def test_a_limit_too_small_or_not_a_number_is_refused_naming_where_it_came_from(value):
    with pytest.raises(SettingsError, match="GENOPS_LEDGER_MEMORY_MB") as refused:
        ProcessorSettings.resolve({"GENOPS_LEDGER_MEMORY_MB": value})
    assert repr(value) in str(refused.value)
    with pytest.raises(SettingsError, match="--ledger-memory-mb"):
        ProcessorSettings.resolve({}, ledger_memory_mb=value)


def test_storage_gives_duckdb_the_limit_and_leaves_its_own_when_unset(tmp_path):
    limited = Storage(tmp_path / "limited.duckdb", memory_limit_bytes=200 * 2**20).open()
    own = Storage(tmp_path / "own.duckdb").open()
    try:
        assert limited.call(lambda c: c.execute(_LIMIT).fetchall()) == [("200.0 MiB",)]
        [(default,)] = own.call(lambda c: c.execute(_LIMIT).fetchall())
        assert default != "200.0 MiB"
    finally:
        limited.close()
        own.close()


def test_the_processor_opens_its_ledger_with_the_limit_and_still_stores_a_large_batch(
    tmp_path,
):
    settings = ProcessorSettings(
        db_path=str(tmp_path / "ledger.duckdb"),
        listen="127.0.0.1:0",
        ledger_memory_bytes=LEDGER_MEMORY_MIN_MB * 2**20,
    )

    async def run():
        running = await start(settings)
        try:
            storage = running.storage
            limit = storage.call(lambda c: c.execute(_LIMIT).fetchall())
            # a statement whose data passes the limit: DuckDB evicts and spills, no error
            storage.call(
                lambda c: c.execute(
                    "CREATE TABLE big AS SELECT i, repeat('x', 60) || i::VARCHAR AS s "
                    "FROM range(3000000) r(i)"
                )
            )
            rows = storage.call(lambda c: c.execute("SELECT count(*) FROM big").fetchall())
            return limit, rows
        finally:
            await running.stop()

    limit, rows = asyncio.run(run())
    assert limit == [(f"{LEDGER_MEMORY_MIN_MB}.0 MiB",)]
    assert rows == [(3_000_000,)]


_MIB = 2**20


def _limit_mib(storage) -> float:
    [(text,)] = storage.call(lambda c: c.execute(_LIMIT).fetchall())
    assert text.endswith(" MiB"), text
    return float(text.removesuffix(" MiB"))


def _keyed_ledger(path, rows: int = 200_000) -> None:
    """A ledger file with an extra table of ``rows`` rows under a primary key."""
    conn = duckdb.connect(str(path))
    conn.execute(
        "CREATE TABLE keyed (k BIGINT PRIMARY KEY); "
        f"INSERT INTO keyed SELECT i FROM range({rows}) r(i)"
    )
    conn.close()


def test_the_processor_bounds_duckdb_by_default(tmp_path):
    settings = ProcessorSettings(db_path=str(tmp_path / "ledger.duckdb"), listen="127.0.0.1:0")
    assert settings.ledger_memory_bytes is None

    async def run():
        running = await start(settings)
        try:
            return _limit_mib(running.storage)
        finally:
            await running.stop()

    assert asyncio.run(run()) == LEDGER_MEMORY_DEFAULT_MB


def test_a_limit_too_small_for_the_key_indexes_is_raised_to_their_need(
    tmp_path, monkeypatch, caplog
):
    monkeypatch.setattr(memory_limit, "LEDGER_MEMORY_PER_INDEXED_ROW", 1024)
    _keyed_ledger(tmp_path / "ledger.duckdb")
    storage = Storage(tmp_path / "ledger.duckdb", memory_limit_bytes=128 * _MIB)
    with caplog.at_level(logging.INFO, logger=memory_limit.__name__):
        storage.open()
    try:
        rows = storage.call(memory_limit.indexed_rows)
        assert rows >= 200_000  # the ledger's own tables may hold a few keyed rows too
        need = -(-rows * 1024 // _MIB)
        assert need > 128
        assert _limit_mib(storage) == need
        assert storage.memory_limit.applied == need * _MIB
        assert f"memory limit {need} MiB (asked 128 MiB)" in caplog.text
    finally:
        storage.close()


def test_a_limit_above_the_need_is_left_as_asked(tmp_path, monkeypatch):
    monkeypatch.setattr(memory_limit, "LEDGER_MEMORY_PER_INDEXED_ROW", 1024)
    _keyed_ledger(tmp_path / "ledger.duckdb")
    storage = Storage(tmp_path / "ledger.duckdb", memory_limit_bytes=512 * _MIB).open()
    try:
        assert _limit_mib(storage) == 512
    finally:
        storage.close()


def test_the_limit_follows_the_indexes_as_the_ledger_grows_and_is_never_lowered(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(memory_limit, "LEDGER_MEMORY_PER_INDEXED_ROW", 1024)
    monkeypatch.setattr(memory_limit, "LEDGER_MEMORY_RECHECK_S", 0.0)  # due at every job
    storage = Storage(tmp_path / "ledger.duckdb", memory_limit_bytes=128 * _MIB).open()
    try:
        assert _limit_mib(storage) == 128  # an empty ledger needs little
        storage.call(
            lambda c: c.execute(
                "CREATE TABLE keyed (k BIGINT PRIMARY KEY); "
                "INSERT INTO keyed SELECT i FROM range(200000) r(i)"
            )
        )
        storage.call(lambda c: None)  # the next job finds the indexes grown
        raised = _limit_mib(storage)
        assert raised > 128
        storage.call(lambda c: c.execute("DELETE FROM keyed WHERE k >= 1000"))
        storage.call(lambda c: None)
        assert _limit_mib(storage) == raised  # retention deleting rows lowers nothing
    finally:
        storage.close()


def test_a_failed_check_of_the_indexes_is_logged_and_the_jobs_go_on(tmp_path, monkeypatch, caplog):
    # A catalog query that fails cannot be made to happen on a healthy DuckDB: the
    # function that runs it is replaced by one raising DuckDB's own error.
    storage = Storage(tmp_path / "ledger.duckdb", memory_limit_bytes=128 * _MIB).open()
    try:

        def failing(conn):
            raise duckdb.IOException("disk went away")

        monkeypatch.setattr(memory_limit, "indexed_rows", failing)
        monkeypatch.setattr(memory_limit, "LEDGER_MEMORY_RECHECK_S", 0.0)
        storage.memory_limit._due = 0.0
        with caplog.at_level(logging.WARNING):
            assert storage.call(lambda c: c.execute("SELECT 41 + 1").fetchall()) == [(42,)]
        assert "memory limit of" in caplog.text and "disk went away" in caplog.text
        assert _limit_mib(storage) == 128
    finally:
        storage.close()

"""--ledger-memory-mb / GENOPS_LEDGER_MEMORY_MB: the most memory the ledger's DuckDB keeps
(its cache of the file's blocks included). Read and checked where it enters, given to
DuckDB by the processor; unset, DuckDB's own limit stands. Real DuckDB files and a real
processor started in-process on 127.0.0.1 (port 0)."""

from __future__ import annotations

import asyncio

import pytest

from genops_processor.limits import LEDGER_MEMORY_MIN_MB
from genops_processor.server import start
from genops_processor.settings import ProcessorSettings, SettingsError
from genops_processor.storage import Storage

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

"""Heartbeat updates read only the recent part of ``runs`` and ``cost_lines``
(storage/run_rows.py: each cached run keeps a lower bound of its rows' rowids, and an
update names ``rowid >=`` the least). The bounds are hints: wrong ones (rows that moved)
cost a second, unbounded update and never a lost write. Real DuckDB in a temporary
directory; events built directly, as in test_run_cache."""

from __future__ import annotations

from genops_processor.ingest import ingest_batch
from genops_processor.storage import run_cache, runs_by_key, writer
from tests.processor.test_run_cache import batch, beat

RUNS = 40


def _lines(conn) -> dict[tuple, tuple]:
    rows = conn.execute(
        "SELECT run_key, sku, catalog_version, quantity, amount_micros, as_of_ns "
        "FROM cost_lines ORDER BY ALL"
    ).fetchall()
    return {r[:3]: r[3:] for r in rows}


def _runs(conn) -> list[tuple]:
    return conn.execute("SELECT * FROM runs ORDER BY ALL").fetchall()


def _statements(monkeypatch) -> list[str]:
    seen: list[str] = []
    execute = writer.Connection.execute

    def recording(self, sql, *args, **kwargs):
        seen.append(" ".join(str(sql).split()))
        return execute(self, sql, *args, **kwargs)

    monkeypatch.setattr(writer.Connection, "execute", recording)
    return seen


def _history(storage, catalogs, rounds: int) -> None:
    """Finished runs written first (the old part of the tables), then RUNS running."""
    old = [beat(1000 + i, 5, final=True, status="finished") for i in range(200)]
    storage.call(lambda conn: ingest_batch(conn, batch(*old), catalogs))
    for second in range(1, rounds + 1):
        beats = [beat(run, second * 10) for run in range(RUNS)]
        storage.call(lambda conn, b=beats: ingest_batch(conn, batch(*b), catalogs))


def test_heartbeat_updates_are_bounded_and_the_bounds_hold(ledger, monkeypatch):  # noqa: F811
    storage, catalogs = ledger
    _history(storage, catalogs, 1)  # the running runs appended after the finished ones
    seen = _statements(monkeypatch)
    beats = [beat(run, 500) for run in range(RUNS)]
    storage.call(lambda conn: ingest_batch(conn, batch(*beats), catalogs))
    updates = [s for s in seen if s.startswith("UPDATE runs") or s.startswith("UPDATE cost_lines")]
    assert len(updates) == 2, seen
    assert all(".rowid >= " in s for s in updates), updates
    bounds = [int(s.rsplit("rowid >= ", 1)[1].split()[0]) for s in updates]
    assert bounds == [200, 400]  # past the 200 finished runs' rows and their 400 lines
    assert storage.call(lambda conn: run_cache(conn).unbounded_retries) == 0
    states = storage.call(lambda conn: runs_by_key(conn, [f"run-{r}" for r in range(RUNS)]))
    assert {s.usage.log_calls for s in states.values()} == {500}
    lines = storage.call(_lines)
    assert {v[2] for k, v in lines.items() if k[0].startswith("run-") and int(k[0][4:]) < RUNS} == {
        beat(0, 500).usage.as_of_ns
    }


def test_wrong_bounds_cost_an_unbounded_update_and_lose_nothing(ledger):  # noqa: F811
    storage, catalogs = ledger
    _history(storage, catalogs, 2)

    def bounds_past_the_end(conn) -> None:  # as if the rows had moved (a vacuum)
        cache = run_cache(conn)
        for key, entry in list(cache._kept.items()):
            cache._kept[key] = (*entry[:3], 10**9, 10**9)

    storage.call(bounds_past_the_end)
    beats = [beat(run, 900) for run in range(RUNS)]
    storage.call(lambda conn: ingest_batch(conn, batch(*beats), catalogs))
    assert storage.call(lambda conn: run_cache(conn).unbounded_retries) == 1
    states = storage.call(lambda conn: runs_by_key(conn, [f"run-{r}" for r in range(RUNS)]))
    assert {s.usage.as_of_ns for s in states.values()} == {beats[0].usage.as_of_ns}
    assert len(states) == RUNS

    def line_times(conn) -> set[int]:
        return {v[2] for k, v in _lines(conn).items() if k[0] in states}

    assert storage.call(line_times) == {beats[0].usage.as_of_ns}
    # the wrong bounds were dropped: the next heartbeat reads its rows' bounds again
    # (unbounded this once) and the one after is bounded
    for second in (910, 920):
        more = [beat(run, second) for run in range(RUNS)]
        storage.call(lambda conn, b=more: ingest_batch(conn, batch(*b), catalogs))
    assert storage.call(lambda conn: run_cache(conn).unbounded_retries) == 1
    assert storage.call(line_times) == {beat(0, 920).usage.as_of_ns}


def test_the_ledger_is_the_same_with_and_without_bounds(tmp_path, monkeypatch):
    """The same heartbeats into two ledgers, one whose bounds are never known."""
    from genops_processor import storage as store
    from genops_processor.pricing import Catalog, CatalogSource
    from genops_processor.storage import run_rows
    from tests.helpers import ROUND_CATALOG

    catalogs = CatalogSource(Catalog.load(ROUND_CATALOG))
    found = []
    for bounded in (True, False):
        if not bounded:
            monkeypatch.setattr(run_rows.RunCache, "rowid_bounds", lambda self, key: (None, None))
        with store.Storage(tmp_path / f"{bounded}.duckdb") as storage:
            _history(storage, catalogs, 4)
            found.append(
                storage.call(
                    lambda conn: (
                        conn.execute(
                            "SELECT * EXCLUDE (run_key) FROM runs ORDER BY ALL"
                        ).fetchall(),
                        _lines(conn),
                    )
                )
            )
    assert found[0] == found[1]
    assert len(found[0][1]) >= 2 * RUNS  # two lines (GPU, vCPU) a run at least

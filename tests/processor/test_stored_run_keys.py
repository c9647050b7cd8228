"""Lookups of runs the ledger certainly does not hold are skipped
(storage/stored_run_keys.py), and never one it holds: every key with a ``runs`` row is
among the keys that may be stored, whether the keys' hashes were read before or after
its row was written, across rolled-back batches, a re-read past ADDED_KEPT_MAX and a
restart. A stranger's heartbeat for a stored run of another team is still refused (its
key looked up), and a new run's first heartbeat is stored without reading the ledger.
Real DuckDB in a temporary directory; events built directly, as in test_run_cache."""

from __future__ import annotations

import random

import pytest

from genops_processor import storage as store
from genops_processor.budgets import reservations
from genops_processor.domain import Scope
from genops_processor.ingest import ingest_batch
from genops_processor.pricing import Catalog, CatalogSource
from genops_processor.storage import run_cache, stored_run_keys
from tests.helpers import ROUND_CATALOG
from tests.processor.test_run_cache import batch, beat


@pytest.fixture
def ledger(tmp_path):
    storage = store.Storage(tmp_path / "ledger.duckdb").open()
    yield storage, CatalogSource(Catalog.load(ROUND_CATALOG))
    storage.close()


def every_stored_key_may_be_stored(storage) -> tuple[int, int]:
    """(keys stored, of them said not to be): the second must be 0."""

    def job(conn):
        keys = [row[0] for row in conn.execute("SELECT run_key FROM runs").fetchall()]
        kept = run_cache(conn).stored_keys.maybe_stored(conn, keys)
        return len(keys), len(keys) - len(kept)

    return storage.call(job)


def test_a_new_runs_first_heartbeat_is_not_looked_up(ledger):
    storage, catalogs = ledger
    storage.call(lambda conn: ingest_batch(conn, batch(beat(1, 60), beat(2, 60)), catalogs))
    storage.call(lambda conn: run_cache(conn).forget())  # the runs must come from the ledger
    before = storage.call(
        lambda conn: (run_cache(conn).misses, run_cache(conn).stored_keys.skipped)
    )
    result = storage.call(
        lambda conn: ingest_batch(conn, batch(beat(1, 120), beat(3, 120), beat(4, 120)), catalogs)
    )
    after = storage.call(lambda conn: (run_cache(conn).misses, run_cache(conn).stored_keys.skipped))
    assert result.new_spans == 3 and result.previous_cost_micros["run-1"] > 0
    assert after[0] - before[0] == 1  # run-1 read from the ledger
    assert after[1] - before[1] >= 2  # run-3 and run-4 not
    assert every_stored_key_may_be_stored(storage) == (4, 0)


def test_a_stored_run_of_another_team_is_looked_up_and_refused(ledger):
    """Hostile: heartbeats naming 50 stored runs from another team, once the keys' hashes
    were read before the runs were written (kept as added) and once after a restart."""
    storage, catalogs = ledger
    storage.call(lambda conn: ingest_batch(conn, batch(beat(999, 10)), catalogs))  # read now
    storage.call(
        lambda conn: ingest_batch(conn, batch(*(beat(r, 60) for r in range(50))), catalogs)
    )
    storage.call(lambda conn: run_cache(conn).forget())
    stolen = batch(*(beat(r, 120, scope=Scope(team="other")) for r in range(50)))
    result = storage.call(lambda conn: ingest_batch(conn, stolen, catalogs))
    assert result.new_spans == 0
    assert sorted({r.reason for r in result.rejected}) == ["scope_changed"]
    assert len(result.rejected) == 50


def test_stored_keys_survive_rollbacks_rereads_and_a_restart(tmp_path, monkeypatch):
    catalogs = CatalogSource(Catalog.load(ROUND_CATALOG))
    monkeypatch.setattr(stored_run_keys, "ADDED_KEPT_MAX", 7)  # re-read often
    rng = random.Random(13)
    path = tmp_path / "ledger.duckdb"
    second = 0
    reads = 0
    for _ in range(2):  # the second pass starts from the file: a restart
        with store.Storage(path) as storage:
            for step in range(30):
                second += 60
                runs = rng.sample(range(60), rng.randint(1, 12))
                events = batch(*(beat(r, second) for r in runs))
                if step % 5 == 4:  # fails after its run rows were written: rolled back

                    def failing(conn, states):
                        raise OSError("disk gone after the run rows")

                    monkeypatch.setattr(reservations, "track", failing)
                    with pytest.raises(OSError):
                        storage.call(lambda conn, e=events: ingest_batch(conn, e, catalogs))
                    monkeypatch.setattr(reservations, "track", _track)
                else:
                    storage.call(lambda conn, e=events: ingest_batch(conn, e, catalogs))
                if rng.random() < 0.3:
                    storage.call(lambda conn: run_cache(conn).forget())
                stored, missed = every_stored_key_may_be_stored(storage)
                assert missed == 0, f"step {step}: {missed} of {stored} stored keys skipped"
            reads += storage.call(lambda conn: run_cache(conn).stored_keys.reads)
    assert stored > 12 and reads >= 4  # read at first use and again past the bound


_track = reservations.track

"""The writer's run-state cache (storage/run_rows.py RunCache) and the group commit of
ingest requests (ingest/group_commit.py) never let memory and the ledger disagree: a
rolled-back batch leaves nothing cached, a restart reads the ledger, a small bound evicts
and stays correct, a row changed by another writer is read again, and batches stored
together are stored as they would be one after the other. Real DuckDB in a temporary
directory; events built directly (the decoder has its own tests)."""

from __future__ import annotations

import threading
import time

import pytest

from genops_processor import storage as store
from genops_processor.budgets import reservations
from genops_processor.domain import (
    Batch,
    HardwareUse,
    RunLabels,
    RunUsage,
    Scope,
    SpanRecord,
    UsageEvent,
)
from genops_processor.ingest import IngestQueue, ingest_batch, ingest_batches
from genops_processor.pricing import Catalog, CatalogSource
from genops_processor.storage import run_cache, runs_by_key
from tests.helpers import ROUND_CATALOG

SECOND = 10**9
START = time.time_ns() - 3_600 * SECOND


def beat(run: int, second: int, span: int | None = None, **changes) -> UsageEvent:
    """Run ``run``'s heartbeat at ``second`` after START (span id: the pair, unless given)."""
    as_of = START + second * SECOND
    fields = dict(
        span=SpanRecord(
            f"{run:032x}",
            f"{span if span is not None else run * 100_000 + second:016x}",
            "heartbeat",
            "genops.heartbeat",
            f"run-{run}",
            START,
            as_of,
            "{}",
        ),
        run_id=f"run-{run}",
        run_name="",
        wandb_project="p",
        scope=Scope(team="ml", project=f"p{run % 2}"),
        hardware=HardwareUse(gpu_type="T4", gpu_count=1, cpu_count=2),
        usage=RunUsage(compute_start_ns=START, as_of_ns=as_of, log_calls=second),
        status="running",
        final=False,
        compute_start_declared=True,
    )
    fields.update(changes)
    return UsageEvent(**fields)


def batch(*events: UsageEvent) -> Batch:
    return Batch(usage=events)


def cached_and_stored(storage, keys) -> tuple[dict, dict]:
    """The states the cache keeps of these runs, and the ledger's of all of them."""

    def job(conn):
        cache = run_cache(conn)
        cached = {k: cache._kept[k][0] for k in keys if k in cache}
        return cached, runs_by_key(conn, sorted(keys))

    return storage.call(job)


def table(storage, sql: str) -> list[tuple]:
    return storage.call(lambda conn: conn.execute(sql).fetchall())


LINES_SQL = "SELECT * FROM cost_lines ORDER BY ALL"
SPANS_SQL = "SELECT trace_id, span_id, run_key, end_ns FROM spans ORDER BY ALL"


def runs_rows(storage) -> list[tuple]:
    return table(storage, "SELECT * FROM runs ORDER BY run_key")


def test_a_rolled_back_batch_leaves_no_cached_state_the_ledger_lacks(ledger, monkeypatch):
    storage, catalogs = ledger
    storage.call(lambda conn: ingest_batch(conn, batch(beat(1, 60), beat(2, 60)), catalogs))

    # A storage failure after the run rows are written (it cannot be caused for real
    # here): injected into the step that follows store_runs in the same transaction.
    def failing(conn, states):
        raise OSError("disk gone after the run rows")

    monkeypatch.setattr(reservations, "track", failing)
    with pytest.raises(OSError):
        storage.call(lambda conn: ingest_batch(conn, batch(beat(1, 120), beat(3, 120)), catalogs))
    monkeypatch.undo()

    cached, stored = cached_and_stored(storage, ["run-1", "run-2", "run-3"])
    assert "run-3" not in stored and all(stored[k] == v for k, v in cached.items())
    assert stored["run-1"].usage.as_of_ns == START + 60 * SECOND  # the rollback stands
    # The same request again, now that storage works: stored once, from the ledger's state.
    result = storage.call(
        lambda conn: ingest_batch(conn, batch(beat(1, 120), beat(3, 120)), catalogs)
    )
    assert result.new_spans == 2 and result.previous_cost_micros["run-1"] > 0
    cached, stored = cached_and_stored(storage, ["run-1", "run-2", "run-3"])
    assert cached == stored and stored["run-1"].usage.as_of_ns == START + 120 * SECOND


def test_runs_changing_different_columns_in_one_batch_each_keep_their_change(ledger):
    """store_runs updates the union of the columns the batch's runs changed, not only the
    first changed row's. Here the first run changes its progress, the second only its
    name, the third its status."""
    storage, catalogs = ledger
    storage.call(
        lambda conn: ingest_batch(conn, batch(beat(1, 60), beat(2, 60), beat(3, 60)), catalogs)
    )
    second = batch(
        beat(1, 120),
        beat(2, 60, span=7, run_name="renamed"),  # same progress: only the name is new
        beat(3, 60, span=8, status="finished", final=True, exit_code=0),
    )
    storage.call(lambda conn: ingest_batch(conn, second, catalogs))
    cached, stored = cached_and_stored(storage, ["run-1", "run-2", "run-3"])
    assert cached == stored
    assert stored["run-1"].usage.log_calls == 120 and stored["run-1"].run_name == ""
    assert stored["run-2"].run_name == "renamed" and stored["run-2"].usage.log_calls == 60
    assert (stored["run-3"].status, stored["run-3"].final) == ("finished", True)
    assert stored["run-3"].run_name == "" and stored["run-3"].usage.log_calls == 60


def test_a_restart_reads_run_states_from_the_ledger(tmp_path):
    catalogs = CatalogSource(Catalog.load(ROUND_CATALOG))
    path = tmp_path / "ledger.duckdb"
    with store.Storage(path) as storage:
        storage.call(lambda conn: ingest_batch(conn, batch(beat(1, 60)), catalogs))
    with store.Storage(path) as storage:
        assert storage.call(lambda conn: len(run_cache(conn))) == 0
        # A span of the run from another scope: refused against the state on file.
        stolen = beat(1, 120, scope=Scope(team="other"))
        result = storage.call(lambda conn: ingest_batch(conn, batch(stolen), catalogs))
        assert [r.reason for r in result.rejected] == ["scope_changed"]
        result = storage.call(lambda conn: ingest_batch(conn, batch(beat(1, 180)), catalogs))
        assert result.new_spans == 1 and result.previous_cost_micros["run-1"] > 0
        assert storage.call(lambda conn: run_cache(conn).misses) >= 1
        cached, stored = cached_and_stored(storage, ["run-1"])
        assert cached == stored and stored["run-1"].usage.log_calls == 180


def test_a_small_bound_evicts_and_the_ledger_is_the_same(tmp_path):
    catalogs = CatalogSource(Catalog.load(ROUND_CATALOG))
    rows = []
    for capacity in (2, 10_000):
        with store.Storage(tmp_path / f"ledger-{capacity}.duckdb") as storage:
            storage.call(lambda conn, c=capacity: setattr(run_cache(conn), "capacity", c))
            for second in (60, 120, 180):
                events = [beat(run, second) for run in range(5)]
                events.append(beat(4, second + 1, scope=Scope(team="x")))  # refused
                storage.call(lambda conn, e=events: ingest_batch(conn, batch(*e), catalogs))
            assert storage.call(lambda conn: len(run_cache(conn))) <= capacity
            keys = [f"run-{i}" for i in range(5)]
            cached, stored = cached_and_stored(storage, keys)
            assert len(stored) == 5 and all(stored[k] == v for k, v in cached.items())
            rows.append((runs_rows(storage), table(storage, LINES_SQL)))
    assert rows[0] == rows[1]


def test_a_run_row_changed_by_another_writer_is_read_again(ledger):
    """Hostile to the cache: expiring a hold marks its run lost with an UPDATE."""
    storage, catalogs = ledger
    event = beat(1, 60, labels=RunLabels(hold_id="h1"))
    storage.call(
        lambda conn: conn.execute(
            "INSERT INTO holds (hold_id, team, project, amount_micros, status, created_ns) "
            "VALUES ('h1', 'ml', 'p1', 1000000, 'open', ?)",
            [START],
        )
    )
    storage.call(lambda conn: ingest_batch(conn, batch(event, beat(2, 60)), catalogs))
    expired = storage.call(lambda conn: reservations.expire(conn, time.time_ns(), 1.0))
    assert expired == ["h1"]
    cached, stored = cached_and_stored(storage, ["run-1", "run-2"])
    assert all(stored[k] == v for k, v in cached.items())  # none, or what the ledger says
    # only the run marked lost is dropped: the others' states still say what their rows say
    assert "run-1" not in cached and "run-2" in cached
    # A late heartbeat (older than the state): nothing changes, the run stays lost.
    storage.call(lambda conn: ingest_batch(conn, batch(beat(1, 30)), catalogs))
    assert table(storage, "SELECT status FROM runs ORDER BY run_key") == [
        ("lost",),
        ("running",),
    ]


def test_batches_stored_together_are_stored_as_one_after_the_other(tmp_path):
    catalogs = CatalogSource(Catalog.load(ROUND_CATALOG))
    requests = [
        batch(beat(1, 60), beat(2, 60)),
        batch(beat(1, 120), beat(3, 60)),
        batch(beat(1, 120), beat(2, 60)),  # a retry of spans the group already holds
        batch(beat(2, 30, scope=Scope(team="x"))),  # another scope: refused
        batch(beat(7, 60, hardware=HardwareUse(gpu_type="T4", gpu_count=2**40))),  # poison
        batch(beat(3, 180)),
    ]
    alone_db, together_db = tmp_path / "alone.duckdb", tmp_path / "together.duckdb"
    with store.Storage(alone_db) as storage:
        alone = [storage.call(lambda conn, b=b: ingest_batch(conn, b, catalogs)) for b in requests]
        expected = (runs_rows(storage), table(storage, LINES_SQL), table(storage, SPANS_SQL))
    with store.Storage(together_db) as storage:
        together = storage.call(lambda conn: ingest_batches(conn, requests, catalogs))
        got = (runs_rows(storage), table(storage, LINES_SQL), table(storage, SPANS_SQL))
        cached, stored = cached_and_stored(storage, ["run-1", "run-2", "run-3"])
    assert got == expected and all(stored[k] == v for k, v in cached.items())
    for one, other in zip(alone, together, strict=True):
        assert (one.new_spans, one.duplicate_spans) == (other.new_spans, other.duplicate_spans)
        assert [(r.span_id, r.reason) for r in one.rejected] == [
            (r.span_id, r.reason) for r in other.rejected
        ]
    assert [r.reason for r in together[4].rejected] == ["unstorable"]


def test_requests_waiting_for_the_writer_share_one_commit(ledger):
    storage, catalogs = ledger
    queue = IngestQueue(storage, lambda: catalogs)
    gate = threading.Event()
    blocker = storage.submit(lambda conn: gate.wait(30))  # the writer busy: requests wait
    futures = [queue.submit(batch(beat(run, 60))) for run in range(4)]
    futures.append(queue.submit(batch(beat(0, 60))))  # a retry, in the same group
    gate.set()
    blocker.result(timeout=30)
    results = [f.result(timeout=30) for f in futures]
    assert queue.groups == 1
    assert [r.new_spans for r in results] == [1, 1, 1, 1, 0]
    assert results[-1].duplicate_spans == 1
    assert table(storage, "SELECT count(*) FROM spans") == [(4,)]


def test_a_group_is_capped_and_the_rest_waits_for_the_next_commit(ledger):
    storage, catalogs = ledger
    queue = IngestQueue(storage, lambda: catalogs, max_spans=2)
    gate = threading.Event()
    blocker = storage.submit(lambda conn: gate.wait(30))
    futures = [queue.submit(batch(beat(run, 60))) for run in range(5)]
    gate.set()
    blocker.result(timeout=30)
    assert all(f.result(timeout=30).new_spans == 1 for f in futures)
    assert queue.groups == 3


def test_a_request_to_a_closed_storage_fails_instead_of_waiting(tmp_path):
    storage = store.Storage(tmp_path / "ledger.duckdb").open()
    catalogs = CatalogSource(Catalog.load(ROUND_CATALOG))
    queue = IngestQueue(storage, lambda: catalogs)
    storage.close()
    with pytest.raises(store.StorageError):
        queue.submit(batch(beat(1, 60))).result(timeout=30)


def test_a_large_request_is_stored_in_parts_and_equals_storing_it_whole(tmp_path):
    catalogs = CatalogSource(Catalog.load(ROUND_CATALOG))
    events = [beat(run, second) for second in (60, 120) for run in range(7)]
    events.append(beat(3, 120))  # a copy of a span of this request: same part, counted once
    events.append(beat(5, 30, scope=Scope(team="x")))  # another scope: refused
    request = batch(*events)
    with store.Storage(tmp_path / "whole.duckdb") as storage:
        whole = storage.call(lambda conn: ingest_batch(conn, request, catalogs))
        expected = (runs_rows(storage), table(storage, LINES_SQL), table(storage, SPANS_SQL))
    with store.Storage(tmp_path / "parts.duckdb") as storage:
        queue = IngestQueue(storage, lambda: catalogs, max_spans=4)
        parts = queue.submit(request).result(timeout=30)
        got = (runs_rows(storage), table(storage, LINES_SQL), table(storage, SPANS_SQL))
        assert queue.groups == 4  # 15 distinct spans in parts of 4
        again = queue.submit(request).result(timeout=30)  # the client's retry
        assert table(storage, SPANS_SQL) == expected[2]
    assert got == expected
    assert (parts.new_spans, parts.duplicate_spans) == (whole.new_spans, whole.duplicate_spans)
    assert sorted(r.reason for r in parts.rejected) == sorted(r.reason for r in whole.rejected)
    assert again.new_spans == 0


def test_a_decision_goes_between_the_parts_of_a_large_request(ledger):
    """The writer stores one part per job; a decision queued while the first part is being
    stored runs before the second, so it waits for one part's work, never the whole
    request's. Checked by order (what the decision sees), not by time."""
    storage, catalogs = ledger
    seen: list = []

    def decide(conn):
        return conn.execute("SELECT count(*) FROM spans").fetchone()[0]

    def catalogs_then_queue_a_decision():  # called by each ingest job as it starts storing
        if not seen:
            seen.append(storage.submit(decide, store.Priority.DECISION))
        return catalogs

    queue = IngestQueue(storage, catalogs_then_queue_a_decision, max_spans=4)
    request = queue.submit(batch(*(beat(run, 60) for run in range(12))))
    assert request.result(timeout=30).new_spans == 12
    assert seen[0].result(timeout=30) == 4  # after the first part, before the second
    assert queue.groups == 3

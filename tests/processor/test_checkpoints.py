"""The ledger's checkpoints run beside the writer: budget decisions go on meanwhile, other
jobs wait for the checkpoint in their order (real DuckDB files and real checkpoints).

A checkpoint of a few KiB of log takes milliseconds, so the tests that need one to stay
open while jobs arrive replace the checkpoint's statement with one that first waits for
the test (a long DuckDB checkpoint cannot be produced on demand); the real one then runs.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading

import duckdb
import pytest

from genops_processor import metrics as metrics_module
from genops_processor.metrics import ProcessorMetrics
from genops_processor.storage import Priority, Storage, checkpoints

WAL_BYTES = 2**20
WAIT_S = 30  # a guard against a hang, never a timing assertion


def _table(conn) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS t (n BIGINT PRIMARY KEY, text VARCHAR)")


def _write(storage: Storage, first: int, rows: int) -> list:
    """Committed writes of 20 rows (~20 KB of log) a job, queued at once (a checkpoint
    starting between two keeps the rest aside). A commit DuckDB estimates near its own
    threshold checkpoints in the commit and writes no log: a small threshold with large
    commits would test DuckDB's checkpoint, not ours."""
    return [
        storage.submit(
            lambda conn, start=start: conn.execute(
                "INSERT INTO t SELECT ? + i, repeat('x', 1000) FROM range(?) r(i)",
                [start, min(20, first + rows - start)],
            )
        )
        for start in range(first, first + rows, 20)
    ]


def _done(futures: list) -> None:
    for future in futures:
        future.result(timeout=WAIT_S)


def _wal(storage: Storage):
    return storage.path.with_name(storage.path.name + ".wal")


def _held(storage: Storage) -> tuple[threading.Event, threading.Event]:
    """Make the next checkpoint wait for ``release`` (``started`` is set when it does)."""
    started, release = threading.Event(), threading.Event()
    real = storage.checkpoints.checkpoint

    def held(cursor) -> None:
        started.set()
        assert release.wait(WAIT_S)
        real(cursor)

    storage.checkpoints.checkpoint = held
    return started, release


def _rows(path) -> int:
    with Storage(path) as storage:
        return storage.call(lambda conn: conn.execute("SELECT count(*) FROM t").fetchone()[0])


def test_a_log_past_the_threshold_is_checkpointed_beside_the_writer(tmp_path):
    with Storage(tmp_path / "ledger.duckdb", checkpoint_wal_bytes=WAL_BYTES) as storage:
        storage.call(_table)
        threshold = storage.call(
            lambda conn: conn.execute("SELECT current_setting('checkpoint_threshold')").fetchone()
        )[0]
        _done(_write(storage, 0, rows=1400))
        storage.call(lambda conn: None)  # after any checkpoint the writes started
        taken = storage.checkpoints.taken
        left = _wal(storage).stat().st_size
    assert threshold == "4.0 MiB"  # DuckDB's own: the safety net at 4x
    assert taken >= 1
    assert left < WAL_BYTES  # moved into the file, not left to grow
    assert _rows(tmp_path / "ledger.duckdb") == 1400


def test_decisions_go_on_during_a_checkpoint_and_other_jobs_wait_in_their_order(tmp_path):
    ran: list[str] = []
    with Storage(tmp_path / "ledger.duckdb", checkpoint_wal_bytes=WAL_BYTES) as storage:
        storage.call(_table)
        started, release = _held(storage)
        writes = _write(storage, 0, rows=1400)  # passes the threshold: a gap starts one
        assert started.wait(WAIT_S)
        later = [
            storage.submit(lambda conn, n=n: ran.append(n), priority)
            for n, priority in (
                ("ingest-1", Priority.NORMAL),
                ("bulk-1", Priority.BULK),
                ("ingest-2", Priority.NORMAL),
            )
        ]
        decided = storage.submit(lambda conn: ran.append("decision") or "allow", Priority.DECISION)
        grouped = storage.submit(lambda conn: "grouped", Priority.DECISION, group=True)
        assert decided.result(timeout=WAIT_S) == "allow"
        assert grouped.result(timeout=WAIT_S) == "grouped"
        assert ran == ["decision"]  # the others wait for the checkpoint
        assert not any(f.done() for f in later)
        kept = sum(not f.done() for f in writes)
        assert kept > 0  # the writes after the threshold wait too
        assert storage.queue_depth() == 3 + kept  # kept aside, still counted as waiting
        release.set()
        _done(writes + later)
        taken = storage.checkpoints.taken
    assert ran == ["decision", "ingest-1", "ingest-2", "bulk-1"]
    assert taken >= 1


def test_a_decision_that_reads_a_table_during_a_checkpoint_waits_and_is_answered(tmp_path):
    with Storage(tmp_path / "ledger.duckdb", checkpoint_wal_bytes=WAL_BYTES) as storage:
        storage.call(_table)
        started, release = _held(storage)
        writes = _write(storage, 0, rows=1400)
        assert started.wait(WAIT_S)
        before = 20 * sum(f.done() for f in writes)  # the rest wait for the checkpoint
        counted = storage.submit(
            lambda conn: conn.execute("SELECT count(*) FROM t").fetchone()[0], Priority.DECISION
        )
        release.set()
        assert counted.result(timeout=WAIT_S) == before  # ahead of the writes kept aside
        assert 0 < before < 1400
        _done(writes)


def test_a_failed_checkpoint_is_logged_jobs_go_on_and_it_is_tried_again(
    tmp_path, caplog, monkeypatch
):
    monkeypatch.setattr(checkpoints, "RETRY_S", 0.0)
    failures = []
    with Storage(tmp_path / "ledger.duckdb", checkpoint_wal_bytes=WAL_BYTES) as storage:
        storage.call(_table)
        real = storage.checkpoints.checkpoint

        def failing_once(cursor) -> None:  # DuckDB's own error type, as a full disk gives
            if not failures:
                failures.append(1)
                raise duckdb.IOException("Could not write file: No space left on device")
            real(cursor)

        storage.checkpoints.checkpoint = failing_once
        with caplog.at_level(logging.WARNING, logger="genops_processor.storage.checkpoints"):
            _done(_write(storage, 0, rows=1400))
            _done(_write(storage, 1400, rows=600))  # past the threshold again: tried again
            storage.call(lambda conn: None)
        failed, taken = storage.checkpoints.failed, storage.checkpoints.taken
    assert failed == 1 and taken >= 1
    assert "checkpoint of" in caplog.text and "No space left on device" in caplog.text
    assert _rows(tmp_path / "ledger.duckdb") == 2000  # nothing committed was lost


def test_a_checkpoint_that_leaves_the_log_as_large_is_not_started_again_at_once(
    tmp_path, monkeypatch
):
    # hostile to the writer: were the next gap to start another, the other jobs would
    # be kept aside for good (a checkpoint that moves nothing: DuckDB cannot be made to
    # do that here, so the statement is replaced by one that does nothing)
    monkeypatch.setattr(checkpoints, "RETRY_S", 3600.0)
    with Storage(tmp_path / "ledger.duckdb", checkpoint_wal_bytes=WAL_BYTES) as storage:
        storage.call(_table)
        storage.checkpoints.checkpoint = lambda cursor: None
        _done(_write(storage, 0, rows=1400))
        _done(_write(storage, 1400, rows=600))  # every gap past the threshold
        taken = storage.checkpoints.taken
        left = _wal(storage).stat().st_size
    assert taken == 1
    assert left >= WAL_BYTES
    assert _rows(tmp_path / "ledger.duckdb") == 2000


def test_close_during_a_checkpoint_waits_for_it_and_runs_what_was_queued(tmp_path):
    path = tmp_path / "ledger.duckdb"
    storage = Storage(path, checkpoint_wal_bytes=WAL_BYTES).open()
    storage.call(_table)
    started, release = _held(storage)
    _write(storage, 0, rows=1400)
    assert started.wait(WAIT_S)
    queued = storage.submit(lambda conn: conn.execute("INSERT INTO t VALUES (-1, 'last')"))
    closing = threading.Thread(target=storage.close)
    closing.start()
    closing.join(0.2)
    assert closing.is_alive() and not queued.done()  # waits for the checkpoint
    release.set()
    closing.join(WAIT_S)
    assert not closing.is_alive()
    queued.result(timeout=0)
    assert _rows(path) == 1401


def test_metrics_count_the_checkpoints_taken_and_failed(tmp_path, monkeypatch):
    monkeypatch.setattr(metrics_module, "METRICS_SCRAPE_WAIT_S", 0.01)
    metrics = ProcessorMetrics()
    value = metrics.registry.get_sample_value
    with Storage(tmp_path / "ledger.duckdb", checkpoint_wal_bytes=WAL_BYTES) as storage:
        unread = concurrent.futures.Future()  # the ledger's figures: not under test here
        metrics.bind_ledger(lambda: unread, storage.queue_depth, lambda: storage.checkpoints)
        assert value("genops_ledger_checkpoints_total", {"outcome": "taken"}) == 0
        storage.call(_table)
        _done(_write(storage, 0, rows=1400))
        storage.call(lambda conn: None)
        assert value("genops_ledger_checkpoints_total", {"outcome": "taken"}) >= 1
        assert value("genops_ledger_checkpoints_total", {"outcome": "failed"}) == 0
        assert value("genops_ledger_checkpoint_seconds") > 0


@pytest.mark.parametrize("wal_bytes", [0, -1])
def test_a_threshold_that_is_not_positive_is_refused(tmp_path, wal_bytes):
    with pytest.raises(ValueError, match="checkpoint_wal_bytes"):
        Storage(tmp_path / "ledger.duckdb", checkpoint_wal_bytes=wal_bytes)

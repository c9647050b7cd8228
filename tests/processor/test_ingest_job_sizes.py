"""Ingest jobs are short while budget decisions are being made (ingest/group_commit.py):
with a decision submitted in the last ``DECISIONS_RECENT_S``, a request is stored in
jobs of at most ``deciding_spans`` spans (a decision waits for less); with none, in jobs
of up to ``max_spans`` (fewer commits a span). Either way the request is stored whole and
answered after its last job's commit. Real DuckDB file, real writer thread; job counts,
not timings."""

from __future__ import annotations

import threading

from genops_processor import storage as store
from genops_processor.ingest import IngestQueue, group_commit
from tests.processor.test_run_cache import batch, beat


def _spans(storage: store.Storage) -> int:
    return storage.call(lambda conn: conn.execute("SELECT count(*) FROM spans").fetchone()[0])


def _decision(storage: store.Storage) -> None:
    storage.submit(lambda conn: None, store.Priority.DECISION).result(timeout=30)


def test_the_writer_tells_whether_decisions_are_being_made(ledger):
    storage, _ = ledger
    assert not storage.deciding(3600)  # none yet
    storage.call(lambda conn: None)  # ingest and other jobs do not count
    assert not storage.deciding(3600)
    _decision(storage)
    assert storage.deciding(3600)
    assert not storage.deciding(-1)  # "in the last -1 s": never


def test_without_decisions_a_request_is_one_job(ledger):
    storage, catalogs = ledger
    queue = IngestQueue(storage, lambda: catalogs, max_spans=8, deciding_spans=2)
    assert queue.job_spans() == 8
    result = queue.submit(batch(*(beat(run, 60) for run in range(8)))).result(timeout=30)
    assert (result.new_spans, queue.groups) == (8, 1)


def test_while_decisions_are_made_a_request_is_stored_in_short_jobs(ledger, monkeypatch):
    storage, catalogs = ledger
    monkeypatch.setattr(group_commit, "DECISIONS_RECENT_S", 3600.0)
    queue = IngestQueue(storage, lambda: catalogs, max_spans=8, deciding_spans=2)
    _decision(storage)
    assert queue.job_spans() == 2
    result = queue.submit(batch(*(beat(run, 60) for run in range(8)))).result(timeout=30)
    assert (result.new_spans, queue.groups) == (8, 4)
    assert _spans(storage) == 8
    # the same request again (a client's retry): all duplicates, nothing stored twice
    again = queue.submit(batch(*(beat(run, 60) for run in range(8)))).result(timeout=30)
    assert (again.new_spans, again.duplicate_spans, _spans(storage)) == (0, 8, 8)


def test_deciding_spans_never_exceed_max_spans(ledger, monkeypatch):
    storage, catalogs = ledger
    monkeypatch.setattr(group_commit, "DECISIONS_RECENT_S", 3600.0)
    _decision(storage)
    queue = IngestQueue(storage, lambda: catalogs, max_spans=3)  # default deciding: 128
    assert queue.job_spans() == 3


def test_a_flood_of_decisions_does_not_starve_ingest(ledger, monkeypatch):
    """Hostile: callers keep the writer's decision queue busy the whole time a large
    request is being stored. Decisions go first, but each ingest job still takes at least
    one part, so the request completes, whole, in short jobs."""
    storage, catalogs = ledger
    monkeypatch.setattr(group_commit, "DECISIONS_RECENT_S", 3600.0)
    queue = IngestQueue(storage, lambda: catalogs, max_spans=64, deciding_spans=4)
    stop = threading.Event()
    decided = [0]

    def flood() -> None:
        while not stop.is_set():
            storage.submit(lambda conn: None, store.Priority.DECISION).result(timeout=30)
            decided[0] += 1

    callers = [threading.Thread(target=flood) for _ in range(4)]
    _decision(storage)
    for caller in callers:
        caller.start()
    try:
        request = batch(*(beat(run, 60) for run in range(40)))
        result = queue.submit(request).result(timeout=60)
    finally:
        stop.set()
        for caller in callers:
            caller.join(timeout=30)
    assert result.new_spans == 40
    assert queue.groups == 10  # 40 spans in jobs of 4
    assert decided[0] > 0
    assert _spans(storage) == 40

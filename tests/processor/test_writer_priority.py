"""The writer runs budget decisions ahead of queued ingest and bulk work (real DuckDB)."""

from __future__ import annotations

import threading

from genops_processor.storage import Priority, Storage


def test_a_decision_goes_ahead_of_every_queued_batch_and_bulk_job(tmp_path):
    ran: list[str] = []
    release = threading.Event()
    with Storage(tmp_path / "ledger.duckdb") as storage:
        running = storage.submit(lambda conn: release.wait(30))  # holds the writer
        queued = [
            storage.submit(lambda conn, n=n: ran.append(n), priority)
            for n, priority in (
                ("bulk-1", Priority.BULK),
                ("ingest-1", Priority.NORMAL),
                ("ingest-2", Priority.NORMAL),
                ("bulk-2", Priority.BULK),
                ("decision-1", Priority.DECISION),
                ("ingest-3", Priority.NORMAL),
                ("decision-2", Priority.DECISION),
            )
        ]
        release.set()
        running.result(timeout=30)
        for future in queued:
            future.result(timeout=30)
    assert ran == [
        "decision-1",
        "decision-2",
        "ingest-1",
        "ingest-2",
        "ingest-3",
        "bulk-1",
        "bulk-2",
    ]


def test_close_finishes_every_queued_job_first(tmp_path):
    release = threading.Event()
    storage = Storage(tmp_path / "ledger.duckdb").open()
    storage.submit(lambda conn: release.wait(30))
    futures = [
        storage.submit(lambda conn, n=n: conn.execute("SELECT ?", [n]).fetchone()[0], priority)
        for n, priority in enumerate((Priority.BULK, Priority.DECISION, Priority.NORMAL))
    ]
    release.set()
    storage.close()
    assert [f.result(timeout=0) for f in futures] == [0, 1, 2]

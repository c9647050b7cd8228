"""The ledger's checkpoints, run beside the writer instead of inside one of its commits.

DuckDB moves its write-ahead log into the database file (a checkpoint) in the commit
that takes the log past ``checkpoint_threshold``: that commit, and every job queued
behind it on the writer, waits for the checkpoint. On the year-seeded ledger one took
100-140 ms at 16 MB of log, the first after start 0.4-0.8 s; they set the p99 of
budget decisions (a fleet of 8,000 runs: check p99 63-171 ms, the slow checks bunched
behind ingest jobs of 180-280 ms whose commit checkpointed; bench/profiles).

:class:`Checkpointer` runs ``CHECKPOINT`` from its own thread on a cursor of the
writer's database once the log reaches ``LEDGER_CHECKPOINT_WAL_BYTES``, started by the
writer between two jobs (no transaction of its own open). While it runs, DuckDB makes
any statement that reads or writes a table wait for it, so the writer only takes budget
decisions (most of them touch no table: their rows go to the decision journal, their
state is in memory, storage/journal.py) and keeps every other job aside, in its order,
until the checkpoint ends (storage/writer.py). DuckDB's own checkpoint stays as a safety
net at ``SAFETY_NET`` times the threshold, should these fail or fall behind. A failure
is logged and tried again ``RETRY_S`` later; the log keeps what was committed. So is a
checkpoint that left the log as large (none has here; it would otherwise start again
at once and keep the writer's other jobs aside for good).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_log = logging.getLogger(__name__)
SAFETY_NET = 4  # DuckDB's own checkpoint_threshold, in thresholds of ours
RETRY_S = 5.0  # after a failed checkpoint, before the next try


class Checkpointer:
    """Checkpoints of one writer's database, one at a time, on a thread of their own.

    The writer thread asks :meth:`due` between jobs and calls :meth:`start`; the
    checkpoint thread calls ``done()`` when it ends (the writer then takes its other
    jobs again and calls :meth:`ended`)."""

    def __init__(self, conn: Any, path: Path, wal_bytes: int, done: Callable[[], None]) -> None:
        self.wal = path.with_name(path.name + ".wal")
        self.wal_bytes = wal_bytes
        self.running = False  # the writer's view: set by start(), cleared by ended()
        self.taken = 0  # checkpoints that succeeded
        self.failed = 0
        self.last_seconds = 0.0
        self._done = done
        self._retry_at = 0.0
        self._cursor = conn.cursor()  # a second connection to the same database
        self._cursor.execute(f"SET checkpoint_threshold = '{wal_bytes * SAFETY_NET}B'")
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(
            target=self._loop, name="genops-duckdb-checkpoint", daemon=True
        )
        self._thread.start()

    def due(self) -> bool:
        """The log has reached the threshold and no checkpoint runs or waits to retry."""
        if self.running or time.monotonic() < self._retry_at:
            return False
        return self._wal_size() >= self.wal_bytes

    def _wal_size(self) -> int:
        try:
            return self.wal.stat().st_size
        except OSError:  # no log: nothing to move
            return 0

    def start(self) -> None:
        self.running = True
        self._wake.set()

    def ended(self) -> None:
        self.running = False

    def stop(self) -> None:
        """After the one running (if any) ends; closes the cursor."""
        self._stopping = True
        self._wake.set()
        self._thread.join()
        try:
            self._cursor.close()
        except Exception:  # noqa: S110 - closing; the writer's connection closes next
            pass

    def checkpoint(self, cursor: Any) -> None:
        """The statement (a test replaces it to hold a checkpoint open)."""
        cursor.execute("CHECKPOINT")

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            started = time.monotonic()
            try:
                self.checkpoint(self._cursor)
            except Exception as error:  # the log keeps what was committed
                self.failed += 1
                self._retry_at = time.monotonic() + RETRY_S
                _log.warning(
                    "checkpoint of %s failed (tried again in %.0f s): %s",
                    self.wal.with_suffix(""),
                    RETRY_S,
                    " ".join(str(error).split())[:300],
                )
            else:
                self.taken += 1
                self.last_seconds = time.monotonic() - started
                if self._wal_size() >= self.wal_bytes:  # not moved: no loop of checkpoints
                    self._retry_at = time.monotonic() + RETRY_S
            finally:
                self._done()

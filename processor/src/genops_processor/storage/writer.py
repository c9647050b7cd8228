"""The DuckDB writer: the only module that imports duckdb.

One connection, owned by one writer thread; callers submit ``fn(conn)`` and
get a future (await it with :func:`asyncio.wrap_future`). The SQL lives with
the packages that own it (ingest writes, budget decisions, analytics reads)
and in :mod:`genops_processor.storage.queries` and ``run_rows``; they receive
the connection and never open one.

Jobs wait in a priority queue: a budget decision (``Priority.DECISION``) goes
ahead of every ingest batch and bulk job queued before it, so its latency is
its own work plus at most the one job already running. Within a priority,
jobs run in the order they were submitted.
"""

from __future__ import annotations

import concurrent.futures
import enum
import itertools
import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import duckdb

from genops_processor.storage.schema import SCHEMA, migrate

_log = logging.getLogger(__name__)
T = TypeVar("T")
Connection = duckdb.DuckDBPyConnection


class StorageError(RuntimeError):
    pass


class Priority(enum.IntEnum):
    """Lower runs first."""

    DECISION = 0  # budget checks, run checks, holds, approvals: a client waits on each
    NORMAL = 1  # ingest batches, small reads
    BULK = 2  # analytics, offline-decision reports, re-pricing, rule evaluation
    _CLOSE = 3  # after everything queued


class Storage:
    def __init__(self, path: str | Path, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._jobs: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._opened = threading.Event()
        self._open_error: BaseException | None = None

    # -- lifecycle -----------------------------------------------------------------
    def open(self) -> Storage:
        if self.read_only and not self.path.exists():
            raise StorageError(f"no database at {self.path}")
        self._thread = threading.Thread(target=self._run, name="genops-duckdb-writer", daemon=True)
        self._thread.start()
        self._opened.wait()
        if self._open_error is not None:
            raise StorageError(f"cannot open {self.path}: {self._open_error}")
        return self

    def close(self) -> None:
        """Finish queued work, checkpoint and close. Idempotent."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._jobs.put((Priority._CLOSE, next(self._order), None, None))
        thread.join()

    def __enter__(self) -> Storage:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(
        self, fn: Callable[[Connection], T], priority: Priority = Priority.NORMAL
    ) -> concurrent.futures.Future:
        if self._thread is None:
            raise StorageError("storage is closed")
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._jobs.put((priority, next(self._order), fn, future))
        return future

    def call(self, fn: Callable[[Connection], T], priority: Priority = Priority.NORMAL) -> T:
        return self.submit(fn, priority).result()

    def _run(self) -> None:
        try:
            if not self.read_only:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = duckdb.connect(str(self.path), read_only=self.read_only)
            if not self.read_only:
                conn.execute(SCHEMA)
                if added := migrate(conn):
                    _log.info("%s: added and filled %s", self.path, ", ".join(added))
        except BaseException as error:  # reported to open()
            self._open_error = error
            self._opened.set()
            return
        self._opened.set()
        try:
            while (job := self._jobs.get())[2] is not None:
                _, _, fn, future = job
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    future.set_result(fn(conn))
                except BaseException as error:
                    future.set_exception(error)
        finally:
            if not self.read_only:
                conn.execute("CHECKPOINT")
            conn.close()

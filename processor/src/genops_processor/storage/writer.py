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

A failure of the file underneath (disk full, read-only, locked by another
process, not a ledger) reaches callers as a :class:`StorageError` whose one-line
message names that cause, whatever DuckDB error it surfaced as (a failed commit
is followed by "cannot rollback - no transaction is active", which hides it).
"""

from __future__ import annotations

import concurrent.futures
import enum
import itertools
import logging
import queue
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import duckdb

from genops_processor.storage.schema import SCHEMA, migrate

_log = logging.getLogger(__name__)
T = TypeVar("T")
Connection = duckdb.DuckDBPyConnection


class StorageError(RuntimeError):
    """The ledger file cannot be used; the message is one line naming the cause."""


# What the operating system said, as DuckDB quotes it -> the cause we name.
_OS_CAUSES = (
    ("No space left on device", "disk full"),
    ("Disk quota exceeded", "disk quota exceeded"),
    ("Read-only file system", "read-only file system"),
    ("Permission denied", "permission denied"),
)


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def storage_cause(error: BaseException, path: str | Path) -> str | None:
    """One line naming why the ledger file failed (the first such cause in the error's
    chain), or None when the error is not about the file."""
    for each in _chain(error):
        text = str(each)
        if "Could not set lock on file" in text:
            pid = re.search(r"\(PID (\d+)\)", text)
            held = f" (PID {pid.group(1)})" if pid else ""
            return f"{path} is locked by another process{held}"
        if "not a valid DuckDB database file" in text:
            return f"{path} is not a DuckDB ledger"
        for phrase, cause in _OS_CAUSES:
            if phrase in text:
                file = re.search(r'file "([^"]+)"', text)
                return f"{cause}: cannot write {file.group(1) if file else path}"
        if "database has been invalidated" in text:
            return f"{path} was closed after an earlier write failed; restart to recover"
    return None


def as_storage_error(error: BaseException, path: str | Path) -> BaseException:
    """A StorageError naming the file's failure, or the error itself when it is another."""
    if isinstance(error, StorageError):
        return error
    cause = storage_cause(error, path)
    if cause is None:
        return error
    mapped = StorageError(cause)
    mapped.__cause__ = error
    return mapped


# Called with the connection after a rollback (a transaction() that failed, a writer job
# that raised): state kept beside the table, as the audit chain's head, is read again.
_rollback_hooks: list[Callable[[Connection], None]] = []


def on_rollback(hook: Callable[[Connection], None]) -> None:
    _rollback_hooks.append(hook)


def rolled_back(conn: Connection) -> None:
    for hook in _rollback_hooks:
        hook(conn)


@contextmanager
def transaction(conn: Connection) -> Iterator[Connection]:
    """BEGIN ... COMMIT; on an error ROLLBACK, and the error that caused it propagates
    (a rollback that fails because the commit already ended the transaction is ignored)."""
    conn.begin()
    try:
        yield conn
        conn.commit()
    except BaseException:
        try:
            conn.rollback()
        except duckdb.Error:
            pass  # the transaction is already gone; keep the real error
        rolled_back(conn)
        raise


class Priority(enum.IntEnum):
    """Lower runs first."""

    DECISION = 0  # budget checks, run checks, holds, approvals: a client waits on each
    NORMAL = 1  # ingest batches, small reads
    BULK = 2  # analytics, offline-decision reports, re-pricing, rule evaluation
    _CLOSE = 3  # after everything queued


class Storage:
    """``create=False`` refuses a file that does not exist (a command that reads or
    repairs a ledger must not make an empty one)."""

    def __init__(self, path: str | Path, read_only: bool = False, create: bool = True) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.create = create and not read_only
        self._jobs: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._opened = threading.Event()
        self._open_error: BaseException | None = None

    # -- lifecycle -----------------------------------------------------------------
    def open(self) -> Storage:
        if not self.create and not self.path.exists():
            raise StorageError(f"no ledger at {self.path}")
        if self.path.is_dir():
            raise StorageError(f"{self.path} is a directory, not a ledger file")
        made = self._missing_parts()
        self._thread = threading.Thread(target=self._run, name="genops-duckdb-writer", daemon=True)
        self._thread.start()
        self._opened.wait()
        if self._open_error is not None:
            self._thread = None
            for part in made:  # nothing left behind by a failed create
                _remove(part)
            error = self._open_error
            cause = storage_cause(error, self.path) or " ".join(str(error).split())
            raise StorageError(f"cannot open {self.path}: {cause}") from error
        return self

    def _missing_parts(self) -> list[Path]:
        """What a create makes (WAL, file, missing folders, innermost first); nothing when
        the file is there: its WAL may be another process's."""
        if self.path.exists():
            return []
        wal = self.path.with_name(self.path.name + ".wal")
        return [wal, self.path, *(p for p in self.path.parents if not p.exists())]

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
        conn = None
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
            if conn is not None:
                _close_quietly(conn)
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
                    rolled_back(conn)
                    future.set_exception(as_storage_error(error, self.path))
        finally:
            if not self.read_only:
                try:
                    conn.execute("CHECKPOINT")
                except duckdb.Error as error:  # the WAL keeps what was committed
                    # info, not error: a command line's one-line error already names it
                    _log.info("checkpoint of %s failed: %s", self.path, _one_line(error, self.path))
            _close_quietly(conn)


def _one_line(error: BaseException, path: Path) -> str:
    return storage_cause(error, path) or " ".join(str(error).split())


def _close_quietly(conn: Connection) -> None:
    try:
        conn.close()
    except duckdb.Error:
        pass


def _remove(path: Path) -> None:
    try:
        path.rmdir() if path.is_dir() else path.unlink(missing_ok=True)
    except OSError:
        pass  # not empty or not ours to remove

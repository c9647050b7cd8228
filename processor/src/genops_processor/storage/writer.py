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

Decisions are committed in groups: the decision jobs waiting together at the head of
the queue (submitted with ``group=True``, at most ``DECISION_GROUP_MAX``) run in one
transaction, and each caller's future is resolved only after the commit that holds
its work (one commit for the group instead of one per statement). When one of them
fails, the transaction is rolled back and each job of the group runs again alone in
a transaction of its own: only the failing one fails.

Jobs see the connection through :class:`Connection`, which adds transaction hooks:
``on_rollback(fn)`` (memory kept beside the ledger is put back when the transaction
holding its change rolls back) and ``on_commit(fn)`` (effects that must not outlive
a rolled-back transaction).

DuckDB's checkpoints run beside the writer (:mod:`storage.checkpoints`): while one
runs, the writer takes only budget decisions and keeps every other job aside, in its
order, until it ends.

Reads that would hold the writer too long and need only what is committed (the
figures /metrics shows) run in their caller's thread on a second connection through
:meth:`Storage.read`, as backups read their snapshot.

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
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import duckdb

from genops_processor.limits import (
    DECISION_GROUP_MAX,
    JOURNAL_APPLY_DELAY_S,
    JOURNAL_APPLY_ROWS,
    LEDGER_CHECKPOINT_WAL_BYTES,
)
from genops_processor.storage.checkpoints import Checkpointer
from genops_processor.storage.columnwise import Plans, insert_rows
from genops_processor.storage.journal import Journal, JournalError, journal_path, replay
from genops_processor.storage.memory_limit import MemoryLimit
from genops_processor.storage.schema import SCHEMA, migrate

_log = logging.getLogger(__name__)
T = TypeVar("T")


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
    if cause is None and isinstance(error, JournalError):
        cause = " ".join(str(error).split())
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


class Connection:
    """The writer's DuckDB connection as jobs see it (every other attribute is DuckDB's).

    ``begin``/``commit``/``rollback`` nest: inside an open transaction (a group of
    decisions) a job's own transaction is part of it; a rollback at any depth rolls the
    whole transaction back (and marks it ``aborted`` for the group runner). DuckDB's
    BEGIN is sent with the first statement: a transaction that only read memory costs
    nothing. Rows given to :meth:`append` inside a transaction are inserted together,
    one statement per table, before the next statement or the commit."""

    __slots__ = (
        "_conn",
        "_depth",
        "_begun",
        "_rows",
        "_undo",
        "_done",
        "_journal",
        "_plans",
        "aborted",
        "timed",
        "__weakref__",
    )

    def __init__(self, conn: duckdb.DuckDBPyConnection, journal: Journal | None = None) -> None:
        self._conn = conn
        self._journal = journal  # where a transaction that only appended rows commits
        self._plans: Plans = {}  # Arrow plans of the templates of rows appended here
        # Told the seconds of each DuckDB commit (pending rows and COMMIT): /metrics.
        self.timed: Callable[[float], object] | None = None
        self._depth = 0
        self._begun = False  # DuckDB's BEGIN sent
        self._rows: dict[tuple[str, str], list] = {}  # (INSERT ... VALUES, row) -> params
        self._undo: list[Callable[[], object]] = []
        self._done: list[Callable[[], object]] = []
        self.aborted = False

    def __getattr__(self, name: str):
        # registering an Arrow table reads no table; anything else may
        self._ready("" if name in ("register", "unregister") else None)
        return getattr(self._conn, name)

    def execute(self, *args, **kwargs):
        sql = args[0] if args else kwargs.get("query")
        self._ready(sql if isinstance(sql, str) else None)
        return self._conn.execute(*args, **kwargs)

    def append(self, insert: str, row: str, params: list) -> None:
        """``insert + row`` with ``params``: now outside a transaction; inside one, with
        the other rows of the same insert in one statement."""
        self.append_many(insert, row, [params])

    def append_many(self, insert: str, row: str, rows: list[list]) -> None:
        """:meth:`append` for many rows: inside a transaction with its other rows;
        outside one, now (journaled rows it may need applied first, as for any
        statement), in one statement (:func:`~.columnwise.insert_rows`)."""
        if self._depth:
            self._rows.setdefault((insert, row), []).extend(rows)
        elif rows:
            self._ready(insert)
            insert_rows(self._conn, {(insert, row): rows}, self._plans)

    def _ready(self, sql: str | None) -> None:
        """Before statement ``sql`` (None: not known): journaled rows it may read
        applied (before the transaction, or within it once begun), BEGIN sent, this
        transaction's rows inserted."""
        journal = self._journal
        needed = journal is not None and journal.needed_by(sql)
        if needed and not self._begun:
            journal.apply(self._conn)
            needed = False
        if self._depth and not self._begun:
            self._conn.begin()
            self._begun = True
        if needed:
            seq = journal.apply_within(self._conn)
            self._done.append(lambda: journal.applied_through(seq))
        if self._rows:
            rows, self._rows = self._rows, {}
            insert_rows(self._conn, rows, self._plans)

    def journal_due_in(self) -> float | None:
        """Seconds until journaled rows are due in the ledger (None: none pending)."""
        if self._journal is None:
            return None
        if self._journal.pending_rows >= JOURNAL_APPLY_ROWS:
            return 0.0
        return self._journal.due_in(JOURNAL_APPLY_DELAY_S)

    def apply_journal(self) -> None:
        """Journaled rows into the ledger now (outside any transaction)."""
        if self._journal is not None and not self._depth:
            self._journal.apply(self._conn)

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def on_rollback(self, undo: Callable[[], object]) -> None:
        """Call ``undo`` if the open transaction rolls back (none open: never)."""
        if self._depth:
            self._undo.append(undo)

    def on_commit(self, fn: Callable[[], object]) -> None:
        """Call ``fn`` once the open transaction commits (none open: now)."""
        if self._depth:
            self._done.append(fn)
        else:
            fn()

    def begin(self) -> Connection:
        self._depth += 1
        return self

    def commit(self) -> Connection:
        if self._depth > 1:
            self._depth -= 1
            return self
        if not self._depth:
            self._conn.commit()  # DuckDB's own error: no transaction is active
            return self
        started = time.perf_counter()
        try:
            if self._rows and not self._begun and self._journal is not None:
                # only rows appended, no statement: durable in the journal (see its doc)
                rows, self._rows = self._rows, {}
                self._journal.write(rows)
                if self.timed is not None:
                    self.timed(time.perf_counter() - started)
            elif self._rows:
                self._ready("")  # its own rows only
            if self._begun:
                self._conn.commit()
                if self.timed is not None:
                    self.timed(time.perf_counter() - started)
        except BaseException:
            if self._begun:
                try:
                    self._conn.rollback()
                except duckdb.Error:
                    pass  # a failed commit ended the transaction already
            self._ended(committed=False)
            raise
        self._ended(committed=True)
        return self

    def rollback(self) -> Connection:
        if not self._depth:
            self._conn.rollback()  # DuckDB's own error: no transaction is active
            return self
        self.aborted = self._depth > 1  # a job inside a group rolled the group back
        try:
            if self._begun:
                self._conn.rollback()
        finally:
            self._ended(committed=False)
        return self

    def _ended(self, committed: bool) -> None:
        self._depth, self._begun, self._rows = 0, False, {}
        undo, done = self._undo, self._done
        self._undo, self._done = [], []
        for fn in done if committed else reversed(undo):
            fn()
        if not committed:
            rolled_back(self)


class Priority(enum.IntEnum):
    """Lower runs first."""

    _CHECKPOINTED = -1  # a checkpoint beside the writer ended: the jobs kept aside go on
    DECISION = 0  # budget checks, run checks, holds, approvals: a client waits on each
    NORMAL = 1  # ingest batches, small reads
    BULK = 2  # analytics, offline-decision reports, re-pricing, rule evaluation
    _CLOSE = 3  # after everything queued


class Storage:
    """``create=False`` refuses a file that does not exist (a command that reads or
    repairs a ledger must not make an empty one)."""

    def __init__(
        self,
        path: str | Path,
        read_only: bool = False,
        create: bool = True,
        memory_limit_bytes: int | None = None,
        checkpoint_wal_bytes: int = LEDGER_CHECKPOINT_WAL_BYTES,
    ) -> None:
        self.path = Path(path)
        if checkpoint_wal_bytes <= 0:
            raise ValueError(f"checkpoint_wal_bytes must be positive, not {checkpoint_wal_bytes}")
        # a write-ahead log this large is checkpointed beside the writer (checkpoints.py)
        self.checkpoint_wal_bytes = checkpoint_wal_bytes
        self.checkpoints: Checkpointer | None = None
        self._kept_aside: list[tuple] = []  # queue items held while a checkpoint runs
        # DuckDB's memory_limit (None: its own, 80 % of RAM): it keeps the file's blocks it
        # read or wrote cached up to it, so the limit bounds the process's memory too; a
        # limit given is raised to what the key indexes need (storage/memory_limit.py)
        self.memory_limit_bytes = memory_limit_bytes
        self.memory_limit: MemoryLimit | None = None
        self.read_only = read_only
        self.create = create and not read_only
        self._jobs: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._opened = threading.Event()
        self._open_error: BaseException | None = None
        self.commit_timed: Callable[[float], object] | None = None  # see Connection.timed
        self._reader = None  # a cursor for read(), opened with the writer's connection
        self._read_lock = threading.Lock()
        self._last_decision = float("-inf")  # time.monotonic() of the last decision submitted

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
        made = [journal_path(self.path), wal, self.path]
        return [*made, *(p for p in self.path.parents if not p.exists())]

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
        self,
        fn: Callable[[Connection], T],
        priority: Priority = Priority.NORMAL,
        group: bool = False,
    ) -> concurrent.futures.Future:
        """Queue ``fn(conn)``. ``group``: a short job that may share a transaction (and
        its commit) with the decision jobs queued beside it (see the module's doc); it
        must not open or end transactions of its own."""
        if self._thread is None:
            raise StorageError("storage is closed")
        future: concurrent.futures.Future = concurrent.futures.Future()
        if priority == Priority.DECISION:
            self._last_decision = time.monotonic()
        self._jobs.put((priority, next(self._order), _Job(fn, group), future))
        return future

    def deciding(self, within_s: float) -> bool:
        """A decision job was submitted in the last ``within_s`` seconds (clients are
        waiting on decisions now or are likely to soon)."""
        return time.monotonic() - self._last_decision <= within_s

    def decision_waiting(self) -> bool:
        """A decision job is queued: a long job that can stop early (an ingest group
        taking more batches) should, and let it go first."""
        with self._jobs.mutex:
            return bool(self._jobs.queue) and self._jobs.queue[0][0] == Priority.DECISION

    def read(self, fn: Callable[[Connection], T]) -> T:
        """``fn(cursor)`` in the calling thread on a second connection that sees what is
        committed: a long read that never holds up the writer's jobs (one at a time;
        ``fn`` must only read)."""
        with self._read_lock:
            if self._reader is None:
                raise StorageError("storage is closed")
            try:
                return fn(self._reader)
            except BaseException as error:
                raise as_storage_error(error, self.path) from error

    def _commit_took(self, seconds: float) -> None:
        if self.commit_timed is not None:
            self.commit_timed(seconds)

    def queue_depth(self) -> int:
        """Jobs waiting for the writer (not the one running; with those a checkpoint keeps
        aside)."""
        return self._jobs.qsize() + len(self._kept_aside)

    def call(self, fn: Callable[[Connection], T], priority: Priority = Priority.NORMAL) -> T:
        return self.submit(fn, priority).result()

    def _run(self) -> None:
        conn, journal = None, None
        try:
            if not self.read_only:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            else:
                _apply_journal_before_reading(self.path)
            conn = duckdb.connect(str(self.path), read_only=self.read_only)
            # set once, by fit, before the first statement and the journal's replay writes
            # (a limit in the connect config would bind a leftover WAL's replay at
            # connect before the raise for large indexes)
            if self.memory_limit_bytes is not None:
                self.memory_limit = MemoryLimit(self.memory_limit_bytes, str(self.path))
                self.memory_limit.fit(conn)
            if not self.read_only:
                conn.execute(SCHEMA)
                if added := migrate(conn):
                    _log.info("%s: brought up to date: %s", self.path, ", ".join(added))
                journal = Journal(self.path)
                journal.open(conn)
                self.checkpoints = Checkpointer(
                    conn, self.path, self.checkpoint_wal_bytes, self._checkpointed
                )
        except BaseException as error:  # reported to open()
            self._open_error = error
            if conn is not None:
                _close_quietly(conn)
            self._opened.set()
            return
        if not self.read_only:  # a cursor is a second connection to the same database
            self._reader = conn.cursor()
        self._opened.set()
        jobs = Connection(conn, journal)
        jobs.timed = self._commit_took  # commit_timed may be set after open()
        try:
            while (item := self._next(jobs))[2] is not None:
                _, _, job, future = item
                if self.memory_limit is not None and not self._checkpointing():
                    self._fit_memory(conn)
                if not future.set_running_or_notify_cancel():
                    continue
                if job.group:
                    self._run_group(jobs, [(job, future), *self._grouped()])
                    continue
                try:
                    future.set_result(job.fn(jobs))
                except BaseException as error:
                    rolled_back(jobs)
                    future.set_exception(as_storage_error(error, self.path))
        finally:
            if self.checkpoints is not None:
                self.checkpoints.stop()
            with self._read_lock:
                reader, self._reader = self._reader, None
                if reader is not None:
                    _close_quietly(reader)
            if journal is not None:
                try:
                    journal.close(conn)
                except (duckdb.Error, OSError) as error:  # applied at the next open
                    _log.info(
                        "journal of %s not applied: %s", self.path, _one_line(error, self.path)
                    )
            if not self.read_only:
                try:
                    conn.execute("CHECKPOINT")
                except duckdb.Error as error:  # the WAL keeps what was committed
                    # info, not error: a command line's one-line error already names it
                    _log.info("checkpoint of %s failed: %s", self.path, _one_line(error, self.path))
            _close_quietly(conn)

    def _fit_memory(self, conn: duckdb.DuckDBPyConnection) -> None:
        """Raise the memory limit when the key indexes have grown (due once a
        LEDGER_MEMORY_RECHECK_S); a failure is logged and the jobs go on."""
        try:
            self.memory_limit.fit(conn)
        except duckdb.Error as error:
            _log.warning(
                "memory limit of %s not checked: %s", self.path, _one_line(error, self.path)
            )

    def _checkpointing(self) -> bool:
        return self.checkpoints is not None and self.checkpoints.running

    def _checkpointed(self) -> None:
        """From the checkpoint thread: wake the writer to take its other jobs again."""
        self._jobs.put((Priority._CHECKPOINTED, next(self._order), _CHECKPOINT_ENDED, None))

    def _next(self, jobs: Connection) -> tuple:
        """The next job. A checkpoint that is due starts beside the writer; while it runs,
        only budget decisions are taken, the other jobs are kept aside and queued again,
        with their places, when it ends. Journaled rows that are due (JOURNAL_APPLY_ROWS
        of them, or the oldest JOURNAL_APPLY_DELAY_S old) go into the ledger first, also
        while jobs keep coming; a failure leaves them pending in the journal and the jobs
        go on."""
        while True:
            if self.checkpoints is not None and self.checkpoints.due():
                self.checkpoints.start()
            if self._checkpointing():
                item = self._jobs.get()
                if item[2] is _CHECKPOINT_ENDED:
                    self.checkpoints.ended()
                    for kept in self._kept_aside:
                        self._jobs.put(kept)  # same (priority, order): same place
                    self._kept_aside.clear()
                elif item[0] != Priority.DECISION:
                    self._kept_aside.append(item)
                else:
                    return item
                continue
            due = jobs.journal_due_in()
            if due == 0.0:
                try:
                    jobs.apply_journal()
                except (duckdb.Error, OSError) as error:
                    _log.warning(
                        "journal of %s not applied yet: %s", self.path, _one_line(error, self.path)
                    )
                    time.sleep(JOURNAL_APPLY_DELAY_S)
                    return self._jobs.get()
                continue
            try:
                return self._jobs.get(timeout=due) if due is not None else self._jobs.get()
            except queue.Empty:
                continue  # due now

    def _grouped(self) -> list[tuple[_Job, concurrent.futures.Future]]:
        """The group jobs queued right behind the one taken (one writer takes jobs)."""
        taken = []
        while len(taken) + 1 < DECISION_GROUP_MAX:
            try:
                item = self._jobs.get_nowait()
            except queue.Empty:
                break
            if item[2] is None or not item[2].group:
                self._jobs.put(item)  # same (priority, order): it keeps its place
                break
            if item[3].set_running_or_notify_cancel():
                taken.append((item[2], item[3]))
        return taken

    def _run_group(self, conn: Connection, group: list[tuple[_Job, concurrent.futures.Future]]):
        """One transaction, one commit; answers only after it. On a failure, each again
        alone."""
        results = []
        try:
            conn.begin()
            for job, _ in group:
                results.append(job.fn(conn))
                if conn.aborted or not conn.in_transaction:
                    raise _GroupFailed
            conn.commit()
        except BaseException as error:
            conn.aborted = False
            if conn.in_transaction:
                try:
                    conn.rollback()
                except duckdb.Error:
                    pass  # already gone; each job runs again below
            if len(group) == 1 and not isinstance(error, _GroupFailed):
                group[0][1].set_exception(as_storage_error(error, self.path))
                return
            for job, future in group:
                self._run_alone(conn, job, future)
            return
        for (_, future), result in zip(group, results, strict=True):
            future.set_result(result)

    def _run_alone(self, conn: Connection, job: _Job, future) -> None:
        try:
            conn.begin()
            try:
                result = job.fn(conn)
                conn.commit()
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise
            future.set_result(result)
        except BaseException as error:
            conn.aborted = False
            future.set_exception(as_storage_error(error, self.path))


class _GroupFailed(Exception):
    """A job of a group rolled the group's transaction back."""


class _Job:
    __slots__ = ("fn", "group")

    def __init__(self, fn: Callable[[Connection], object], group: bool) -> None:
        self.fn, self.group = fn, group

    def __lt__(self, other: _Job) -> bool:  # never compared: (priority, order) is unique
        return False


_CHECKPOINT_ENDED = _Job(lambda conn: None, False)  # queued by Storage._checkpointed


def _apply_journal_before_reading(path: Path) -> None:
    """A ledger opened to read after its processor stopped without closing it may have
    journaled decisions not in the file yet: apply them first (read-write, briefly),
    or say that they are missing from what is read."""
    journal = journal_path(path)
    if not journal.exists() or not journal.stat().st_size or not path.exists():
        return
    try:
        conn = duckdb.connect(str(path))
        try:
            replay(conn, journal)
        finally:
            conn.close()
    except (duckdb.Error, OSError) as error:
        _log.warning(
            "%s: journaled decisions not applied (%s); start the processor on the ledger "
            "to apply them",
            path,
            _one_line(error, path),
        )


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

"""Ingest jobs on the writer: bounded in size, grouped under one commit.

Each OTLP request hands its decoded batch to :class:`IngestQueue`. A batch larger than a
job's size is split into parts stored by consecutive writer jobs (in order; the request is
answered after its last part's commit), so a budget decision, which goes ahead of every
queued ingest job, waits at most for one job of that size, never for a whole large
request. A job's size depends on whether budget decisions are being made: while one was
submitted in the last ``DECISIONS_RECENT_S``, ``INGEST_JOB_SPANS_DECIDING`` spans (short
jobs: a decision waits less); otherwise up to ``INGEST_JOB_MAX_SPANS`` (fewer commits and
statements a span). One writer job at a time takes the parts waiting (up to that many
spans; it stops taking when a decision is queued), stores them with one commit
(:func:`~genops_processor.ingest.write.ingest_batches`) and only then answers each;
the parts that came meanwhile go to the next job. A lone small request is stored alone
at once. A failure between the parts of a request fails the request: its client
resends it, and the parts already stored are recognised as duplicates (idempotency).
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable

from genops_processor.domain import Batch
from genops_processor.ingest.write import IngestResult, combine, ingest_batches, split
from genops_processor.limits import (
    DECISIONS_RECENT_S,
    INGEST_JOB_MAX_SPANS,
    INGEST_JOB_SPANS_DECIDING,
)
from genops_processor.pricing import CatalogSource
from genops_processor.storage import Storage, as_storage_error

_Waiting = tuple[Batch, concurrent.futures.Future]


class IngestQueue:
    def __init__(
        self,
        storage: Storage,
        catalogs: Callable[[], CatalogSource],
        max_spans: int = INGEST_JOB_MAX_SPANS,
        deciding_spans: int = INGEST_JOB_SPANS_DECIDING,
    ) -> None:
        self._storage = storage
        self._catalogs = catalogs
        self.max_spans = max_spans  # a job's spans when no decision is being made
        self.deciding_spans = min(deciding_spans, max_spans)  # and while one is
        self._waiting: list[_Waiting] = []
        self._lock = threading.Lock()
        self._queued = False  # a writer job that will take what waits is queued
        self.groups = 0  # commits made (tests and profiles)

    def submit(self, batch: Batch) -> concurrent.futures.Future:
        """Store ``batch``; the future holds its :class:`IngestResult` once committed."""
        parts = split(batch, self.job_spans())
        if len(parts) == 1:
            return self._submit_part(batch)
        return _all_of([self._submit_part(part) for part in parts])

    def job_spans(self) -> int:
        """The spans a job holds now: fewer while budget decisions are being made."""
        if self._storage.deciding(DECISIONS_RECENT_S):
            return self.deciding_spans
        return self.max_spans

    def _submit_part(self, batch: Batch) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            self._waiting.append((batch, future))
            if self._queued:
                return future
            self._queued = True
        self._queue_job()
        return future

    def _queue_job(self) -> None:
        try:
            self._storage.submit(self._store_waiting)
        except BaseException as error:  # storage closed: nothing will take them
            with self._lock:
                waiting, self._waiting, self._queued = self._waiting, [], False
            for _, future in waiting:
                if future.set_running_or_notify_cancel():
                    future.set_exception(error)

    def _take(self) -> list[_Waiting]:
        taken: list[_Waiting] = []
        spans = 0
        limit = self.job_spans()
        with self._lock:
            while self._waiting:
                batch = self._waiting[0][0]
                size = len(batch.usage) + len(batch.artifacts)
                size += len(batch.experiments) + len(batch.manual_costs)
                if taken and (spans + size > limit or self._storage.decision_waiting()):
                    break
                item = self._waiting.pop(0)
                if item[1].set_running_or_notify_cancel():  # its caller did not give up
                    taken.append(item)
                    spans += size
            more = bool(self._waiting)
            self._queued = more
        if more:
            self._queue_job()
        return taken

    def _store_waiting(self, conn) -> None:
        """The writer job: store what waits, answer each after the commit."""
        taken = self._take()
        if not taken:
            return
        try:
            results: list[IngestResult | BaseException] = list(
                ingest_batches(conn, [batch for batch, _ in taken], self._catalogs())
            )
        except BaseException as error:
            results = [error] * len(taken)
        self.groups += 1
        for (_, future), result in zip(taken, results, strict=True):
            if isinstance(result, BaseException):
                future.set_exception(as_storage_error(result, self._storage.path))
            else:
                future.set_result(result)


def _all_of(parts: list[concurrent.futures.Future]) -> concurrent.futures.Future:
    """One future for the parts of a request: their combined result once the last is
    committed, or the first failure. Cancelling it (the caller gave up) cancels the parts
    not yet taken by the writer."""
    whole: concurrent.futures.Future = concurrent.futures.Future()
    lock = threading.Lock()
    left = [len(parts)]

    def part_done(_: concurrent.futures.Future) -> None:
        with lock:
            left[0] -= 1
            if left[0]:
                return
        if not whole.set_running_or_notify_cancel():
            return
        failed = next((p for p in parts if p.cancelled() or p.exception() is not None), None)
        if failed is None:
            whole.set_result(combine([p.result() for p in parts]))
        elif failed.cancelled():
            whole.set_exception(concurrent.futures.CancelledError())
        else:
            whole.set_exception(failed.exception())

    def cancel_parts(done: concurrent.futures.Future) -> None:
        if done.cancelled():
            for part in parts:
                part.cancel()

    whole.add_done_callback(cancel_parts)
    for part in parts:
        part.add_done_callback(part_done)
    return whole

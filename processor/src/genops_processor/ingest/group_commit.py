"""Group commit: the ingest requests waiting for the writer are stored in one transaction.

Each OTLP request hands its decoded batch to :class:`IngestQueue`. One writer job at a
time takes the batches waiting (up to ``INGEST_GROUP_MAX_SPANS`` spans), stores them with
one commit (:func:`~genops_processor.ingest.write.ingest_batches`) and only then answers
each request; the batches that came meanwhile go to the next job, queued behind whatever
was submitted in between (a budget decision goes first). A commit costs about as much as
the writes of a batch of heartbeats, so under load this halves the writer's work per span
and leaves latency alone when there is no load (a lone request is stored alone at once).
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable

from genops_processor.domain import Batch
from genops_processor.ingest.write import IngestResult, ingest_batches
from genops_processor.limits import INGEST_GROUP_MAX_SPANS
from genops_processor.pricing import CatalogSource
from genops_processor.storage import Storage, as_storage_error

_Waiting = tuple[Batch, concurrent.futures.Future]


class IngestQueue:
    def __init__(
        self,
        storage: Storage,
        catalogs: Callable[[], CatalogSource],
        max_spans: int = INGEST_GROUP_MAX_SPANS,
    ) -> None:
        self._storage = storage
        self._catalogs = catalogs
        self.max_spans = max_spans
        self._waiting: list[_Waiting] = []
        self._lock = threading.Lock()
        self._queued = False  # a writer job that will take what waits is queued
        self.groups = 0  # commits made (tests and profiles)

    def submit(self, batch: Batch) -> concurrent.futures.Future:
        """Store ``batch``; the future holds its :class:`IngestResult` once committed."""
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
        with self._lock:
            while self._waiting:
                batch = self._waiting[0][0]
                size = len(batch.usage) + len(batch.artifacts)
                size += len(batch.experiments) + len(batch.manual_costs)
                if taken and spans + size > self.max_spans:
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

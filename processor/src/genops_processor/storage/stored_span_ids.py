"""Which span ids the ledger may hold: ingest's duplicate check reads the ledger only for
the spans that may be stored already.

Ingest keeps each span once by its ids (a retried request changes nothing, a reused id
with other content is rejected). Asking the ledger joins the batch's ids with every raw
span (``spans``) and every compacted id (``span_ids``): DuckDB scans both, since neither
is indexed (an index cost more than the spans: storage/schema.py), so each ingest job
paid for every span ever kept (256 ids against 100,000 spans 6.8 ms, 1 M 48 ms, 4 M 195
ms), which grew by the day at fleet scale.

:class:`StoredSpanIds` keeps the 64-bit DuckDB ``hash()`` of every stored id pair (in
its compact form, :func:`~.compaction.id_bytes`, so a raw span and its compacted ids
hash alike) in a :class:`~.hash_buckets.HashBuckets`: 8 bytes a span, read from the
ledger when the processor starts, or else when first needed (0.25 s for 1 M spans, 0.74
s for 4 M; the scan leaves the id columns in DuckDB's buffer cache, which it evicts under
``--ledger-memory-mb``). A batch's spans whose hash is
not in it are new without asking; the others (a retry, a reused id, a shared hash) are
checked against the ledger as before. It must know every id written: ingest (the only
writer of ``spans``) tells it; compaction and retention move ids from ``spans`` to
``span_ids`` (same hash); an id written by a transaction that rolled back, or deleted
since, stays known, which only costs that check.

Past ``SPAN_IDS_KEPT_MAX`` ids it stops (the memory is freed, logged once) and every
batch is checked against the ledger, as without it. Only the writer's connection keeps
one (:func:`stored_span_ids`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from genops_processor.limits import SPAN_IDS_KEPT_MAX
from genops_processor.storage.compaction import id_bytes
from genops_processor.storage.hash_buckets import HashBuckets, read_hashes
from genops_processor.storage.per_connection import PerConnection

_log = logging.getLogger(__name__)
_RAW_HASH = f"hash({id_bytes('trace_id')}, {id_bytes('span_id')})"
_READ = (
    f"SELECT h FROM (SELECT {_RAW_HASH} AS h FROM spans "
    "UNION ALL SELECT hash(trace_id, span_id) FROM span_ids) ORDER BY h"
)


class StoredSpanIds:
    def __init__(self) -> None:
        self._known: HashBuckets | None = None  # None: not read yet, or past the cap
        self.given_up = False  # past SPAN_IDS_KEPT_MAX: every batch asks the ledger
        self.reads = 0  # times read from the ledger (tests and profiles)
        self.skipped = 0  # spans found new without asking the ledger (tests and profiles)

    def hashes(self, conn: Any, table: str) -> dict[tuple[str, str], int]:
        """The hash of each (trace_id, span_id) of the registered table ``table``."""
        rows = conn.execute(f"SELECT trace_id, span_id, {_RAW_HASH} FROM {table}").fetchall()
        return {(row[0], row[1]): row[2] for row in rows}

    def maybe_stored(self, conn: Any, hashes: dict[tuple[str, str], int]) -> list | None:
        """The ids among ``hashes`` that may be stored (the ledger is asked about these
        only); None: all of them may be (past the cap)."""
        if self._known is None and not self.given_up:
            self.read(conn)
        known = self._known
        if known is None:
            return None
        maybe = [key for key, value in hashes.items() if value in known]
        self.skipped += len(hashes) - len(maybe)
        return maybe

    def written(self, values: Iterable[int]) -> None:
        """These hashes' spans were inserted (in the open transaction, if any)."""
        known = self._known
        if known is None:
            return  # not read yet: the ledger will hold them when it is
        known.update(values)
        if len(known) > SPAN_IDS_KEPT_MAX:
            self._give_up(len(known))

    def read(self, conn: Any) -> None:
        """Read the hashes of the stored ids from the ledger (again)."""
        if self.given_up:
            return
        count = conn.execute(
            "SELECT (SELECT count(*) FROM spans) + (SELECT count(*) FROM span_ids)"
        ).fetchone()[0]
        if count > SPAN_IDS_KEPT_MAX:
            self._give_up(count)
            return
        hashes = read_hashes(conn, _READ)
        self._known = HashBuckets.from_sorted(hashes)
        self.reads += 1

    def _give_up(self, count: int) -> None:
        self._known, self.given_up = None, True
        _log.warning(
            "%s span ids stored, more than SPAN_IDS_KEPT_MAX (%s): ingest's duplicate check "
            "reads the ledger for every batch from now on",
            f"{count:,}",
            f"{SPAN_IDS_KEPT_MAX:,}",
        )


_KEPT: PerConnection[StoredSpanIds] = PerConnection(StoredSpanIds)


def stored_span_ids(conn: Any) -> StoredSpanIds:
    """The stored span ids of this connection (one per connection, made when first asked)."""
    return _KEPT.get(conn)

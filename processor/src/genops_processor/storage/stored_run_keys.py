"""Which run keys the ledger may hold: lookups of runs it certainly does not hold skipped.

A run's first heartbeat looks its key up in ``runs`` (is it stored, whose is it); on a
ledger of a year of a 10,000-run/day fleet (3.65 M runs) such lookups took 6.1 s of the
12.3 s a processor's ingest jobs ran while 10,240 new runs started (32 keys a statement,
p50 2.8 ms, p99 44 ms; the index's pages of random keys are cold), and a key that is
not stored is looked up again by the next read in the same job.

:class:`StoredRunKeys` keeps the 64-bit DuckDB ``hash()`` of every stored run key, sorted
in one array (8 bytes a run: 29 MB for 3.65 M; read from the ledger when the processor
starts or else when first needed, 0.4 s for 3.65 M), and the hashes of keys written
since in a set. A key whose hash is in neither has no row and is not looked up; any
other is (a hash shared by two keys only costs that lookup). It must know every key
written: :func:`~.run_rows.store_runs` and :func:`~.run_rows.write_runs` (the only
writers of ``runs`` rows) tell it; a key written by a transaction that rolled back stays
known, which only costs a lookup. Only the writer's connection keeps one
(:func:`~.run_rows.run_cache`), so no other connection's view of the ledger can fall
behind it.
"""

from __future__ import annotations

import array
import bisect
from collections.abc import Sequence
from typing import Any

from genops_processor.storage.hash_buckets import read_hashes

# Past this many keys written since the sorted array was read, it is read again from the
# ledger (0.4 s for 3.65 M runs, about a week of a 10,000-run/day fleet's new runs).
ADDED_KEPT_MAX = 65_536
HASHES_KEPT_MAX = 8_192  # keys whose hash is kept once asked (about 1 MB)


class StoredRunKeys:
    def __init__(self) -> None:
        self._sorted: array.array | None = None  # hashes of the keys stored when read
        self._added: set[int] = set()  # hashes of keys written since
        # hashes of keys asked about lately (a new run's key is asked about, then
        # written, in the same job): one statement instead of three
        self._hashes: dict[str, int] = {}
        self.skipped = 0  # keys not looked up (tests and profiles)
        self.reads = 0  # times the sorted hashes were read from the ledger

    def maybe_stored(self, conn: Any, keys: Sequence[str]) -> list[str]:
        """The keys among ``keys`` that may have a ``runs`` row (in their order); the
        others certainly have none."""
        if not keys:
            return []
        if self._sorted is None:
            self.read(conn)
        stored, added = self._sorted, self._added
        kept = []
        for key, value in zip(keys, self._hashes_of(conn, keys), strict=True):
            if value in added:
                kept.append(key)
                continue
            at = bisect.bisect_left(stored, value)
            if at < len(stored) and stored[at] == value:
                kept.append(key)
        self.skipped += len(keys) - len(kept)
        return kept

    def written(self, conn: Any, keys: Sequence[str]) -> None:
        """These keys now have rows (in the open transaction, if any)."""
        if self._sorted is None or not keys:
            return  # read from the ledger when first needed: it will hold them
        self._added.update(self._hashes_of(conn, keys))
        if len(self._added) > ADDED_KEPT_MAX:
            self._sorted, self._added = None, set()

    def _hashes_of(self, conn: Any, keys: Sequence[str]) -> list[int]:
        known = self._hashes
        asked = [key for key in dict.fromkeys(keys) if key not in known]
        if asked:
            if len(known) + len(asked) > HASHES_KEPT_MAX:
                known.clear()
            known.update(zip(asked, _hashes(conn, asked), strict=True))
        return [known[key] for key in keys]

    def read(self, conn: Any) -> None:
        """Read the sorted hashes of the stored keys from the ledger (again)."""
        sorted_hashes = read_hashes(conn, "SELECT hash(run_key) AS h FROM runs ORDER BY h")
        self._sorted, self._added = sorted_hashes, set()
        self.reads += 1


def _hashes(conn: Any, keys: Sequence[str]) -> list[int]:
    """DuckDB's ``hash()`` of each key, in order."""
    rows = conn.execute(
        "SELECT hash(k) FROM unnest(?::VARCHAR[]) WITH ORDINALITY AS t(k, i) ORDER BY i",
        [list(keys)],
    ).fetchall()
    return [row[0] for row in rows]

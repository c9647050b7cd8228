"""A set of 64-bit hashes kept in sorted buckets: membership and insertion cost a bisect
and a short memmove, never a merge or a rebuild of the whole set.

The top ``BUCKET_BITS`` bits of a hash choose its bucket, an ``array('Q')`` kept sorted;
with uniform hashes a bucket holds ``len / 4,096`` of them (1 M: ~250, 50 M: ~12,000), so
inserting one moves at most a few dozen KiB inside its bucket. 8 bytes a hash, plus
~100 KiB for the empty buckets. Built from a sorted array in one pass (:meth:`from_sorted`),
as :func:`read_hashes` reads one from a DuckDB query (also stored_run_keys.py's array).
"""

from __future__ import annotations

import array
import bisect
import warnings
from collections.abc import Iterable
from typing import Any

BUCKET_BITS = 12
_SHIFT = 64 - BUCKET_BITS


class HashBuckets:
    __slots__ = ("_buckets", "size")

    def __init__(self) -> None:
        self._buckets = [array.array("Q") for _ in range(1 << BUCKET_BITS)]
        self.size = 0

    @classmethod
    def from_sorted(cls, hashes: array.array) -> HashBuckets:
        """The set of ``hashes``, an ``array('Q')`` in ascending order (repeats allowed)."""
        made = cls()
        start = 0
        for index in range(1 << BUCKET_BITS):
            end = bisect.bisect_left(hashes, (index + 1) << _SHIFT, start)
            if end > start:
                made._buckets[index] = hashes[start:end]
            start = end
        made.size = len(hashes)
        return made

    def __contains__(self, value: int) -> bool:
        bucket = self._buckets[value >> _SHIFT]
        at = bisect.bisect_left(bucket, value)
        return at < len(bucket) and bucket[at] == value

    def add(self, value: int) -> None:
        bucket = self._buckets[value >> _SHIFT]
        at = bisect.bisect_left(bucket, value)
        if at == len(bucket) or bucket[at] != value:
            bucket.insert(at, value)
            self.size += 1

    def update(self, values: Iterable[int]) -> None:
        for value in values:
            self.add(value)

    def __len__(self) -> int:
        return self.size


def read_hashes(conn: Any, query: str) -> array.array:
    """The one UBIGINT column of ``query``'s rows as an ``array('Q')`` (8 bytes a row, no
    Python int per row)."""
    result = conn.execute(query)
    with warnings.catch_warnings():
        # DuckDB warns that a DB-API result copies the rows once more on their way to
        # Arrow (8 bytes a row); its other way refuses to run while the connection has an
        # earlier statement's result unread
        warnings.simplefilter("ignore", UserWarning)
        table = result.to_arrow_table()
    column = table.column(0).combine_chunks()
    hashes = array.array("Q")
    if len(column):
        data = memoryview(column.buffers()[1])
        hashes.frombytes(data[column.offset * 8 : (column.offset + len(column)) * 8])
    return hashes

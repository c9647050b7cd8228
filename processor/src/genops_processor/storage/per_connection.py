"""State kept beside one writer connection, made when first asked and dropped with it.

Several parts of the writer keep in-memory state derived from the ledger of the
connection they serve (the run-state cache, the stored span ids, the running spend, the
live holds). :class:`PerConnection` holds one such object per connection in a
``WeakKeyDictionary``, so closing the connection frees it, and services sharing a storage
share it.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class PerConnection(Generic[T]):
    """One ``factory()`` object per connection."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._kept: weakref.WeakKeyDictionary[Any, T] = weakref.WeakKeyDictionary()

    def get(self, conn: Any) -> T:
        """This connection's object, made now when it has none."""
        kept = self._kept.get(conn)
        if kept is None:
            kept = self._kept[conn] = self._factory()
        return kept

    def find(self, conn: Any) -> T | None:
        """This connection's object, or None when none was made."""
        return self._kept.get(conn)

    def drop(self, conn: Any) -> None:
        self._kept.pop(conn, None)

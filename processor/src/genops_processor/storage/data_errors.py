"""Which errors are the data's, not the storage's: a retry of the same rows fails the same
way (ingest isolates such spans; the decision journal sets such rows aside)."""

from __future__ import annotations


def is_data_error(error: BaseException) -> bool:
    """A permanent error of the data (a retry fails the same way), not of the storage:
    arithmetic and value errors, and DB-API DataError/IntegrityError (duckdb's conversion,
    out-of-range and constraint errors; matched by name, only storage.writer imports
    duckdb)."""
    if isinstance(error, ArithmeticError | ValueError):
        return True
    return any(c.__name__ in ("DataError", "IntegrityError") for c in type(error).__mro__)

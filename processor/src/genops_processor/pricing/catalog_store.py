"""Catalog versions the processor knows, kept in the ledger, and the audit log.

A client that prices with its own catalog (a CustomPricingModel) registers it
once; the processor then prices that client's runs with exactly that version,
and refuses a version it was never given. Functions take the writer thread's
connection.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from genops.catalog import Catalog, CatalogError
from genops_processor.record import audit

_log = logging.getLogger(__name__)


class CatalogConflict(ValueError):
    """A version is already registered with different prices."""


def load_registered(conn: Any) -> dict[str, Catalog]:
    """Every registered version. One that no longer validates (registered before unit
    prices were bounded, e.g. at $1e30) is moved to the quarantine table with the reason:
    runs that ask for it are left unpriced, and it may be registered again."""
    known = {}
    for version, body in conn.execute("SELECT version, body FROM catalogs").fetchall():
        try:
            known[version] = Catalog.from_dict(json.loads(body), f"catalog {version}")
        except (CatalogError, ValueError) as error:
            _quarantine(conn, version, body, str(error))
    return known


def _quarantine(conn: Any, version: str, body: str, reason: str) -> None:
    _log.warning("stored catalog %r quarantined: %s", version, reason)
    conn.execute(
        "INSERT INTO quarantine (source, row_key, reason, body) VALUES ('catalogs', ?, ?, ?)",
        [version, reason, body],
    )
    conn.execute("DELETE FROM catalogs WHERE version = ?", [version])


def register(conn: Any, catalog: Catalog, origin: str, now: dt.datetime) -> bool:
    """Store a catalog version; False when it was there already with the same prices."""
    body = json.dumps(catalog.to_dict(), sort_keys=True)
    row = conn.execute("SELECT body FROM catalogs WHERE version = ?", [catalog.version]).fetchone()
    if row is not None:
        if _prices(Catalog.from_dict(json.loads(row[0]), "stored")) != _prices(catalog):
            raise CatalogConflict(
                f"catalog version {catalog.version!r} is registered with other prices"
            )
        return False
    conn.execute("INSERT INTO catalogs VALUES (?, ?, ?, ?)", [catalog.version, body, now, origin])
    audit(
        conn,
        "catalog.registered",
        origin,
        {"version": catalog.version, "rows": len(catalog.rows)},
        now,
    )
    return True


def _prices(catalog: Catalog) -> dict:
    """What a version stands for: its prices (dates and sources may be restated)."""
    return {key: (row.unit_price, row.category, row.unit) for key, row in catalog.rows.items()}

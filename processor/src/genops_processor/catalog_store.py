"""Catalog versions the processor knows, kept in the ledger, and the audit log.

A client that prices with its own catalog (a CustomPricingModel) registers it
once; the processor then prices that client's runs with exactly that version,
and refuses a version it was never given. Functions take the writer thread's
connection.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from genops.catalog import Catalog


class CatalogConflict(ValueError):
    """A version is already registered with different prices."""


def load_registered(conn: Any) -> dict[str, Catalog]:
    rows = conn.execute("SELECT version, body FROM catalogs").fetchall()
    return {
        version: Catalog.from_dict(json.loads(body), f"catalog {version}") for version, body in rows
    }


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


def audit(conn: Any, kind: str, actor: str, detail: dict[str, Any], now: dt.datetime) -> str:
    event_id = uuid.uuid4().hex
    conn.execute(
        "INSERT INTO audit_events VALUES (?, ?, ?, ?, ?)",
        [event_id, now, kind, actor, json.dumps(detail, sort_keys=True, default=str)],
    )
    return event_id


def audit_events(conn: Any, kind: str | None = None) -> list[dict[str, Any]]:
    sql = "SELECT event_id, occurred_at, kind, actor, detail FROM audit_events"
    params: list[Any] = []
    if kind:
        sql += " WHERE kind = ?"
        params.append(kind)
    rows = conn.execute(sql + " ORDER BY occurred_at", params).fetchall()
    return [
        {"event_id": r[0], "at": r[1], "kind": r[2], "actor": r[3], "detail": json.loads(r[4])}
        for r in rows
    ]


def _prices(catalog: Catalog) -> dict:
    """What a version stands for: its prices (dates and sources may be restated)."""
    return {key: (row.unit_price, row.category, row.unit) for key, row in catalog.rows.items()}

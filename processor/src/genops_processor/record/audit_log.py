"""The audit log: one event per change that matters, each a link of a hash chain.

Every event says who (``actor``: the authenticated principal; ``reported``: the user,
host and process the client says it is, kept apart because nobody checked them), what
(``kind`` and a JSON ``detail``), when (``occurred_at`` in UTC and ``seq``, gap-free
from 1), where (``region``, ``environment``, ``client_address``) and why
(``policy_version``, ``approval_id``, ``business_context``), and for whom (``team``,
which narrows a client's export). ``hash`` covers all of them and the previous
event's hash (:mod:`genops.governance.audit_chain` defines the encoding).

Functions take the writer thread's connection: the writer is the only writer, so the
chain's head (last seq and hash) is kept in memory per connection, read from the table
once, and each event costs one INSERT and no query. A transaction that rolls back
(``storage.transaction``, or a failed writer job) makes the head be read again.
"""

from __future__ import annotations

import datetime as dt
import json
import weakref
from collections.abc import Mapping
from typing import Any

from genops.governance.audit_chain import (
    EVENT_FIELDS,
    GENESIS_HASH,
    event_hash,
    format_time,
)
from genops_processor.storage import on_rollback
from genops_processor.storage.columnwise import insert_rows
from genops_processor.storage.ordered_ids import ordered_id

_COLUMNS = ", ".join(EVENT_FIELDS)
_ROW = "(" + ", ".join("?" for _ in EVENT_FIELDS) + ")"

# connection -> (last seq, last hash); absent: read from the table at the next event.
_heads: weakref.WeakKeyDictionary[Any, tuple[int, str]] = weakref.WeakKeyDictionary()


def forget_head(conn: Any) -> None:
    """Read the head from the table at the next event (after a rollback, a prune)."""
    _heads.pop(conn, None)


on_rollback(forget_head)


def known_head(conn: Any) -> tuple[int, str] | None:
    """The head this process wrote or read (None: not read yet), without a query."""
    return _heads.get(conn)


def head(conn: Any) -> tuple[int, str]:
    """The chain's last (seq, hash): (0, 64 zeros) for an empty log."""
    known = _heads.get(conn)
    if known is None:
        found = conn.execute(
            "SELECT seq, hash FROM audit_events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        known = (int(found[0]), str(found[1])) if found else (0, GENESIS_HASH)
        _heads[conn] = known
    return known


def audit(
    conn: Any, kind: str, actor: str, detail: dict[str, Any], now: dt.datetime, **context: Any
) -> str:
    """One event; ``context``: the optional fields of :func:`audit_many`."""
    return audit_many(conn, kind, actor, [detail], now, **context)[0]


def audit_many(
    conn: Any,
    kind: str,
    actor: str,
    details: list[dict[str, Any]],
    now: dt.datetime,
    *,
    team: str | None = None,
    reported: Mapping[str, Any] | None = None,
    region: str = "",
    environment: str | None = None,
    client_address: str = "",
    policy_version: int | str | None = None,
    approval_id: str = "",
    business_context: Mapping[str, Any] | None = None,
) -> list[str]:
    """Many events of one kind in one statement (a large report stays one short job).

    ``team`` and ``environment`` default to the detail's own ``team``/``environment``;
    ``reported``: what the client says of itself (user, host, process), never checked."""
    seq, prev = head(conn)
    at = format_time(now)
    shared = {
        "kind": kind,
        "actor": actor or "",
        "occurred_at": at,
        "reported": _json(reported),
        "region": region or "",
        "client_address": client_address or "",
        "policy_version": "" if policy_version is None else str(policy_version),
        "approval_id": approval_id or "",
        "business_context": _json(business_context),
    }
    ids, rows = [], []
    for detail in details:
        seq += 1
        event = {
            **shared,
            "seq": seq,
            "event_id": ordered_id(),
            "team": team if team is not None else str(detail.get("team") or ""),
            "environment": environment
            if environment is not None
            else str(detail.get("environment") or ""),
            "detail": json.dumps(detail, sort_keys=True, default=str),
            "prev_hash": prev,
        }
        event["hash"] = prev = event_hash(event)
        ids.append(event["event_id"])
        rows.append([now if name == "occurred_at" else event[name] for name in EVENT_FIELDS])
    if not ids:
        return ids
    insert = f"INSERT INTO audit_events ({_COLUMNS}) VALUES "
    append_many = getattr(conn, "append_many", None)
    if append_many is not None:
        # the writer's connection: in a transaction, inserted with its other events in one
        # statement (a failure rolls back, which forgets this head); outside one, now
        append_many(insert, _ROW, rows)
    else:
        insert_rows(conn, {(insert, _ROW): rows})
    _heads[conn] = (seq, prev)  # only once the insert succeeded or joined the transaction
    return ids


def _json(value: Mapping[str, Any] | None) -> str:
    return json.dumps(dict(value), sort_keys=True, default=str) if value else ""


# The stored event as exported and hashed: occurred_at in its canonical text.
SELECT_EVENTS = (
    "SELECT "
    + ", ".join(
        "strftime(timezone('UTC', occurred_at), '%Y-%m-%dT%H:%M:%S.%fZ')"
        if name == "occurred_at"
        else name
        for name in EVENT_FIELDS
    )
    + " FROM audit_events"
)


def as_event(row: tuple) -> dict[str, Any]:
    return dict(zip(EVENT_FIELDS, row, strict=True))


def audit_events(conn: Any, kind: str | None = None) -> list[dict[str, Any]]:
    """Every event (of ``kind``), in chain order: the chain fields, plus ``at`` (the
    time as a datetime) and ``detail`` parsed."""
    sql = (
        "SELECT "
        + ", ".join(f"e.{n}" for n in EVENT_FIELDS)
        + ", e.occurred_at AS at FROM audit_events e"
    )
    params: list[Any] = []
    if kind:
        sql += " WHERE kind = ?"
        params.append(kind)
    out = []
    for r in conn.execute(sql + " ORDER BY seq", params).fetchall():
        event = dict(zip(EVENT_FIELDS, r[:-1], strict=True))
        event["occurred_at"] = format_time(r[-1])
        event["at"] = r[-1]
        event["detail"] = json.loads(r[EVENT_FIELDS.index("detail")])
        out.append(event)
    return out


def credentials_audit(storage: Any, clock: Any):
    """A credentials file's ``on_change``: one ``credentials.changed`` event naming the
    principals added, removed, revoked or changed (names and roles, never a token hash),
    queued to the writer (the caller is serving a request and does not wait)."""

    def changed(old: Any, new: Any) -> None:
        before = {e.name: e for e in old.entries}
        after = {e.name: e for e in new.entries}
        detail = {
            "added": sorted(set(after) - set(before)),
            "removed": sorted(set(before) - set(after)),
            "revoked": sorted(
                n for n in after if after[n].revoked and n in before and not before[n].revoked
            ),
            "changed": sorted(n for n in after if n in before and after[n] != before[n]),
            "require_mfa_for_admin": new.require_mfa_for_admin,
        }
        now = clock()
        storage.submit(
            lambda conn: audit(conn, "credentials.changed", "credentials file", detail, now)
        )

    return changed

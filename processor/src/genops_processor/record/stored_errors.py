"""Error text an older processor stored as it came, redacted once.

Processors before error text went through ``genops.governance.redaction`` kept a run's
or experiment's error (the user's exception message: it may quote an API key, a token,
a password) as the client sent it, in ``runs.error``, ``experiments.error`` and the raw
span (``spans.attributes``, ``genops.run.error``), and a channel's answer in
``alert_deliveries.error`` and ``alert_outbox.last_error``. When a ledger is opened,
:func:`redact_stored_errors` rewrites them with :func:`redact_text` once (recorded in
``ledger_migrations``, so a later open reads nothing again) and, when it changed
anything, writes one ``ledger.errors_redacted`` audit event with how many rows of each
table changed (never the text). The audit events themselves are not rewritten: none
carries an error text, and rewriting one would break the hash chain.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from genops.attributes import RUN_ERROR
from genops.governance.redaction import redact_text
from genops_processor.record.audit_log import audit
from genops_processor.storage import transaction

MIGRATION = "redact_stored_errors"

# (table, key columns, text column): plain text columns, redacted as they are.
_TEXT_COLUMNS = (
    ("runs", ("run_key",), "error"),
    ("experiments", ("experiment_id",), "error"),
    ("alert_deliveries", ("alert_id", "channel", "attempt"), "error"),
    ("alert_outbox", ("alert_id", "channel"), "last_error"),
)


def redact_stored_errors(conn: Any, now: dt.datetime, known: Iterable[str] = ()) -> int:
    """Redact the ledger's stored error text once; returns how many rows changed."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS ledger_migrations "
        "(name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ)"
    )
    done = conn.execute("SELECT 1 FROM ledger_migrations WHERE name = ?", [MIGRATION]).fetchone()
    if done:
        return 0
    known = tuple(known)
    changed: dict[str, int] = {}
    with transaction(conn):
        for table, keys, column in _TEXT_COLUMNS:
            n = _redact_column(conn, table, keys, column, known)
            if n:
                changed[f"{table}.{column}"] = n
        n = _redact_spans(conn, known)
        if n:
            changed["spans.attributes"] = n
        if changed:
            detail = {"migration": MIGRATION, "rows_changed": changed}
            audit(conn, "ledger.errors_redacted", "processor", detail, now)
        conn.execute("INSERT INTO ledger_migrations VALUES (?, ?)", [MIGRATION, now])
    if changed:  # the old text's blocks are written over now, not at some later checkpoint
        conn.execute("FORCE CHECKPOINT")
    return sum(changed.values())


def _redact_column(conn, table: str, keys: tuple[str, ...], column: str, known) -> int:
    rows = conn.execute(
        f"SELECT {', '.join(keys)}, {column} FROM {table} "
        f"WHERE {column} IS NOT NULL AND {column} <> ''"
    ).fetchall()
    where = " AND ".join(f"{k} = ?" for k in keys)
    count = 0
    for *key, text in rows:
        redacted = redact_text(text, known)
        if redacted != text:
            conn.execute(f"UPDATE {table} SET {column} = ? WHERE {where}", [redacted, *key])
            count += 1
    return count


def _redact_spans(conn, known) -> int:
    """The raw spans' ``genops.run.error``, written back as ingest writes it (sorted
    keys), so that a span sent again still compares equal to the stored one."""
    rows = conn.execute(
        "SELECT trace_id, span_id, attributes FROM spans WHERE contains(attributes, ?)",
        [RUN_ERROR],
    ).fetchall()
    count = 0
    for trace_id, span_id, text in rows:
        try:
            attributes = json.loads(text)
        except ValueError:
            continue
        error = attributes.get(RUN_ERROR)
        if not isinstance(error, str) or redact_text(error, known) == error:
            continue
        attributes[RUN_ERROR] = redact_text(error, known)
        conn.execute(
            "UPDATE spans SET attributes = ? WHERE trace_id = ? AND span_id = ?",
            [json.dumps(attributes, sort_keys=True, default=str), trace_id, span_id],
        )
        count += 1
    return count

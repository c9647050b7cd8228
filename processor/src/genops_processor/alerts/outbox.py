"""The delivery outbox: one row per (alert, channel) with its delivery ``state``
(``pending``: not tried yet, ``retrying``: failed, tried again at
``next_attempt_at``, ``delivered``, ``expired``: retried for ``DELIVERY_RETRY_S``),
its ``attempts`` and last error.

An alert's rows are written in the same writer job that records the alert, so
a restart never loses one; :class:`~genops_processor.alerts.delivery.Deliverer`
loads the pending and retrying ones at start. Every attempt is also a row of
``alert_deliveries`` and an audit event. Functions take the writer thread's connection.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from genops_processor.alerts.messages import Alert, Notice
from genops_processor.budgets.alert_settings import is_address, shown_address
from genops_processor.record import audit
from genops_processor.storage import transaction

_log = logging.getLogger(__name__)


@dataclass
class Item:
    """One message for one channel; ``attempts`` made so far, next one ``due``."""

    message: Alert | Notice
    channel: str
    created_at: dt.datetime
    due: dt.datetime
    attempts: int = 0


def encode(message: Alert | Notice) -> str:
    kind = "alert" if isinstance(message, Alert) else "notice"
    return json.dumps({"kind": kind, **asdict(message)}, default=str)


def decode(text: str) -> Alert | Notice:
    body = json.loads(text)
    kind = body.pop("kind")
    return Alert(**body) if kind == "alert" else Notice(**body)


def enqueue(
    conn: Any, message: Alert | Notice, channels: Iterable[str], now: dt.datetime
) -> list[Item]:
    """Rows for each channel (once per channel); the items to hand to the deliverer."""
    items = [Item(message, channel, now, now) for channel in dict.fromkeys(channels)]
    if items:
        text = encode(message)
        conn.execute(
            "INSERT OR IGNORE INTO alert_outbox (alert_id, channel, message, attempts, "
            "created_at, next_attempt_at, last_error, state) VALUES "
            + ", ".join(["(?, ?, ?, 0, ?, ?, NULL, 'pending')"] * len(items)),
            [v for i in items for v in (message.alert_id, i.channel, text, now, now)],
        )
    return items


def pending(conn: Any) -> list[Item]:
    """Everything still to deliver, oldest first (at start, after a restart)."""
    rows = conn.execute(
        "SELECT channel, message, attempts, created_at, next_attempt_at FROM alert_outbox "
        "WHERE state IN ('pending', 'retrying') ORDER BY created_at, alert_id, channel"
    ).fetchall()
    items = []
    for channel, message, attempts, created, due in rows:
        try:
            items.append(Item(decode(message), channel, created, due, attempts))
        except (ValueError, TypeError, KeyError) as error:  # kept, never blocks a start
            _log.warning("alert outbox: cannot read a message for %s: %s", channel, error)
    return items


def record_attempt(
    conn: Any,
    item: Item,
    status: str,
    error: str,
    next_at: dt.datetime | None,
    now: dt.datetime,
) -> None:
    """An attempt's outcome: the row is retried at ``next_at`` or done (None: its state
    is ``status``, delivered or expired)."""
    alert_id = item.message.alert_id
    with transaction(conn):
        conn.execute(
            "INSERT INTO alert_deliveries VALUES (?, ?, ?, ?, ?, ?)",
            [alert_id, item.channel, item.attempts, status, error, now],
        )
        detail = {"alert_id": alert_id, "channel": item.channel, "attempt": item.attempts}
        audit(conn, "alert.delivery", "processor", {**detail, "status": status}, now)
        state = "retrying" if next_at is not None else status
        conn.execute(
            "UPDATE alert_outbox SET attempts = ?, next_attempt_at = COALESCE(?, "
            "next_attempt_at), last_error = ?, state = ? WHERE alert_id = ? AND channel = ?",
            [item.attempts, next_at, error, state, alert_id, item.channel],
        )


def record_unresolved(conn: Any, alert_id: str, channel: str, now: dt.datetime) -> None:
    """A channel name with no address: one failed delivery, nothing to retry."""
    error = f"no address for {channel!r}: map it under channels: in the policy"
    conn.execute(
        "INSERT INTO alert_deliveries VALUES (?, ?, 1, 'failed', ?, ?)",
        [alert_id, channel, error, now],
    )
    detail = {"alert_id": alert_id, "channel": channel, "attempt": 1, "status": "failed"}
    audit(conn, "alert.delivery", "processor", {**detail, "error": error}, now)


def scrub_addresses(conn: Any, now: dt.datetime) -> int:
    """A ledger from before channels were kept by name may hold addresses with secrets
    (a webhook path, credentials) in the outbox, the delivery history and alert rules:
    the outbox rows are dropped (recorded as expired), the others shown redacted.
    Returns how many rows changed."""

    def secret(channel: str) -> bool:
        return is_address(channel) and shown_address(channel) != channel

    changed = 0
    with transaction(conn):
        for alert_id, channel, attempts in conn.execute(
            "SELECT alert_id, channel, attempts FROM alert_outbox"
        ).fetchall():
            if secret(channel):
                conn.execute(
                    "INSERT INTO alert_deliveries VALUES (?, ?, ?, 'expired', ?, ?)",
                    [
                        alert_id,
                        shown_address(channel),
                        attempts + 1,
                        "dropped: kept an address, not a channel name of the policy",
                        now,
                    ],
                )
                conn.execute(
                    "DELETE FROM alert_outbox WHERE alert_id = ? AND channel = ?",
                    [alert_id, channel],
                )
                changed += 1
        for (channel,) in conn.execute("SELECT DISTINCT channel FROM alert_deliveries").fetchall():
            if secret(channel):
                rows = conn.execute(
                    "UPDATE alert_deliveries SET channel = ? WHERE channel = ? RETURNING 1",
                    [shown_address(channel), channel],
                ).fetchall()
                changed += len(rows)
        for rule_id, text in conn.execute("SELECT rule_id, body FROM alert_rules").fetchall():
            body = json.loads(text)
            for key in ("channels", "escalation_chain"):
                body[key] = [shown_address(c) if secret(c) else c for c in body.get(key) or []]
            if body != json.loads(text):
                conn.execute(
                    "UPDATE alert_rules SET body = ? WHERE rule_id = ?",
                    [json.dumps(body, sort_keys=True), rule_id],
                )
                changed += 1
    return changed

"""What ``genops alerts list`` shows: budget threshold alerts and monitoring-rule alerts
(and notifications) alike, newest first, each with every delivery attempt and each
channel's delivery state.

A channel's state is its outbox row's: ``pending`` (not tried yet), ``retrying`` (after
a failed attempt; ``next_attempt_at`` says when), ``delivered``, ``expired`` (retried
for ``DELIVERY_RETRY_S``, given up); or ``failed`` for a channel with no address
(nothing to retry, no outbox row). Functions take the writer thread's connection.
"""

from __future__ import annotations

from typing import Any

_EVENTS = """
SELECT alert_id, kind, rule_id, event_key, subject, fired_at, level, acknowledged_at,
       acknowledged_by, budget, threshold FROM (
    SELECT alert_id, 'budget' AS kind, '' AS rule_id,
           budget || '@' || period_start || ':' || threshold AS event_key,
           'GenOps budget alert: ' || budget || ' at ' || threshold || '%' AS subject,
           fired_at, 0 AS level, NULL AS acknowledged_at, '' AS acknowledged_by,
           budget, threshold
    FROM alerts_fired
    UNION ALL
    SELECT alert_id, CASE WHEN rule_id = 'notification' THEN 'notification' ELSE 'rule' END,
           rule_id, event_key, subject, fired_at, level, acknowledged_at, acknowledged_by,
           NULL, NULL
    FROM alert_events
) ORDER BY fired_at DESC, alert_id LIMIT ?
"""


def recent(conn: Any, limit: int = 50) -> list[dict[str, Any]]:
    """The newest ``limit`` alerts of every kind with their deliveries and states."""
    events = conn.execute(_EVENTS, [limit]).fetchall()
    ids = [row[0] for row in events]
    attempts: dict[str, list[tuple]] = {}
    waiting: dict[str, dict[str, tuple]] = {}
    if ids:
        marks = ", ".join("?" * len(ids))
        for row in conn.execute(
            "SELECT alert_id, channel, attempt, status, error, attempted_at FROM alert_deliveries "
            f"WHERE alert_id IN ({marks}) ORDER BY attempted_at, attempt",
            ids,
        ).fetchall():
            attempts.setdefault(row[0], []).append(row[1:])
        for alert_id, channel, state, tried, next_at, error in conn.execute(
            "SELECT alert_id, channel, state, attempts, next_attempt_at, last_error "
            f"FROM alert_outbox WHERE alert_id IN ({marks})",
            ids,
        ).fetchall():
            waiting.setdefault(alert_id, {})[channel] = (state, tried, next_at, error)
    return [_entry(row, attempts.get(row[0], []), waiting.get(row[0], {})) for row in events]


def _entry(row: tuple, attempts: list[tuple], waiting: dict[str, tuple]) -> dict[str, Any]:
    alert_id, kind, rule_id, key, subject, fired_at, level, acked_at, acked_by = row[:9]
    budget, threshold = row[9:]
    entry: dict[str, Any] = {
        "alert_id": alert_id,
        "kind": kind,
        "rule_id": rule_id,
        "event": key,
        "subject": subject,
        "fired_at": _iso(fired_at),
        "escalation_level": level,
        "acknowledged_at": _iso(acked_at),
        "acknowledged_by": acked_by or "",
        "deliveries": [
            {"channel": c, "attempt": a, "status": s, "error": e or "", "at": _iso(at)}
            for c, a, s, e, at in attempts
        ],
        "channels": _states(attempts, waiting),
    }
    if kind == "budget":
        entry.update(budget=budget, threshold=threshold)
    return entry


def _states(attempts: list[tuple], waiting: dict[str, tuple]) -> list[dict[str, Any]]:
    states: dict[str, dict[str, Any]] = {}
    for channel, attempt, status, error, _at in attempts:
        states[channel] = {
            "channel": channel,
            "state": status,
            "attempts": attempt,
            "next_attempt_at": None,
            "last_error": error or "",
        }
    for channel, (state, tried, next_at, error) in waiting.items():
        to_come = state in ("pending", "retrying")
        states[channel] = {
            "channel": channel,
            "state": state,
            "attempts": tried,
            "next_attempt_at": _iso(next_at) if to_come else None,
            "last_error": (error or "") if state != "delivered" else "",
        }
    return sorted(states.values(), key=lambda s: s["channel"])


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None

"""Reading the audit chain back: export pages, verification, pruning with a checkpoint.

All bounded: an export or a verification is a sequence of jobs of at most
``AUDIT_EXPORT_PAGE`` / ``AUDIT_VERIFY_CHUNK`` events each (each one writer job: budget
decisions go between them). Functions take the writer thread's connection.

A time range is exported as the contiguous run of sequence numbers from the first to
the last event in [since, until) (events are numbered in the order they were written,
which may differ from their clocks by a few milliseconds: an event between them is
exported even when its time is just outside), so that an exported range verifies
alone from its first ``prev_hash``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from genops.governance.audit_chain import CHECKPOINT_KIND, GENESIS_HASH, ChainChecker, Verdict
from genops_processor.limits import AUDIT_EXPORT_PAGE, AUDIT_VERIFY_CHUNK
from genops_processor.record.audit_log import (
    SELECT_EVENTS,
    as_event,
    audit,
    forget_head,
    head,
    known_head,
)

FAR_PAST = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
FAR_FUTURE = dt.datetime(9999, 1, 1, tzinfo=dt.timezone.utc)


def parse_bound(text: str, name: str, end: bool = False) -> dt.datetime | None:
    """An RFC 3339 time, or a date (``until`` a date: the end of that day); '' -> None."""
    if not text:
        return None
    try:
        if len(text) == 10:  # a date
            day = dt.date.fromisoformat(text)
            moment = dt.datetime.combine(day, dt.time(), dt.timezone.utc)
            return moment + dt.timedelta(days=1) if end else moment
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not a date or an RFC 3339 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def stored_retention_years(conn: Any) -> float | None:
    """``audit_log_retention_years`` of the policy version in force (None: not set)."""
    found = conn.execute(
        "SELECT body FROM policy_versions ORDER BY version DESC LIMIT 1"
    ).fetchone()
    value = json.loads(found[0]).get("audit_log_retention_years") if found else None
    return float(value) if isinstance(value, int | float) else None


def seq_range(conn: Any, since: dt.datetime | None, until: dt.datetime | None) -> tuple[int, int]:
    """(first, last) sequence numbers of the events in [since, until); first > last: none."""
    first, last = conn.execute(
        "SELECT min(seq), max(seq) FROM audit_events WHERE occurred_at >= ? AND occurred_at < ?",
        [since or FAR_PAST, until or FAR_FUTURE],
    ).fetchone()
    return (first or 1, last or 0) if first is not None else (1, 0)


def page(
    conn: Any,
    first: int,
    last: int,
    after_seq: int = 0,
    limit: int = AUDIT_EXPORT_PAGE,
    teams: frozenset[str] | None = None,
) -> list[dict[str, Any]]:
    """Up to ``limit`` events (at most AUDIT_EXPORT_PAGE, plus one that tells whether
    more follow) with first <= seq <= last and seq > after_seq, in seq order;
    ``teams``: only events of those teams."""
    sql = SELECT_EVENTS + " WHERE seq BETWEEN ? AND ? AND seq > ?"
    params: list[Any] = [first, last, after_seq]
    if teams is not None:
        sql += " AND list_contains(?, team)"
        params.append(sorted(teams))
    sql += " ORDER BY seq LIMIT ?"
    params.append(max(1, min(limit, AUDIT_EXPORT_PAGE + 1)))
    return [as_event(r) for r in conn.execute(sql, params).fetchall()]


@dataclass
class Verification:
    """A verification in progress, a chunk (one writer job) at a time."""

    checker: ChainChecker
    after_seq: int
    done: bool = False

    def verdict(self) -> Verdict:
        return self.checker.verdict()


def start_verification(conn: Any) -> Verification:
    """Where the stored chain must start: seq 1 from 64 zeros, or, when events were
    pruned, right after the latest checkpoint's last pruned event."""
    found = conn.execute("SELECT min(seq) FROM audit_events").fetchone()[0]
    if found is None or found == 1:
        return Verification(ChainChecker(1, GENESIS_HASH), 0)
    checkpoint = conn.execute(
        "SELECT detail FROM audit_events WHERE kind = ? ORDER BY seq DESC LIMIT 1",
        [CHECKPOINT_KIND],
    ).fetchone()
    through = json.loads(checkpoint[0]) if checkpoint else {}
    start = int(through.get("through_seq", 0)) + 1
    start_hash = str(through.get("through_hash", GENESIS_HASH))
    # The first event kept must be the one after the checkpoint's (a prefix deleted
    # without a checkpoint is events missing from 1, or from the checkpoint's next).
    return Verification(ChainChecker(start if checkpoint else 1, start_hash), found - 1)


def verify_step(conn: Any, state: Verification, limit: int = AUDIT_VERIFY_CHUNK) -> Verification:
    rows = conn.execute(
        SELECT_EVENTS + " WHERE seq > ? ORDER BY seq LIMIT ?", [state.after_seq, limit]
    ).fetchall()
    for row in rows:
        if not state.checker.feed(as_event(row)):
            state.done = True
            return state
    if rows:
        state.after_seq = int(rows[-1][0])
    if len(rows) < limit:
        state.done = True
        _check_head(conn, state)
    return state


def _check_head(conn: Any, state: Verification) -> None:
    """Events with no seq (inserted by hand) break the chain too; so does a chain that
    ends before the head this process wrote (events deleted from its end)."""
    if state.checker.bad is not None:
        return
    last = state.checker.verdict().head_seq
    stray = conn.execute("SELECT count(*) FROM audit_events WHERE seq IS NULL").fetchone()[0]
    if stray:
        state.checker.bad = (last + 1, f"{stray} event(s) without a sequence number")
    elif (written := known_head(conn)) is not None and written[0] > last:
        state.checker.bad = (last + 1, f"event(s) {last + 1}..{written[0]} missing at the end")


def verify(conn: Any) -> Verdict:
    """The whole stored chain in one call (the CLI on a stopped ledger)."""
    state = start_verification(conn)
    while not state.done:
        verify_step(conn, state)
    return state.verdict()


@dataclass(frozen=True)
class PrunePlan:
    before: dt.datetime
    through_seq: int  # the last event pruned (0: nothing to prune)
    through_hash: str
    events: int


def prune_plan(conn: Any, before: dt.datetime) -> PrunePlan:
    """What pruning events before ``before`` removes: the longest prefix of the chain
    whose events all occurred before it (never the latest event: it is the head)."""
    (low,) = conn.execute("SELECT min(seq) FROM audit_events").fetchone()
    first_kept = conn.execute(
        "SELECT min(seq) FROM audit_events WHERE occurred_at >= ?", [before]
    ).fetchone()[0]
    top = head(conn)[0]
    through = min(first_kept - 1 if first_kept is not None else top, top - 1)
    if low is None or through < low:
        return PrunePlan(before, 0, "", 0)
    found = conn.execute("SELECT hash FROM audit_events WHERE seq = ?", [through]).fetchone()
    return PrunePlan(before, through, found[0] if found else "", through - low + 1)


def prune(conn: Any, plan: PrunePlan, actor: str, now: dt.datetime, retention_years: float) -> str:
    """Delete the plan's events and append the checkpoint event (its own audit event):
    the chain then verifies from the checkpoint. Returns the checkpoint's event id."""
    conn.begin()
    try:
        conn.execute("DELETE FROM audit_events WHERE seq <= ?", [plan.through_seq])
        detail = {
            "through_seq": plan.through_seq,
            "through_hash": plan.through_hash,
            "events": plan.events,
            "before": plan.before.isoformat(),
            "retention_years": retention_years,
        }
        event_id = audit(conn, CHECKPOINT_KIND, actor, detail, now)
        conn.commit()
    except BaseException:
        conn.rollback()
        forget_head(conn)
        raise
    return event_id

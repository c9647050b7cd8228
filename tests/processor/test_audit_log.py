"""The audit log's writer side on a real DuckDB file: every event a link of the chain,
gap-free through rollbacks, old ledgers chained on open, the head kept in memory, and
bounded reads."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest

from genops.governance.audit_chain import GENESIS_HASH, event_hash, verify_events
from genops_processor import storage
from genops_processor.limits import AUDIT_EXPORT_PAGE
from genops_processor.record import audit, audit_events, audit_many, audit_trail

NOW = dt.datetime(2026, 11, 5, 12, 0, 0, 123456, tzinfo=dt.timezone.utc)


@pytest.fixture
def db(tmp_path):
    with storage.Storage(tmp_path / "ledger.duckdb") as ledger:
        yield ledger


def chain(ledger) -> list[dict]:
    events = ledger.call(audit_events)
    for e in events:
        e["detail"] = json.dumps(e["detail"], sort_keys=True)
    return events


def test_existing_callers_and_the_optional_fields_make_one_chain(db):
    first = db.call(lambda c: audit(c, "policy.changed", "admin", {"version": 1}, NOW))
    ids = db.call(
        lambda c: audit_many(
            c,
            "decision.offline",
            "trainer",
            [{"team": "a", "environment": "prod"}, {"team": "b"}],
            NOW,
            reported={"user": "alice", "host": "gpu-1", "process": 42},
            region="eu-west-1",
            client_address="ipv4:10.0.0.7:5000",
            policy_version=3,
            approval_id="ap-1",
            business_context={"ticket": "FIN-9"},
        )
    )
    events = chain(db)
    assert [e["seq"] for e in events] == [1, 2, 3]
    assert [e["event_id"] for e in events] == [first, *ids]
    assert events[0]["prev_hash"] == GENESIS_HASH
    assert events[0]["occurred_at"] == "2026-11-05T12:00:00.123456Z"
    a, b = events[1], events[2]
    assert (a["team"], a["environment"], b["team"], b["environment"]) == ("a", "prod", "b", "")
    assert json.loads(a["reported"]) == {"user": "alice", "host": "gpu-1", "process": 42}
    assert (a["region"], a["client_address"], a["policy_version"], a["approval_id"]) == (
        "eu-west-1",
        "ipv4:10.0.0.7:5000",
        "3",
        "ap-1",
    )
    assert all(e["hash"] == event_hash(e) for e in events)
    assert verify_events(events).intact


def test_a_rolled_back_event_leaves_no_gap(db):
    """The head is in memory: without the rollback hook the next event would take seq 3."""
    db.call(lambda c: audit(c, "a", "x", {}, NOW))

    def fails(conn):
        with storage.transaction(conn):
            audit(conn, "b", "x", {}, NOW)
            raise ValueError("the job fails after its event")

    with pytest.raises(ValueError):
        db.call(fails)

    def manual(conn):  # as ingest does: BEGIN, work, ROLLBACK, then retry
        conn.begin()
        audit(conn, "c", "x", {}, NOW)
        conn.rollback()
        storage.rolled_back(conn)
        return audit(conn, "d", "x", {}, NOW)

    db.call(manual)
    events = chain(db)
    assert [(e["seq"], e["kind"]) for e in events] == [(1, "a"), (2, "d")]
    assert db.call(audit_trail.verify).intact


def test_a_ledger_from_before_the_chain_is_chained_when_opened(tmp_path):
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as conn:  # the audit table as an older processor wrote it
        conn.execute(
            "CREATE TABLE audit_events (event_id VARCHAR PRIMARY KEY, occurred_at TIMESTAMPTZ, "
            "kind VARCHAR, actor VARCHAR, detail VARCHAR)"
        )
        for i, day in enumerate((3, 1, 2)):
            conn.execute(
                "INSERT INTO audit_events VALUES (?, ?, 'policy.changed', 'admin', ?)",
                [f"e{i}", NOW - dt.timedelta(days=day), json.dumps({"day": day})],
            )
    with storage.Storage(path) as ledger:
        verdict = ledger.call(audit_trail.verify)
        ledger.call(lambda c: audit(c, "after", "admin", {}, NOW))
        events = chain(ledger)
    assert verdict.intact and verdict.events == 3
    assert [(e["seq"], e["event_id"]) for e in events] == [
        (1, "e0"),
        (2, "e2"),
        (3, "e1"),
        (4, events[3]["event_id"]),
    ]
    assert events[0]["team"] == "" and verify_events(events).intact


def test_events_deleted_from_the_end_are_found_by_the_writer_that_wrote_them(db):
    for i in range(5):
        db.call(lambda c, i=i: audit(c, "e", "x", {"i": i}, NOW))
    db.call(lambda c: c.execute("DELETE FROM audit_events WHERE seq = 5"))
    verdict = db.call(audit_trail.verify)
    assert not verdict.intact and verdict.first_bad_seq == 5
    assert "missing at the end" in verdict.reason


def test_a_page_is_bounded_whatever_is_asked(db):
    details = [{"i": i} for i in range(AUDIT_EXPORT_PAGE + 50)]
    db.call(lambda c: audit_many(c, "bulk", "x", details, NOW))
    first, last = db.call(lambda c: audit_trail.seq_range(c, None, None))
    page = db.call(lambda c: audit_trail.page(c, first, last, 0, 10**9))
    assert len(page) == AUDIT_EXPORT_PAGE + 1  # the cap, and one that says more follow
    rest = db.call(lambda c: audit_trail.page(c, first, last, AUDIT_EXPORT_PAGE, 10**9))
    assert [e["seq"] for e in rest] == list(range(AUDIT_EXPORT_PAGE + 1, AUDIT_EXPORT_PAGE + 51))
    none = db.call(lambda c: audit_trail.page(c, first, last, 0, 10, frozenset({"other"})))
    assert none == []


def test_the_prune_plan_never_takes_the_head(db):
    old = NOW - dt.timedelta(days=4000)
    db.call(lambda c: audit_many(c, "old", "x", [{}, {}], old))
    plan = db.call(lambda c: audit_trail.prune_plan(c, NOW))
    assert (plan.through_seq, plan.events) == (1, 1)  # event 2 is the head: kept


def test_many_events_in_one_call_chain_whole_inside_and_outside_a_transaction(db):
    """100 events a call (one Arrow table, storage/columnwise.py): outside a transaction,
    inside one with a statement before them, and in one rolled back (none kept, the
    head read again)."""
    details = [{"i": i, "team": f"t{i % 3}"} for i in range(100)]
    db.call(lambda c: audit_many(c, "bulk", "x", details, NOW, region="eu"))

    def inside(conn, ends):
        conn.begin()
        conn.execute("SELECT 1").fetchall()
        audit_many(conn, "bulk", "y", details, NOW, policy_version=7)
        getattr(conn, ends)()

    db.call(lambda c: inside(c, "commit"))
    db.call(lambda c: inside(c, "rollback"))
    db.call(lambda c: audit(c, "after", "z", {}, NOW))
    events = chain(db)
    assert [e["seq"] for e in events] == list(range(1, 202))
    assert [e["actor"] for e in events] == ["x"] * 100 + ["y"] * 100 + ["z"]
    assert events[99]["team"] == "t0" and events[99]["region"] == "eu"
    assert events[150]["policy_version"] == "7"
    assert {e["occurred_at"] for e in events} == {"2026-11-05T12:00:00.123456Z"}
    assert db.call(audit_trail.verify).intact

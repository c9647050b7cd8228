"""Silent holds expire in bounded writer jobs (service.expire_holds): a burst of them is
closed EXPIRE_STEP_HOLDS at a time, each with one hold.expired audit event, and budget
decisions queued meanwhile run between the steps instead of after all of them. Real
DuckDB file in a temporary directory; the processor's own Governance."""

from __future__ import annotations

import asyncio
import time

from genops_processor import service as service_module
from genops_processor import storage as store

SECOND = 10**9


def _open_holds(storage, count: int, silent_for_s: int) -> None:
    created = time.time_ns() - silent_for_s * SECOND
    storage.call(
        lambda conn: conn.execute(
            "INSERT INTO holds (hold_id, team, project, amount_micros, status, created_ns) "
            "SELECT 'h' || lpad(i::VARCHAR, 3, '0'), 'ml', 'p', 1000, 'open', ? "
            "FROM range(?) r(i)",
            [created, count],
        )
    )


def test_a_burst_of_silent_holds_expires_in_bounded_steps_each_audited_once(
    governance, monkeypatch
):
    governance, storage = governance
    monkeypatch.setattr(service_module, "EXPIRE_STEP_HOLDS", 3)
    _open_holds(storage, 7, silent_for_s=600)
    steps = []
    submit = storage.submit

    def counting(fn, *args, **kwargs):
        steps.append(fn)
        return submit(fn, *args, **kwargs)

    monkeypatch.setattr(storage, "submit", counting)
    expired = asyncio.run(governance.expire_holds(120.0))
    monkeypatch.setattr(storage, "submit", submit)

    assert sorted(expired) == [f"h{i:03d}" for i in range(7)]
    assert len(steps) == 3  # 3 + 3 + 1
    rows = storage.call(
        lambda conn: conn.execute(
            "SELECT (SELECT count(*) FROM holds WHERE status = 'expired'), "
            "(SELECT count(*) FROM audit_events WHERE kind = 'hold.expired'), "
            "(SELECT count(DISTINCT json_extract_string(detail, '$.hold_id')) "
            " FROM audit_events WHERE kind = 'hold.expired')"
        ).fetchall()
    )
    assert rows == [(7, 7, 7)]
    assert asyncio.run(governance.expire_holds(120.0)) == []  # nothing left to expire


def test_holds_still_inside_the_timeout_are_left_open(governance, monkeypatch):
    governance, storage = governance
    monkeypatch.setattr(service_module, "EXPIRE_STEP_HOLDS", 2)
    _open_holds(storage, 4, silent_for_s=30)  # silent for 30 s, the timeout is 120 s
    assert asyncio.run(governance.expire_holds(120.0)) == []
    assert storage.call(
        lambda conn: conn.execute("SELECT count(*) FROM holds WHERE status = 'open'").fetchall()
    ) == [(4,)]


def test_a_decision_queued_during_a_burst_runs_between_its_steps(governance, monkeypatch):
    governance, storage = governance
    monkeypatch.setattr(service_module, "EXPIRE_STEP_HOLDS", 2)
    _open_holds(storage, 6, silent_for_s=600)
    order: list[str] = []
    submit = storage.submit

    def watching(fn, *args, **kwargs):
        if order == ["expiry step"]:  # after the first step, a decision arrives
            submit(lambda conn: order.append("decision"), service_module.DECISION)

        def step(conn):
            order.append("expiry step")
            return fn(conn)

        return submit(step, *args, **kwargs)

    monkeypatch.setattr(storage, "submit", watching)
    expired = asyncio.run(governance.expire_holds(120.0))
    monkeypatch.setattr(storage, "submit", submit)
    assert len(expired) == 6
    # 2 + 2 + 2 (no empty step: the silent holds are read beside the writer first); the
    # decision right after the step it came during
    assert order == ["expiry step", "decision", "expiry step", "expiry step"]


def test_the_scan_for_silent_holds_runs_beside_the_writer_not_on_it(governance, monkeypatch):
    """The query that reads every hold (O(history)) runs on the read connection; the
    writer only looks its findings up by key."""
    governance, storage = governance
    _open_holds(storage, 3, silent_for_s=600)
    calls: list[tuple[str, bool]] = []
    silent = service_module.reservations.silent

    def watching(conn, *args, **kwargs):
        among = kwargs.get("among", args[3] if len(args) > 3 else None)
        calls.append((type(conn).__name__, among is None))
        return silent(conn, *args, **kwargs)

    monkeypatch.setattr(service_module.reservations, "silent", watching)
    assert len(asyncio.run(governance.expire_holds(120.0))) == 3
    writer = store.writer.Connection.__name__
    assert calls and all((name == writer) != scanned for name, scanned in calls)
    assert any(scanned for _, scanned in calls) and any(not s for _, s in calls)


def test_a_hold_seen_or_closed_after_it_was_read_as_silent_stays_as_it_is(governance, monkeypatch):
    """Hostile timing: between the read (beside the writer) and the writer's step, one
    candidate is renewed by its owner and another is released. Only the third expires."""
    governance, storage = governance
    _open_holds(storage, 3, silent_for_s=600)  # h000, h001, h002
    read = storage.read

    def read_then_race(fn):
        found = read(fn)
        if found:
            now = time.time_ns()
            storage.call(
                lambda conn: (
                    conn.execute("UPDATE holds SET last_seen_ns = ? WHERE hold_id = 'h000'", [now]),
                    conn.execute("UPDATE holds SET status = 'released' WHERE hold_id = 'h001'"),
                )
            )
        return found

    monkeypatch.setattr(storage, "read", read_then_race)
    assert asyncio.run(governance.expire_holds(120.0)) == ["h002"]
    monkeypatch.setattr(storage, "read", read)
    statuses = storage.call(
        lambda conn: conn.execute("SELECT hold_id, status FROM holds ORDER BY 1").fetchall()
    )
    assert statuses == [("h000", "open"), ("h001", "released"), ("h002", "expired")]


def test_silent_among_named_holds_ignores_unknown_and_open_ones(governance):
    governance, storage = governance
    _open_holds(storage, 2, silent_for_s=600)
    now = time.time_ns()
    storage.call(
        lambda conn: conn.execute("UPDATE holds SET last_seen_ns = ? WHERE hold_id = 'h001'", [now])
    )
    among = ["nope", "h001", "h000", "'; DROP TABLE holds; --"]
    found = storage.call(
        lambda conn: service_module.reservations.silent(conn, now, 120.0, 10, among)
    )
    assert found == ["h000"]

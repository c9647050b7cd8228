"""The live holds a run check reads from memory always equal what the ledger says.

The random fleet of ``test_running_spend`` (ingest, decisions that reserve, experiments
and the runs they fund, run checks that grow holds, releases, expiry, re-pricing) is
compared after every step with a table derived from the ledger afresh, and each live
hold's family and each running run's own spend with the SQL that derived them before.
Then: transactions that roll back leave memory as the ledger; a restart derives the
same table. Real DuckDB file, no gRPC.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from genops_processor.budgets import live_holds, reservations
from genops_processor.domain import Scope
from genops_processor.storage import Storage, run_rows, transaction, writer
from tests.processor.test_running_spend import Fleet


def _copy(holds: dict) -> dict:
    return {hold_id: hold.copy() for hold_id, hold in holds.items()}


def _disagreements(storage: Storage) -> list[str]:
    def job(conn) -> list[str]:
        kept = live_holds.of(conn)
        fresh = live_holds.LiveHolds()
        fresh.rebuild(conn)
        wrong = []
        if kept.live() != fresh.holds:
            wrong.append(f"holds: memory {kept.live()}, ledger {fresh.holds}")
        wrong += _closed_disagreements(conn, kept)
        if kept.running != fresh.running:
            wrong.append(f"running runs: memory {kept.running}, ledger {fresh.running}")
        scopes = {h.scope for h in fresh.holds.values()} | {h.scope for h in kept.holds.values()}
        for scope in scopes | set(fresh._run_scope.values()) | set(kept._run_scope.values()):
            if kept.runs_not_final(scope) != fresh.runs_not_final(scope):
                wrong.append(f"runs not final of {scope}")  # max_concurrent_experiments
        principals = {h.principal for h in fresh.holds.values()}
        for principal in principals:
            if kept.open_holds_of(principal) != reservations.open_holds_of(conn._conn, principal):
                wrong.append(f"open holds of {principal!r}")
        raw = conn._conn  # nothing attached to it: the functions read the ledger
        for hold_id in fresh.holds:
            if reservations.family(conn, hold_id) != reservations.family(raw, hold_id):
                wrong.append(f"family of {hold_id}")
            if reservations.funding_parent(conn, hold_id) != reservations.funding_parent(
                raw, hold_id
            ):
                wrong.append(f"funding parent of {hold_id}")
            for projected in (0, 10**9):
                mine = reservations.spend_change(conn, hold_id, "", projected)
                ledger = reservations.spend_change(raw, hold_id, "", projected)
                if mine != ledger:
                    wrong.append(f"spend change of {hold_id}: memory {mine}, ledger {ledger}")
        for run_id, _ in (fresh.running or {}).values():
            mine = reservations.spend_change(conn, "", run_id, 10**9)
            ledger = reservations.spend_change(raw, "", run_id, 10**9)
            if mine != ledger:
                wrong.append(f"spend change of run {run_id}: memory {mine}, ledger {ledger}")
        return wrong

    return storage.call(job)


def _closed_disagreements(conn, kept) -> list[str]:
    """The closed holds memory keeps beside the live ones, each as the ledger has it:
    status, amount, the cost of each run carrying it, and a run check's own spend."""
    raw = conn._conn
    wrong = []
    for hold_id in set(kept.holds) - set(kept.live()):
        hold = kept.holds[hold_id]
        status, amount = raw.execute(
            "SELECT status, amount_micros FROM holds WHERE hold_id = ?", [hold_id]
        ).fetchone()
        runs = dict(
            raw.execute(
                "SELECT run_key, GREATEST(COALESCE(cost_micros, 0), 0) FROM runs WHERE hold_id = ?",
                [hold_id],
            ).fetchall()
        )
        if (hold.status, hold.amount_micros, hold.runs) != (status, int(amount), runs):
            wrong.append(f"closed {hold_id}: memory {hold}, ledger {status} {amount} {runs}")
        mine = reservations.own_spend(conn, hold_id, "")
        ledger = reservations.own_spend(raw, hold_id, "")
        if mine != ledger:
            wrong.append(f"own spend of closed {hold_id}: memory {mine}, ledger {ledger}")
    return wrong


def _steps_agreeing(storage: Storage, fleet: Fleet, steps: int) -> None:
    """``steps`` fleet steps, memory checked against the ledger after each."""
    history = []
    for _ in range(steps):
        history.append(fleet.step())
        assert _disagreements(storage) == [], history
        assert fleet.disagreements() == [], history  # running spend moved by memory too


def _busy_fleet(storage: Storage, seed: int, tmp_path, running: int) -> Fleet:
    """A fleet 30 steps in, with ``running`` more runs started."""
    fleet = Fleet(storage, seed, tmp_path)
    for _ in range(30):
        fleet.step()
    for _ in range(running):
        fleet.start_run()
    return fleet


@pytest.mark.parametrize("seed", range(4))
def test_live_holds_equal_the_ledger_after_every_change(tmp_path, seed):
    with Storage(tmp_path / "ledger.duckdb") as storage:
        _steps_agreeing(storage, Fleet(storage, seed, tmp_path), 70)


def test_a_rolled_back_transaction_leaves_memory_as_the_ledger(tmp_path):
    with Storage(tmp_path / "ledger.duckdb") as storage:
        fleet = _busy_fleet(storage, 3, tmp_path, running=5)
        fleet.open_experiment()
        before = storage.call(lambda conn: _copy(live_holds.of(conn).holds))
        assert before, "the fleet holds some open holds"
        scope = Scope(team="lab", project="p")
        now_ns = fleet._ns(fleet.now)

        def mixed_then_fails(conn) -> None:
            with transaction(conn):
                open_ids = [h for h, kept in before.items() if kept.status == "open"]
                new = reservations.reserve(conn, "d", scope, 5_000_000, now_ns, principal="x")
                reservations.extend(conn, new, 9_000_000)
                reservations.extend(conn, open_ids[0], 10**10)
                reservations.release(conn, open_ids[-1], now_ns)
                reservations.expire(conn, now_ns + 10**15, 1.0)  # every open hold
                raise RuntimeError("the job fails after its writes")

        with pytest.raises(RuntimeError):
            storage.call(mixed_then_fails)
        assert storage.call(lambda conn: _copy(live_holds.of(conn).holds)) == before
        assert _disagreements(storage) == []
        assert fleet.disagreements() == []  # running spend put back with the holds


def test_a_restart_derives_the_same_live_holds(tmp_path):
    path = tmp_path / "ledger.duckdb"
    with Storage(path) as storage:
        fleet = Fleet(storage, 5, tmp_path)
        for _ in range(40):
            fleet.step()
        # the closed holds memory kept are not derived again: the ledger answers for them
        kept = storage.call(lambda conn: (live_holds.of(conn).live(), dict(
            live_holds.of(conn).running)))  # fmt: skip
        now = fleet.now
    with Storage(path) as storage:
        fleet = Fleet(storage, 5, tmp_path)
        fleet.now = now
        again = storage.call(lambda conn: (dict(live_holds.of(conn).holds), dict(
            live_holds.of(conn).running)))  # fmt: skip
        assert again == kept
        assert _disagreements(storage) == []


def test_a_rolled_back_run_write_leaves_the_running_runs_as_the_ledger(tmp_path):
    """track() moves a heartbeat's cost in place and undoes the batch's running runs at
    once: a failing job puts back costs, run ids, scopes and runs that became final."""
    with Storage(tmp_path / "ledger.duckdb") as storage:
        _busy_fleet(storage, 1, tmp_path, running=4)

        def running_keys(conn) -> list[str]:
            return sorted(live_holds.of(conn).running or {})

        keys = storage.call(running_keys)
        assert len(keys) >= 4, "the fleet has running runs"
        before = storage.call(lambda conn: dict(live_holds.of(conn).running))
        scopes = storage.call(lambda conn: dict(live_holds.of(conn)._run_scope))

        def writes_then_fails(conn) -> None:
            with transaction(conn):
                states = run_rows.runs_by_key(conn, keys[:4])
                a, b, c, d = (states[k] for k in keys[:4])
                changed = [
                    replace(a, cost_micros=a.cost_micros + 7),  # a heartbeat: in place
                    replace(b, run_id=b.run_id + "-other"),
                    replace(c, scope=Scope(team="elsewhere")),
                    replace(d, final=True),
                    replace(a, cost_micros=a.cost_micros + 9),  # the same run again
                ]
                run_rows.write_runs(conn, changed)
                reservations.track(conn, changed)
                moved = live_holds.of(conn).running
                assert moved[a.run_key][1] == a.cost_micros + 9 and d.run_key not in moved
                raise RuntimeError("the job fails after its writes")

        with pytest.raises(RuntimeError):
            storage.call(writes_then_fails)
        assert storage.call(lambda conn: dict(live_holds.of(conn).running)) == before
        assert storage.call(lambda conn: dict(live_holds.of(conn)._run_scope)) == scopes
        assert _disagreements(storage) == []


def test_runs_of_one_batch_link_their_holds_and_runs_sharing_a_hold_go_in_order(tmp_path):
    """track() updates the batch's holds in one statement; runs that name the same hold
    (a client's mistake, or a hostile one) are taken one after the other, as before: the
    first final run commits it with its cost and later reports leave it committed."""
    from genops_processor.domain import HardwareUse, RunLabels, RunState, RunUsage

    scope = Scope(team="lab", project="p")

    def state(key: str, hold_id: str, cost: int, final: bool, as_of: int) -> RunState:
        return RunState(
            run_key=key,
            run_id=key,
            run_name="",
            wandb_project="w",
            scope=scope,
            hardware=HardwareUse(gpu_type="T4", gpu_count=1),
            usage=RunUsage(compute_start_ns=1, as_of_ns=as_of),
            status="finished" if final else "running",
            final=final,
            cost_micros=cost,
            labels=RunLabels(hold_id=hold_id),
        )

    with Storage(tmp_path / "ledger.duckdb") as storage:
        storage.call(live_holds.attach)  # kept beside the ledger, as the service does

        def job(conn) -> list[tuple]:
            with transaction(conn):
                a, b, c = (reservations.reserve(conn, "d", scope, 10**6, 100) for _ in range(3))
                states = [
                    state("run-a", a, 5, False, 200),
                    state("run-b", b, 7, True, 300),
                    state("run-c1", c, 9, True, 400),  # commits c
                    state("run-c2", c, 11, False, 500),  # c is no longer open
                ]
                run_rows.write_runs(conn, states)  # as ingest writes them, then tracks
                reservations.track(conn, states)
            return conn.execute(
                "SELECT hold_id = ?, run_key, last_seen_ns, status, closed_ns, committed_micros "
                "FROM holds ORDER BY run_key",
                [a],
            ).fetchall()

        rows = storage.call(job)
        assert rows == [
            (True, "run-a", 200, "open", None, None),
            (False, "run-b", 300, "committed", 300, 7),
            (False, "run-c1", 400, "committed", 400, 9),
        ]
        assert _disagreements(storage) == []


def _expired_rows(storage: Storage, now_ns: int, from_memory: bool, monkeypatch) -> list:
    """The holds after expiring every open hold (then rolled back), with the committed
    amounts taken from memory or, with memory hidden, from the ledger's join."""
    if not from_memory:
        monkeypatch.setattr(reservations.memory, "of", lambda conn: None)
    rows = []

    def job(conn) -> None:
        with pytest.raises(RuntimeError):
            with transaction(conn):
                reservations.expire(conn, now_ns, 1.0)
                rows.extend(
                    conn.execute(
                        "SELECT hold_id, status, closed_ns, committed_micros FROM holds "
                        "ORDER BY hold_id"
                    ).fetchall()
                )
                raise RuntimeError("rolled back: the other way runs on the same ledger")

    storage.call(job)
    monkeypatch.undo()
    return rows


@pytest.mark.parametrize("seed", range(3))
def test_expiry_commits_from_memory_what_the_ledger_join_commits(tmp_path, seed, monkeypatch):
    with Storage(tmp_path / "ledger.duckdb") as storage:
        fleet = _busy_fleet(storage, seed, tmp_path, running=6)
        carried = storage.call(
            lambda conn: sum(1 for h in live_holds.of(conn).holds.values() if h.runs)
        )
        assert carried, "some open holds are carried by runs (their cost is committed)"
        now_ns = fleet._ns(fleet.now) + 10**15
        by_memory = _expired_rows(storage, now_ns, True, monkeypatch)
        by_ledger = _expired_rows(storage, now_ns, False, monkeypatch)
        assert by_memory == by_ledger
        assert any(row[1] == "expired" and row[3] for row in by_memory)
        assert _disagreements(storage) == []


def test_a_hold_carried_by_two_runs_is_left_to_the_ledger(tmp_path):
    # hostile: two runs name one hold; memory does not pick one of their costs itself
    with Storage(tmp_path / "ledger.duckdb") as storage:
        _busy_fleet(storage, 1, tmp_path, running=4)

        def share_a_hold(conn) -> tuple:
            kept = live_holds.of(conn)
            hold_id, hold = next((h, hold) for h, hold in kept.live().items() if hold.runs)
            carrier = next(iter(hold.runs))
            conn.execute(
                "UPDATE runs SET hold_id = ? WHERE run_key = "
                "(SELECT min(run_key) FROM runs WHERE run_key <> ? AND NOT final)",
                [hold_id, carrier],
            )
            kept.rebuild(conn)
            return hold_id, len(kept.holds[hold_id].runs)

        hold_id, carriers = storage.call(share_a_hold)
        assert carriers == 2
        decided = storage.call(lambda conn: reservations._committed_from_memory(conn, [hold_id]))
        assert decided is None


def test_closed_holds_are_kept_and_a_check_of_one_counts_its_runs_from_memory(tmp_path):
    # A run whose hold expired and that goes on checking: its own spend is its runs'
    # cost. The ledger finds the runs carrying a hold by a scan of runs (no index on
    # runs.hold_id); memory keeps the holds it closed and answers as the ledger does.
    with Storage(tmp_path / "ledger.duckdb") as storage:
        fleet = _busy_fleet(storage, 2, tmp_path, running=6)
        now_ns = fleet._ns(fleet.now) + 10**15
        expired = storage.call(lambda conn: reservations.expire(conn, now_ns, 1.0))
        assert expired, "the fleet had open holds to expire"

        def answers(conn) -> list:
            kept = live_holds.of(conn)
            got = []
            for hold_id in expired:
                hold = kept.hold(hold_id)  # found in memory: no statement needed
                got.append(
                    (
                        hold is not None and hold.status == "expired",
                        reservations.own_spend(conn, hold_id, ""),
                        reservations.own_spend(conn._conn, hold_id, ""),  # the ledger's scan
                    )
                )
            return got

        got = storage.call(answers)
        assert all(in_memory for in_memory, _, _ in got)
        assert [mine for _, mine, _ in got] == [ledger for _, _, ledger in got]
        assert any(mine > 0 for _, mine, _ in got), "some expired hold carried a costed run"
        assert _disagreements(storage) == []


@pytest.mark.parametrize("seed", range(2))
def test_past_closed_holds_kept_the_oldest_leave_and_the_ledger_answers_for_them(
    tmp_path, seed, monkeypatch
):
    # hostile to the bound: a fleet closing far more holds than memory keeps (3)
    monkeypatch.setattr(live_holds, "CLOSED_HOLDS_KEPT", 3)
    with Storage(tmp_path / "ledger.duckdb") as storage:
        _steps_agreeing(storage, Fleet(storage, seed, tmp_path), 50)

        def closed_and_ledger(conn) -> tuple:
            kept = live_holds.of(conn)
            closed_not_live = set(kept.holds) - set(kept.live())
            ledger_closed = conn._conn.execute(
                "SELECT hold_id FROM holds WHERE status <> 'open'"
            ).fetchall()
            forgotten = [h for (h,) in ledger_closed if h not in kept.holds]
            same = all(
                reservations.own_spend(conn, h, "") == reservations.own_spend(conn._conn, h, "")
                for h in forgotten
            )
            return len(closed_not_live), len(ledger_closed), same

        kept_closed, closed, same = storage.call(closed_and_ledger)
        assert kept_closed <= 3 < closed
        assert same


def _runs_reads(monkeypatch) -> list[str]:
    """The writer's statements that read the runs carrying a hold (the scan)."""
    seen: list[str] = []
    real = writer.Connection.execute

    def counting(self, sql, *args, **kwargs):
        if "FROM runs" in sql and "hold_id" in sql:
            seen.append(sql)
        return real(self, sql, *args, **kwargs)

    monkeypatch.setattr(writer.Connection, "execute", counting)
    return seen


def test_a_closed_hold_memory_does_not_keep_is_read_once_then_counted_from_memory(
    tmp_path, monkeypatch
):
    # Holds closed before this processor started (or forgotten past the bound): the
    # first check of one reads the ledger (one scan of runs), the next ones count from
    # memory, and memory then follows its runs' costs like those of the holds it closed.
    path = tmp_path / "ledger.duckdb"
    with Storage(path) as storage:
        fleet = _busy_fleet(storage, 2, tmp_path, running=6)
        now_ns = fleet._ns(fleet.now) + 10**15
        expired = storage.call(lambda conn: reservations.expire(conn, now_ns, 1.0))
    assert expired, "the fleet had open holds to expire"
    with Storage(path) as storage:  # a restart: closed holds are not derived
        again = Fleet(storage, 3, tmp_path)  # the same fleet goes on after the restart
        again.runs, again.experiments, again.now = fleet.runs, fleet.experiments, fleet.now
        again.sequence, again.repriced = fleet.sequence, fleet.repriced
        reads = _runs_reads(monkeypatch)

        def twice(conn) -> list:
            kept = live_holds.of(conn)
            assert all(kept.hold(h) is None for h in expired)
            got = []
            for hold_id in expired:
                first = reservations.own_spend(conn, hold_id, "")
                scans = len(reads)
                second = reservations.own_spend(conn, hold_id, "")
                ledger = reservations.own_spend(conn._conn, hold_id, "")
                got.append((first, second, ledger, scans, len(reads), kept.hold(hold_id)))
            return got

        got = storage.call(twice)
        for first, second, ledger, scans_after_first, scans_after_second, hold in got:
            assert first == second == ledger
            assert scans_after_second == scans_after_first  # the second: from memory
            assert hold is not None and hold.status == "expired"
        assert len(reads) == len(expired)  # one scan each, the first time
        assert any(first > 0 for first, *_ in got), "some expired hold carried a costed run"
        _steps_agreeing(storage, again, 20)  # the recalled holds stay equal to the ledger


def test_a_check_of_a_hold_that_does_not_exist_reads_no_runs_and_keeps_nothing(
    tmp_path, monkeypatch
):
    # hostile: made-up hold ids cost one key lookup each, not a scan of every run
    with Storage(tmp_path / "ledger.duckdb") as storage:
        _busy_fleet(storage, 1, tmp_path, running=3)
        reads = _runs_reads(monkeypatch)

        def made_up(conn) -> tuple:
            spends = [reservations.own_spend(conn, f"no-such-hold-{n}", "") for n in range(50)]
            kept = live_holds.of(conn)
            return spends, [kept.hold(f"no-such-hold-{n}") for n in range(50)]

        spends, kept = storage.call(made_up)
    assert spends == [0] * 50
    assert kept == [None] * 50
    assert reads == []

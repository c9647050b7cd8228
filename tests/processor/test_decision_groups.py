"""Decisions are committed in groups: one transaction for the decisions waiting together,
each answered after the commit that holds it; a failing one loses none of the others'
work; a retried check in the same group is answered, not decided again. Real DuckDB file,
no gRPC; the writer is held busy by a job that waits on an event (no sleeps).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import pytest
import yaml

from genops_processor.budgets import ClientLimits, Policy, reservations
from genops_processor.domain import Scope
from genops_processor.pricing import Catalog, CatalogSource
from genops_processor.service import Governance
from genops_processor.storage import Priority, Storage
from tests.helpers import ROUND_CATALOG


def _queued_behind_a_blocker(storage: Storage, jobs) -> list[concurrent.futures.Future]:
    """Submit ``jobs`` as one group of decisions while the writer is busy (so they wait
    together), then let it go."""
    started, go = threading.Event(), threading.Event()

    def blocker(conn) -> None:
        started.set()
        go.wait()

    storage.submit(blocker, Priority.DECISION)
    started.wait()
    futures = [storage.submit(job, Priority.DECISION, group=True) for job in jobs]
    go.set()
    return futures


def test_grouped_decisions_are_answered_after_their_commit(tmp_path):
    with Storage(tmp_path / "ledger.duckdb") as storage:
        storage.call(lambda conn: conn.execute("CREATE TABLE t (i INTEGER)"))
        conn = storage.call(lambda conn: conn)
        seen = []

        def insert(i):
            def job(conn) -> int:
                seen.append(conn.in_transaction)
                conn.execute("INSERT INTO t VALUES (?)", [i])
                return i

            return job

        answered_inside = []
        futures = _queued_behind_a_blocker(storage, [insert(i) for i in range(5)])
        for future in futures:
            future.add_done_callback(lambda f: answered_inside.append(conn.in_transaction))
        assert [f.result() for f in futures] == list(range(5))
        assert seen == [True] * 5  # one transaction for the group
        assert answered_inside == [False] * 5  # each answered after its commit
        assert storage.call(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0]) == 5


def test_a_failing_decision_in_a_group_loses_none_of_the_others(tmp_path):
    with Storage(tmp_path / "ledger.duckdb") as storage:
        storage.call(lambda conn: conn.execute("CREATE TABLE t (i INTEGER PRIMARY KEY)"))
        committed = []

        def insert(i):
            def job(conn) -> int:
                conn.execute("INSERT INTO t VALUES (?)", [i])
                conn.on_commit(lambda: committed.append(i))
                return i

            return job

        # 2 twice: the second insert breaks the key (DuckDB aborts the transaction)
        futures = _queued_behind_a_blocker(storage, [insert(i) for i in (1, 2, 3, 2, 4)])
        assert [f.result() for f in futures[:3]] == [1, 2, 3]
        with pytest.raises(Exception, match="(?i)constraint|duplicate"):
            futures[3].result()
        assert futures[4].result() == 4
        rows = storage.call(lambda c: c.execute("SELECT i FROM t ORDER BY i").fetchall())
        assert rows == [(1,), (2,), (3,), (4,)]
        assert sorted(committed) == [1, 2, 3, 4]  # the rolled-back attempt left nothing


def test_a_retried_check_in_the_same_group_is_answered_not_decided_again(tmp_path):
    policy = Policy.from_dict(
        yaml.safe_load("budgets:\n  - {name: lab, scope: {team: lab}, daily_limit: 100}")
    )
    with Storage(tmp_path / "ledger.duckdb") as storage:
        governance = Governance(storage, CatalogSource(Catalog.load(ROUND_CATALOG)), policy)
        scope = Scope(team="lab")

        async def twice() -> list:
            started, go = threading.Event(), threading.Event()
            storage.submit(lambda conn: (started.set(), go.wait()), Priority.DECISION)
            started.wait()
            checks = [
                asyncio.ensure_future(
                    governance.check_budget(scope, 5_000_000, ClientLimits(), request_id="r-1")
                )
                for _ in range(2)
            ]
            await asyncio.sleep(0)  # both submitted: they wait together behind the blocker
            go.set()
            return await asyncio.gather(*checks)

        first, again = asyncio.run(twice())
        assert again == first
        holds = storage.call(reservations.holds)
        assert [h["hold_id"] for h in holds] == [first.hold_id]

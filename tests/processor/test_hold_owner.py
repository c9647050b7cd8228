"""Who made a hold (Governance.hold_owner, the check behind CheckRun, RenewHold and
ReleaseHold): a hold the processor keeps in memory (live, or among the last closed)
answers without a writer job (a run check then waits behind ingest once, not twice);
any other from the ledger. Real DuckDB
file, real Governance, no gRPC; writer jobs counted, not timed."""

from __future__ import annotations

import asyncio

from genops_processor.budgets import ClientLimits, live_holds
from genops_processor.domain import Scope


def _jobs(storage, monkeypatch) -> list:
    jobs: list = []
    submit = storage.submit

    def counting(fn, *args, **kwargs):
        jobs.append(fn)
        return submit(fn, *args, **kwargs)

    monkeypatch.setattr(storage, "submit", counting)
    return jobs


def test_a_kept_holds_owner_is_answered_from_memory_a_forgotten_ones_from_the_ledger(
    governance, monkeypatch
):
    governance, storage = governance
    scope = Scope(team="vision", project="p")
    live = storage.call(lambda conn: live_holds.of(conn))

    async def scenario():
        made = await governance.check_budget(
            scope, 1_000_000, ClientLimits(), "w", "r", principal="alice"
        )
        other = await governance.check_budget(
            scope, 1_000_000, ClientLimits(), "w", "r2", principal="alice"
        )
        jobs = _jobs(storage, monkeypatch)
        answers, asked = [], []
        for hold_id in (made.hold_id, made.hold_id, other.hold_id, "0" * 32):
            if len(answers) == 1:
                assert await governance.release_hold(made.hold_id)  # closed, still kept
            if len(answers) == 2:
                live.closed_kept = 0  # the next close forgets every closed hold
                assert await governance.release_hold(other.hold_id)
            before = len(jobs)
            answers.append(await governance.hold_owner(hold_id))
            asked.append(len(jobs) - before)
        return answers, asked

    answers, asked = asyncio.run(scenario())
    # open, closed and kept, closed and forgotten (the ledger), unknown (the ledger)
    assert answers == [("alice", "vision")] * 3 + [None]
    assert asked == [0, 0, 1, 1]


def test_a_hold_made_before_authentication_has_no_principal_either_way(governance, monkeypatch):
    """Hostile to the shortcut: memory and the ledger must agree on "nobody" (None), so
    a caller cannot claim a principal-less hold through one path and not the other."""
    governance, storage = governance

    async def scenario():
        made = await governance.check_budget(Scope(team="t"), 1_000_000, ClientLimits())
        from_memory = await governance.hold_owner(made.hold_id)
        await governance.release_hold(made.hold_id)
        from_ledger = await governance.hold_owner(made.hold_id)
        return from_memory, from_ledger

    assert asyncio.run(scenario()) == ((None, "t"), (None, "t"))

"""Who made a hold (Governance.hold_owner, the check behind CheckRun, RenewHold and
ReleaseHold): a hold the processor keeps in memory answers without a writer job (a run
check then waits behind ingest once, not twice); any other from the ledger. Real DuckDB
file, real Governance, no gRPC; writer jobs counted, not timed."""

from __future__ import annotations

import asyncio

from genops_processor.budgets import ClientLimits
from genops_processor.domain import Scope


def _jobs(storage, monkeypatch) -> list:
    jobs: list = []
    submit = storage.submit

    def counting(fn, *args, **kwargs):
        jobs.append(fn)
        return submit(fn, *args, **kwargs)

    monkeypatch.setattr(storage, "submit", counting)
    return jobs


def test_an_open_holds_owner_is_answered_from_memory_a_closed_ones_from_the_ledger(
    governance, monkeypatch
):
    governance, storage = governance
    scope = Scope(team="vision", project="p")

    async def scenario():
        made = await governance.check_budget(
            scope, 1_000_000, ClientLimits(), "w", "r", principal="alice"
        )
        jobs = _jobs(storage, monkeypatch)
        open_owner = await governance.hold_owner(made.hold_id)
        asked_while_open = len(jobs)
        assert await governance.release_hold(made.hold_id)
        before = len(jobs)
        closed_owner = await governance.hold_owner(made.hold_id)
        asked_when_closed = len(jobs) - before
        unknown = await governance.hold_owner("0" * 32)
        return open_owner, asked_while_open, closed_owner, asked_when_closed, unknown

    open_owner, asked_open, closed_owner, asked_closed, unknown = asyncio.run(scenario())
    assert open_owner == closed_owner == ("alice", "vision")
    assert (asked_open, asked_closed) == (0, 1)
    assert unknown is None


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

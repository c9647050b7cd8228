"""Every budget decision's audit event names the policy version in force
(budgets/policy_store.py), read from the ledger once per connection, also when none is
stored (a processor started without a policy file): decisions then stay journal-only,
as with a stored policy, instead of querying (and applying the journal) on each call.
Real DuckDB file, real Governance, no gRPC."""

from __future__ import annotations

import asyncio
import datetime as dt

from genops_processor.budgets import ClientLimits, Policy, policy_store
from genops_processor.domain import Scope
from genops_processor.pricing import Catalog, CatalogSource
from genops_processor.service import Governance
from genops_processor.storage import Storage
from tests.helpers import ROUND_CATALOG


def _in_file(storage: Storage, table: str) -> int:
    """Rows the DuckDB file holds (journaled decisions not applied yet are not in it)."""
    return storage.read(lambda c: c.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _decide(governance: Governance, n: int) -> list[str]:
    async def run() -> list[str]:
        scope = Scope(team="ml", project="p")
        recorded = [
            await governance.check_budget(scope, 1_000_000, ClientLimits(), "w", f"r{i}")
            for i in range(n)
        ]
        return [r.decision_id for r in recorded]

    return asyncio.run(run())


def test_no_policy_stored_is_remembered_and_decisions_stay_journal_only(tmp_path):
    with Storage(tmp_path / "ledger.duckdb") as storage:
        governance = Governance(
            storage, CatalogSource(Catalog.load(ROUND_CATALOG)), Policy.from_dict({}, "t")
        )
        assert storage.call(policy_store.current_version) is None
        ids = _decide(governance, 1)  # the first may read what it keeps in memory
        applied = _in_file(storage, "budget_decisions")
        ids += _decide(governance, 5)
        # none of the next five made a statement that would have applied the journal first
        assert _in_file(storage, "budget_decisions") == applied
        stored = storage.call(
            lambda c: c.execute(
                "SELECT count(*), count(DISTINCT policy_version), min(policy_version) "
                "FROM audit_events WHERE kind = 'budget.decision'"
            ).fetchone()
        )
        assert stored == (len(ids), 1, "")  # every decision audited, naming no version
        governance.close()


def test_a_version_saved_later_is_named_by_the_next_decision(tmp_path):
    """Hostile to the cache: a remembered "none" must not outlive a save."""
    with Storage(tmp_path / "ledger.duckdb") as storage:
        assert storage.call(policy_store.current_version) is None
        now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
        saved = storage.call(lambda c: policy_store.save(c, {"budgets": []}, "admin", "t", now))
        assert storage.call(policy_store.current_version) == saved == 1

"""Ids the processor mints for holds, budget decisions and audit events are UUIDv7
(storage/ordered_ids.py): new rows' primary keys land together at the end of their
index instead of at random places in a ledger of millions of rows. Real DuckDB file,
the processor's own Governance; no clock is mocked except where a test passes the time."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from genops_processor.budgets import ClientLimits, Policy
from genops_processor.domain import Scope
from genops_processor.pricing import Catalog, CatalogSource
from genops_processor.service import Governance
from genops_processor.storage import Storage
from genops_processor.storage.ordered_ids import ordered_id
from tests.helpers import ROUND_CATALOG

MS = 1_000_000


def _v7_ms(hex_id: str) -> int:
    parsed = uuid.UUID(hex=hex_id)
    assert parsed.version == 7, hex_id
    assert parsed.variant == uuid.RFC_4122, hex_id
    return parsed.int >> 80


def test_an_id_is_a_uuid7_carrying_its_millisecond():
    at = 1_796_000_000_123 * MS + 456_789
    minted = ordered_id(at)
    assert len(minted) == 32 and minted == minted.lower()
    assert _v7_ms(minted) == 1_796_000_000_123


def test_ids_minted_later_sort_after_and_never_repeat():
    earlier = [ordered_id(1_000 * MS) for _ in range(2_000)]
    later = [ordered_id(1_001 * MS) for _ in range(2_000)]
    assert max(earlier) < min(later)  # text order is time order: the index's end
    assert len(set(earlier + later)) == 4_000  # 74 random bits within a millisecond


def test_ids_of_one_millisecond_are_not_guessable_from_each_other():
    same_ms = [int(ordered_id(5 * MS), 16) & (2**62 - 1) for _ in range(1_000)]
    assert len(set(same_ms)) == 1_000
    # the random bits are spread, not counted up: both halves of the range are used
    assert min(same_ms) < 2**61 < max(same_ms)


def test_times_outside_48_bits_still_give_a_well_formed_id():
    # a clock far off (or a hostile test value) must not break the layout or the length
    for at in (0, 2**48 * MS + 7 * MS, 2**63 - 1):
        minted = ordered_id(at)
        assert len(minted) == 32
        _v7_ms(minted)


@pytest.fixture
def governance(tmp_path):
    storage = Storage(tmp_path / "ledger.duckdb").open()
    policy = Policy.from_dict(
        {"budgets": [{"name": "ml", "scope": {"team": "ml"}, "limit": 100, "mode": "enforced"}]},
        "test",
    )
    governance = Governance(storage, CatalogSource(Catalog.load(ROUND_CATALOG)), policy)
    yield governance, storage
    governance.close()
    storage.close()


def test_holds_decisions_and_audit_events_get_ordered_ids(governance):
    governance, storage = governance
    scope = Scope(team="ml", project="p")

    async def decide():
        return [
            await governance.check_budget(scope, 1_000_000, ClientLimits(), request_id=f"r-{i}")
            for i in range(3)
        ]

    recorded = asyncio.run(decide())
    holds = [r.hold_id for r in recorded]
    decisions = [r.decision_id for r in recorded]
    assert all(holds) and all(decisions)
    for minted in holds + decisions:
        _v7_ms(minted)
    assert [_v7_ms(h) for h in holds] == sorted(_v7_ms(h) for h in holds)
    events = storage.call(
        lambda conn: conn.execute("SELECT event_id FROM audit_events ORDER BY seq").fetchall()
    )
    assert events
    times = [_v7_ms(row[0]) for row in events]
    assert times == sorted(times)

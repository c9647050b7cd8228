"""An experiment's hold funds its runs, and spend counts them once: the spend a decision
reads is committed cost + max(the experiment's hold, what its runs count for), in every
state of the experiment. Governance on a real DuckDB file, injected clock, no gRPC."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from genops_processor.api.convert import running_run
from genops_processor.budgets import ClientLimits, Policy, reservations
from genops_processor.domain import (
    Batch,
    HardwareUse,
    RunLabels,
    RunUsage,
    Scope,
    SpanRecord,
    UsageEvent,
)
from genops_processor.ingest import ingest_batch
from genops_processor.pricing import Catalog, CatalogSource
from genops_processor.service import Governance
from genops_processor.storage import Storage
from tests.helpers import ROUND_CATALOG

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 29, 12, tzinfo=UTC)
START = int(dt.datetime(2026, 11, 29, 10, tzinfo=UTC).timestamp() * 1e9)
SECOND = 10**9
SCOPE = Scope(team="lab", project="p")
NONE = ClientLimits()
USD = 1_000_000


def run_event(key: str, hold_id: str, seconds: int, final: bool, sequence: int) -> UsageEvent:
    """One vCPU from 10:00 for ``seconds`` (round catalog: $0.001 a second)."""
    return UsageEvent(
        span=SpanRecord(
            key,
            f"{sequence:016x}",
            "run" if final else "heartbeat",
            "wandb.run",
            key,
            START,
            START + seconds * SECOND,
            "{}",
        ),  # fmt: skip
        run_id=key[:8],
        run_name=key,
        wandb_project="p",
        scope=SCOPE,
        hardware=HardwareUse(cpu_count=1),
        usage=RunUsage(
            compute_start_ns=START, as_of_ns=START + seconds * SECOND, sequence=sequence
        ),
        status="finished" if final else "running",
        final=final,
        labels=RunLabels(hold_id=hold_id),
    )


class Ledger:
    def __init__(self, storage: Storage, policy: str) -> None:
        import yaml

        self.storage = storage
        self.catalogs = CatalogSource(Catalog.load(ROUND_CATALOG))
        self.governance = Governance(
            storage, self.catalogs, Policy.from_dict(yaml.safe_load(policy)), clock=lambda: NOW
        )
        self._sequence = 0

    def check(self, requested: int, parent: str = "", scope: Scope = SCOPE):
        return asyncio.run(
            self.governance.check_budget(scope, requested, NONE, parent_hold_id=parent)
        )

    def spent(self) -> int:
        """What a decision reads: a probe that asks for nothing (and reserves nothing)."""
        [state] = self.check(0).decision.states
        [status] = asyncio.run(self.governance.budget_status())
        assert status.spent_micros == state.spent_micros
        return state.spent_micros

    def report(self, key: str, hold_id: str, seconds: int, final: bool = False) -> None:
        self._sequence += 1
        event = run_event(key, hold_id, seconds, final, self._sequence)
        self.storage.submit(
            lambda conn: ingest_batch(conn, Batch(usage=(event,)), self.catalogs)
        ).result()

    def check_run(self, key: str, hold_id: str, seconds: int, next_check_s: int = 0):
        snapshot = run_event(key, hold_id, seconds, False, 0)
        state = running_run(SCOPE, snapshot.hardware, snapshot.usage, snapshot.labels, key[:8])
        return asyncio.run(
            self.governance.check_run(SCOPE, NONE, hold_id, key[:8], state, next_check_s * SECOND)
        )

    def hold(self, hold_id: str) -> dict:
        [row] = [h for h in self.storage.call(reservations.holds) if h["hold_id"] == hold_id]
        return row


@pytest.fixture
def ledger(tmp_path):
    storage = Storage(tmp_path / "ledger.duckdb").open()
    yield Ledger(
        storage,
        "budgets: [{name: lab-daily, scope: {team: lab}, daily_limit: 10, mode: enforced}]",
    )
    storage.close()


def test_spend_counts_the_experiment_once_in_each_of_its_states(ledger):
    # Committed before the experiment: a run of its own, 1000 s = $1.
    ledger.report("a" * 32, "", 1_000, final=True)
    committed = 1 * USD
    assert ledger.spent() == committed

    # The experiment opens: its hold, $4, and nothing run yet.
    experiment = ledger.check(4 * USD)
    parent = experiment.hold_id
    assert experiment.decision.outcome == "allow" and parent
    assert ledger.spent() == committed + 4 * USD

    # A run inside asks for $1: drawn on the hold, nothing more is asked of the budget.
    first = ledger.check(1 * USD, parent)
    assert first.decision.outcome == "allow" and first.hold_id
    assert first.decision.requested_micros == 0
    assert first.decision.states[0].spent_micros == committed + 4 * USD  # the budget's state
    assert f"drawn on experiment hold {parent}" in first.decision.message
    assert ledger.hold(first.hold_id)["parent_hold_id"] == parent
    assert ledger.spent() == committed + 4 * USD  # max($4, $1)

    # Running: $1.80 accrued, past its own $1 hold, inside the experiment's $4.
    ledger.report("b" * 32, first.hold_id, 1_800)
    assert ledger.spent() == committed + 4 * USD
    verdict = ledger.check_run("b" * 32, first.hold_id, 1_800, next_check_s=200)
    assert verdict.action == "continue" and verdict.deciding is None
    assert ledger.spent() == committed + 4 * USD  # its hold extended to $2, still inside

    # Finished at $1.80: its cost counts once, inside the experiment's hold.
    ledger.report("b" * 32, first.hold_id, 1_800, final=True)
    assert ledger.hold(first.hold_id)["status"] == "committed"
    assert ledger.spent() == committed + 4 * USD  # max($4, $1.80)

    # A run asking for $3 when $2.20 is left: the budget is asked for the $0.80 excess
    # only, decided normally, and the experiment's hold grows by it.
    second = ledger.check(3 * USD, parent)
    assert second.decision.outcome == "allow"
    assert second.decision.requested_micros == 800_000
    assert "the budget was asked for the rest, $0.8" in second.decision.message
    assert ledger.hold(parent)["amount_micros"] == 4_800_000
    assert ledger.spent() == committed + 4_800_000  # max($4.80, $1.80 + $3)

    # The second run ends up costing $3.50, past the grown hold: counted, once.
    ledger.report("c" * 32, second.hold_id, 3_500)
    assert ledger.spent() == committed + 1_800_000 + 3_500_000
    ledger.report("c" * 32, second.hold_id, 3_500, final=True)
    assert ledger.spent() == committed + 5_300_000

    # The experiment exits and gives its hold back: its runs' costs stay, committed.
    assert asyncio.run(ledger.governance.release_hold(parent))
    assert ledger.spent() == committed + 1_800_000 + 3_500_000


def test_a_run_still_open_when_its_experiment_exits_keeps_its_own_hold(ledger):
    parent = ledger.check(4 * USD).hold_id
    child = ledger.check(1 * USD, parent).hold_id
    ledger.report("d" * 32, child, 300)  # $0.30 so far
    assert ledger.spent() == 4 * USD
    asyncio.run(ledger.governance.release_hold(parent))
    assert ledger.spent() == 1 * USD  # on its own now: its hold, larger than its cost
    ledger.report("d" * 32, child, 300, final=True)
    assert ledger.spent() == 300_000


def test_the_excess_is_refused_under_an_enforced_budget_and_the_hold_does_not_grow(ledger):
    parent = ledger.check(9 * USD).hold_id  # $1 of $10 left beside it
    refused = ledger.check(11 * USD, parent)  # needs $2 beyond the experiment's $9
    assert refused.decision.outcome == "deny" and not refused.hold_id
    assert refused.decision.requested_micros == 2 * USD
    assert refused.decision.deciding.spent_micros == 9 * USD
    assert ledger.hold(parent)["amount_micros"] == 9 * USD
    assert ledger.spent() == 9 * USD
    # A run that fits in the hold is still funded, although the budget has $1 left.
    assert ledger.check(9 * USD, parent).decision.outcome == "allow"
    assert ledger.spent() == 9 * USD


def test_a_funded_run_that_would_pass_the_budget_mid_run_is_stopped_counting_once(ledger):
    parent = ledger.check(9 * USD).hold_id
    child = ledger.check(1 * USD, parent).hold_id
    ledger.report("e" * 32, child, 8_000)  # $8 so far: inside the $9 hold
    assert ledger.check_run("e" * 32, child, 8_000, next_check_s=900).action == "continue"
    # $10.50 by its next check: the experiment would count $10.50, past the $10 limit.
    verdict = ledger.check_run("e" * 32, child, 8_000, next_check_s=2_500)
    assert verdict.action == "stop"
    assert verdict.deciding.spent_micros == 10_500_000


@pytest.mark.parametrize(
    "parent_of, why",
    [
        (lambda ledger: "f" * 32, "unknown or no longer open"),
        (lambda ledger: ledger.check(4 * USD, scope=Scope(team="lab", project="other")).hold_id,
         "of another scope"),
        (lambda ledger: released(ledger), "unknown or no longer open"),
        (lambda ledger: funded(ledger), "itself funded by another hold"),
        (lambda ledger: a_run_s(ledger), "a run's own hold"),
    ],
    ids=["unknown", "another-scope", "released", "itself-funded", "a-run-s-own"],
)  # fmt: skip
def test_a_parent_that_is_not_usable_gives_nothing(ledger, parent_of, why):
    parent = parent_of(ledger)
    before = ledger.spent()
    own = ledger.check(2 * USD, parent)
    assert own.decision.outcome == "allow"
    assert own.decision.requested_micros == 2 * USD  # asked of the budget in full
    assert f"parent hold '{parent}' is not usable ({why})" in own.decision.message
    assert ledger.hold(own.hold_id)["parent_hold_id"] is None
    assert ledger.spent() == before + 2 * USD  # a hold of its own, beside the others


def released(ledger: Ledger) -> str:
    hold_id = ledger.check(4 * USD).hold_id
    asyncio.run(ledger.governance.release_hold(hold_id))
    return hold_id


def funded(ledger: Ledger) -> str:
    return ledger.check(1 * USD, ledger.check(4 * USD).hold_id).hold_id


def a_run_s(ledger: Ledger) -> str:
    hold_id = ledger.check(4 * USD).hold_id
    ledger.report("9" * 32, hold_id, 60)
    return hold_id


def test_a_run_s_hold_named_before_its_run_reported_still_counts_everything_once(ledger):
    # A run's hold named as a parent before the run's first span linked it (a race
    # the check cannot see): the family counts the run's cost and its funded hold's.
    parent = ledger.check(4 * USD).hold_id
    child = ledger.check(1 * USD, parent).hold_id
    ledger.report("7" * 32, parent, 3_000)  # the parent's own run: $3 so far
    assert ledger.spent() == 4 * USD  # max($4, $3 + $1)
    ledger.report("8" * 32, child, 2_000)  # the funded run: $2 so far
    assert ledger.spent() == 5 * USD  # $3 + $2
    # The parent's run asks to go on to $5.50: the family would count $7.50, spend +$2.50.
    verdict = ledger.check_run("7" * 32, parent, 3_000, next_check_s=2_500)
    assert verdict.action == "continue"
    assert ledger.check_run("7" * 32, parent, 3_000, next_check_s=6_000).action == "stop"
    stopped = ledger.check_run("7" * 32, parent, 3_000, next_check_s=6_000)
    assert stopped.deciding.spent_micros == 5 * USD + 6 * USD  # $9 + $2, once each


def test_holds_of_an_older_database_get_the_parent_column_and_fund_nothing(tmp_path):
    import duckdb

    path = tmp_path / "old.duckdb"
    with Storage(path) as storage:
        Ledger(storage, "budgets: []").check(0)  # creates the schema
    with duckdb.connect(str(path)) as conn:  # what a processor before parent_hold_id left
        conn.execute("ALTER TABLE holds DROP COLUMN parent_hold_id")
        conn.execute(
            "INSERT INTO holds (hold_id, team, project, customer_id, cost_center, environment, "
            "amount_micros, status, created_ns) VALUES ('old', 'lab', 'p', '', '', '', 2000000, "
            f"'open', {int(NOW.timestamp() * 1e9)})"
        )
    with Storage(path) as storage:
        ledger = Ledger(
            storage, "budgets: [{name: lab, scope: {team: lab}, daily_limit: 10, mode: enforced}]"
        )
        assert ledger.hold("old")["parent_hold_id"] is None
        assert ledger.spent() == 2 * USD
        assert ledger.check(1 * USD, "old").decision.requested_micros == 0  # it funds runs
        assert ledger.spent() == 2 * USD

"""The running spend a decision reads always equals what spend.py derives from the ledger.

Random sequences of ingest (heartbeats, final spans, re-sent spans, hand-added lines),
decisions that reserve (runs of their own, experiments, runs their experiment funds),
run checks that grow holds, releases, expiry, re-pricing and period rollover (days and
a month, runs spanning midnight), each followed by a comparison for budgets of several
scopes and periods. Governance on a real DuckDB file, injected clock, no gRPC.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import random
from decimal import Decimal

import pytest
import yaml

from genops_processor.api.convert import running_run
from genops_processor.budgets import ClientLimits, Policy, spend
from genops_processor.domain import (
    Batch,
    HardwareUse,
    ManualCostEvent,
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
SECOND = 10**9
USD = 1_000_000
NONE = ClientLimits()
SCOPES = (Scope(team="lab", project="p"), Scope(team="lab", project="q"), Scope(team="ml"))
POLICY = """
budgets:
  - {name: lab-daily, scope: {team: lab}, daily_limit: 1000, mode: enforced}
  - {name: lab-p-monthly, scope: {team: lab, project: p}, limit: 5000, period: monthly,
     mode: advisory}
  - {name: ml-weekly, scope: {team: ml}, limit: 5000, period: weekly, mode: enforced}
  - {name: everything, scope: {}, limit: 100000, period: total, mode: advisory}
  - {name: paris-daily, scope: {team: lab}, daily_limit: 1000, timezone: Europe/Paris,
     mode: advisory}
"""


@dataclasses.dataclass
class Run:
    key: str
    scope: Scope
    hold_id: str
    start_ns: int
    seconds: int = 0
    final: bool = False


class Fleet:
    """A ledger driven at random, and the check that running spend matches the ledger."""

    def __init__(self, storage: Storage, seed: int, tmp_path) -> None:
        self.storage = storage
        self.random = random.Random(seed)
        self.now = dt.datetime(2026, 11, 30, 21, tzinfo=UTC)  # Monday, a month's last day
        self.catalogs = CatalogSource(Catalog.load(ROUND_CATALOG))
        self.governance = Governance(
            storage,
            self.catalogs,
            Policy.from_dict(yaml.safe_load(POLICY)),
            clock=lambda: self.now,
        )
        self.runs: list[Run] = []
        self.experiments: list[tuple[str, Scope]] = []
        self.sequence = 0
        self.repriced = 0
        self.tmp_path = tmp_path
        self.last_batch: Batch | None = None

    # -- what a fleet does ----------------------------------------------------------
    def step(self) -> str:
        choices = [
            (self.start_run, 4),
            (self.heartbeat, 10),
            (self.resend, 1),
            (self.check_run, 3),
            (self.open_experiment, 2),
            (self.release, 1),
            (self.expire, 1),
            (self.manual_line, 1),
            (self.reprice, 0.3),
            (self.add_budget, 0.3),
        ]
        action = self.random.choices([c for c, _ in choices], [w for _, w in choices])[0]
        self.now += dt.timedelta(seconds=self.random.randrange(0, 1_200))
        action()
        return action.__name__

    def _check(self, scope: Scope, micros: int, parent: str = ""):
        # Some clients send their own daily limit: a budget of their (team, project).
        client = self.random.choice((NONE, ClientLimits(daily_limit_micros=50 * USD)))
        return asyncio.run(
            self.governance.check_budget(scope, micros, client, parent_hold_id=parent)
        )

    def start_run(self) -> None:
        scope = self.random.choice(SCOPES)
        hold_id = ""
        if self.random.random() < 0.8:
            parents = [h for h, s in self.experiments if s == scope]
            parent = self.random.choice(parents) if parents and self.random.random() < 0.7 else ""
            hold_id = self._check(scope, self.random.randrange(0, 3 * USD), parent).hold_id
        start = self._ns(self.now) - self.random.randrange(0, 3_600) * SECOND
        self.runs.append(Run(f"{len(self.runs):032x}", scope, hold_id, start))
        self.heartbeat(self.runs[-1])

    def open_experiment(self) -> None:
        scope = self.random.choice(SCOPES)
        recorded = self._check(scope, self.random.randrange(1, 6) * USD)
        if recorded.hold_id:
            self.experiments.append((recorded.hold_id, scope))

    def heartbeat(self, run: Run | None = None) -> None:
        live = [r for r in self.runs if not r.final]
        if run is None and not live:
            return
        run = run or self.random.choice(live)
        run.seconds = max(run.seconds, (self._ns(self.now) - run.start_ns) // SECOND)
        run.final = self.random.random() < 0.15
        self._ingest(Batch(usage=(self._event(run),)))

    def resend(self) -> None:
        if self.last_batch is not None:  # a client's retry: nothing changes
            self._ingest(self.last_batch)

    def check_run(self) -> None:
        held = [r for r in self.runs if not r.final and r.hold_id]
        if not held:
            return
        run = self.random.choice(held)
        event = self._event(run)
        state = running_run(run.scope, event.hardware, event.usage, event.labels, run.key[:8])
        asyncio.run(
            self.governance.check_run(
                run.scope, NONE, run.hold_id, run.key[:8], state, 1_800 * SECOND
            )
        )

    def release(self) -> None:
        holds = [h for h, _ in self.experiments] + [r.hold_id for r in self.runs if r.hold_id]
        if holds:
            asyncio.run(self.governance.release_hold(self.random.choice(holds)))

    def expire(self) -> None:
        asyncio.run(self.governance.expire_holds(self.random.choice((600.0, 3_600.0))))

    def manual_line(self) -> None:
        self.sequence += 1
        at = self._ns(self.now)
        span = SpanRecord("e" * 32, f"{self.sequence:016x}", "cost_line", "genops.cost_line",
                          "e" * 32, at, at, "{}")  # fmt: skip
        event = ManualCostEvent(
            span=span,
            experiment_id="x",
            run_id="",
            scope=self.random.choice(SCOPES),
            sku="vcpu",
            category="compute",
            quantity=Decimal(self.random.randrange(1, 100)) / 10,
            unit="vcpu-hour",
            catalog_version="",
            region="",
        )
        self._ingest(Batch(manual_costs=(event,)))

    def add_budget(self) -> None:
        """A policy change: a budget, maybe of a scope no budget had, in force at once."""
        scope = self.random.choice(SCOPES)
        budget = {
            "name": f"added-{len(self.governance.policy.budgets)}",
            "scope": {k: v for k, v in scope.as_dict().items() if v},
            "limit": 100,
            "period": self.random.choice(("daily", "weekly", "monthly", "total")),
            "mode": "advisory",
        }
        asyncio.run(self.governance.set_budget(budget, "test", "a new budget"))

    def reprice(self) -> None:
        self.repriced += 1
        rate = Decimal("3.6") * (self.repriced + 1)
        path = self.tmp_path / f"catalog-{self.repriced}.yaml"
        body = yaml.safe_load(ROUND_CATALOG.read_text())
        body["version"] = f"test-round-{self.repriced + 1}"
        body["rows"][1]["unit_price"] = str(rate)
        path.write_text(yaml.safe_dump(body))
        catalog = Catalog.load(path)

        async def job():
            await self.governance.register_catalog(catalog, "test")
            async for _ in self.governance.reprice(catalog, None, "test"):
                pass

        asyncio.run(job())

    # -- plumbing -------------------------------------------------------------------
    @staticmethod
    def _ns(moment: dt.datetime) -> int:
        return int(moment.timestamp() * SECOND)

    def _event(self, run: Run) -> UsageEvent:
        self.sequence += 1
        as_of = run.start_ns + run.seconds * SECOND
        return UsageEvent(
            span=SpanRecord(
                run.key,
                f"{self.sequence:016x}",
                "run" if run.final else "heartbeat",
                "wandb.run",
                run.key,
                run.start_ns,
                as_of,
                "{}",
            ),  # fmt: skip
            run_id=run.key[:8],
            run_name=run.key,
            wandb_project="p",
            scope=run.scope,
            hardware=HardwareUse(cpu_count=2),
            usage=RunUsage(compute_start_ns=run.start_ns, as_of_ns=as_of, sequence=self.sequence),
            status="finished" if run.final else "running",
            final=run.final,
            labels=RunLabels(hold_id=run.hold_id),
        )

    def _ingest(self, batch: Batch) -> None:
        self.last_batch = batch
        self.storage.call(lambda conn: ingest_batch(conn, batch, self.catalogs))

    def disagreements(self) -> list[str]:
        """Budgets whose running spend differs from the spend derived from the ledger."""
        governance, now = self.governance, self.now

        def job(conn) -> list[str]:
            wrong = []
            clients = [ClientLimits(daily_limit_micros=USD)]
            budgets = [
                *governance.policy.budgets,
                *(b for s in SCOPES for b in governance.policy.budgets_for(s, *clients)),
            ]
            for state in governance.spend.states(conn, budgets, now):
                derived = spend.spend_query(conn, state.budget, state.period_start)
                if state.spent_micros != derived:
                    wrong.append(f"{state.budget.name}: running {state.spent_micros}, "
                                 f"ledger {derived}")  # fmt: skip
            return wrong

        return self.storage.call(job)


@pytest.mark.parametrize("seed", range(6))
def test_running_spend_equals_the_ledger_after_every_change(tmp_path, seed):
    storage = Storage(tmp_path / "ledger.duckdb").open()
    try:
        fleet = Fleet(storage, seed, tmp_path)
        history = []
        for _ in range(70):
            history.append(fleet.step())
            assert fleet.disagreements() == [], history
        assert fleet.now.day == 1  # the days, the week and the month rolled over
    finally:
        storage.close()


def test_a_decision_reads_running_spend_and_derives_nothing_after_start(tmp_path):
    storage = Storage(tmp_path / "ledger.duckdb").open()
    try:
        fleet = Fleet(storage, 99, tmp_path)
        fleet.start_run()
        assert fleet.disagreements() == []  # every account derived once (clients' too)
        derived = fleet.governance.spend.derivations
        for _ in range(20):
            fleet.now += dt.timedelta(seconds=30)
            fleet.heartbeat()
            fleet.start_run()
        assert fleet.governance.spend.derivations == derived
        assert fleet.disagreements() == []
    finally:
        storage.close()


def test_running_spend_is_derived_from_the_ledger_on_start(tmp_path):
    path = tmp_path / "ledger.duckdb"
    with Storage(path) as storage:
        fleet = Fleet(storage, 7, tmp_path)
        for _ in range(15):
            fleet.step()
        expected = fleet.disagreements
        assert expected() == []
        now = fleet.now
    with Storage(path) as storage:
        fleet = Fleet(storage, 7, tmp_path)
        fleet.now = now
        assert fleet.governance.spend.derivations == len(fleet.governance.policy.budgets)
        assert fleet.disagreements() == []

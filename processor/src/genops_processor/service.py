"""The processor's application service: ingest usage, decide budgets, answer queries.

Transport-free: the gRPC receiver and API call into it, tests can too. All
database work runs on the storage writer thread, so a budget decision (read
spend, decide, record) is one atomic step with respect to ingest.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import functools
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

from genops_processor import storage as store
from genops_processor.alerts import Monitoring, outbox
from genops_processor.alerts import delivery as alerts
from genops_processor.budgets import (
    BudgetState,
    ClientLimits,
    Decision,
    Policy,
    PolicyError,
    approvals,
    decide,
    decisions,
    funding,
    linear_forecast_micros,
    live_holds,
    period_start,
    policy_store,
    reservations,
    residency,
    running,
)
from genops_processor.budgets.alert_settings import shown_address
from genops_processor.domain import Batch, RunState, Scope
from genops_processor.ingest import IngestQueue, IngestResult
from genops_processor.limits import (
    DELIVERY_BACKOFF_S,
    EXPIRE_STEP_HOLDS,
    OFFLINE_CHUNK,
    REFUSALS_IN_FLIGHT,
)
from genops_processor.metrics import ProcessorMetrics
from genops_processor.pricing import Catalog, CatalogSource, catalog_store, cost_lines, repricing
from genops_processor.record import audit, audit_many
from genops_processor.storage import Priority, queries, run_cache
from genops_processor.storage.stored_span_ids import stored_span_ids
from genops_processor.storage.warm_indexes import warm_indexes

_log = logging.getLogger(__name__)
DECISION, BULK = Priority.DECISION, Priority.BULK
REMEMBERED_REQUESTS = 100_000  # check request ids answered from memory on a retry

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class RunVerdict:
    action: str  # continue | warn | stop
    accrued_micros: int
    hold_micros: int
    deciding: BudgetState | None
    message: str


@dataclass(frozen=True)
class RecordedDecision:
    decision_id: str
    decision: Decision
    hold_id: str = ""
    approval: dict | None = None  # set when the run must wait for a person


class Governance:
    def __init__(
        self,
        storage: store.Storage,
        catalogs: CatalogSource,
        policy: Policy,
        metrics: ProcessorMetrics | None = None,
        clock: Clock = utc_now,
        hold_timeout_s: float = 120.0,
        alert_backoff_s: float = DELIVERY_BACKOFF_S,
    ) -> None:
        self.storage = storage
        self.catalogs = catalogs
        self.policy = policy
        self.metrics = metrics or ProcessorMetrics()
        self.clock = clock
        # Seconds a hold nobody reports on or renews stays open (the sweeper's timeout).
        self.hold_timeout_s = hold_timeout_s
        # /metrics reads the ledger's figures off the writer (see metric_figures); the
        # writer's commits are timed.
        self._metrics_reader = concurrent.futures.ThreadPoolExecutor(1, "genops-metrics-read")
        self.metrics.bind_ledger(
            lambda: self._metrics_reader.submit(self.metric_figures),
            storage.queue_depth,
            lambda: storage.checkpoints,
        )
        storage.commit_timed = self.metrics.commit_seconds.observe
        # Alert delivery runs off the writer; what a previous process left is retried.
        # Channels are looked up by name in the policy in force at each attempt.
        self.deliverer = alerts.Deliverer(
            lambda: self.policy.smtp,
            self._record_attempt,
            channel=lambda name: self.policy.channel(name),
            backoff_s=alert_backoff_s,
        )
        # Decisions by the client's request id, so a retried check is answered, not
        # decided (and reserved) again. Bounded; touched only on the writer thread.
        self._decided: OrderedDict[tuple, RecordedDecision] = OrderedDict()
        self._recording_refusals: asyncio.Semaphore | None = None  # see record_refusal
        self._repricing = asyncio.Lock()  # one re-pricing job at a time
        self._use_policy(policy)
        # Each budget's spend in its current period, kept by the writer thread: a
        # decision reads it, every job that changes the ledger moves it.
        self.spend = storage.call(self._attach_spend)
        # Requests waiting for the writer share a transaction and its commit.
        self._ingest = IngestQueue(storage, lambda: self.catalogs)
        # The live holds and running runs, kept by the writer thread beside the ledger:
        # a run check reads them instead of scanning runs (see budgets/live_holds.py).
        self.live = storage.call(live_holds.attach)
        # The hashes of the stored run keys (storage/stored_run_keys.py), read now rather
        # than by the first ingest job that asks (0.4 s for 3.65 M runs: a stall of every
        # decision then, which failed the fleet bench's first step)
        storage.call(lambda conn: run_cache(conn).stored_keys.read(conn))
        # and of the stored span ids (storage/stored_span_ids.py), for the same reason
        storage.call(lambda conn: stored_span_ids(conn).read(conn))
        # The large tables' key indexes loaded now, not by the first checkpoint while
        # decisions wait behind it (storage/warm_indexes.py: ~1.3 s for 3.65 M runs).
        storage.call(warm_indexes)
        # Ingest stamps each run's record with the residency verdict of the policy in force.
        storage.call(lambda conn: residency.attach(conn, lambda: self.policy.residency))
        self.monitoring = Monitoring(storage, lambda: self.policy, clock, self.deliverer)
        self.deliverer.start(storage.call(outbox.pending))

    def _attach_spend(self, conn) -> running.RunningSpend:
        """The policy's accounts, derived from the ledger; from now on every change made
        through the writer's connection moves them (see budgets/running.py)."""
        kept = running.attach(conn)
        kept.rebuild(conn, self.policy.budgets, self.clock())
        return kept

    def _use_policy(self, policy: Policy) -> None:
        self.policy = policy
        # Metrics label values are capped; a budget's team and project keep their series.
        self.metrics.keep_labels(
            (b.scope.team for b in policy.budgets), (b.scope.project for b in policy.budgets)
        )
        self._alerting = [b for b in policy.budgets if b.alerts]

    async def set_budget(
        self, budget: dict, actor: str, reason: str, reported_actor: str = ""
    ) -> int:
        """Add or replace a budget: validated, versioned, audited, in force at once."""
        now = self.clock()
        _only_named_channels(budget, self.policy)
        candidate = Policy.from_dict(policy_store.with_budget(self.policy.body, budget), "policy")

        def job(conn) -> int:
            version = policy_store.save(conn, candidate.body, actor, reason, now, reported_actor)
            self.spend.states(conn, candidate.budgets, now)  # new accounts derived now
            return version

        version = await asyncio.wrap_future(self.storage.submit(job))
        self._use_policy(candidate)
        return version

    async def policy_version(self) -> tuple[int, dict, object, str] | None:
        return await asyncio.wrap_future(self.storage.submit(policy_store.latest))

    async def ingest(self, batch: Batch) -> IngestResult:
        """Store a decoded request; returns once it is committed."""
        started = time.monotonic()
        result = await asyncio.wrap_future(self._ingest.submit(batch))
        self.metrics.observe_ingest(batch, result, time.monotonic() - started)
        if self._alerting and result.runs:
            await self.fire_alerts()
        if self.monitoring.active and result.runs:  # evaluated shortly, off this path
            self.monitoring.changed(run.scope for run in result.runs)
        return result

    async def fire_alerts(self) -> list[alerts.Alert]:
        """Fire every threshold passed and not fired yet in its period (once, atomically)."""
        now = self.clock()
        thresholds = {b.name: b.thresholds for b in self._alerting}
        channels = {b.name: b.alerts for b in self._alerting}
        budgets = {b.name: b for b in self._alerting}

        def job(conn) -> tuple[list[alerts.Alert], list[outbox.Item]]:
            with store.transaction(conn):  # each alert with its outbox rows, or neither
                return fire(conn)

        def fire(conn) -> tuple[list[alerts.Alert], list[outbox.Item]]:
            states = self.spend.states(conn, self._alerting, now)
            fired = {
                tuple(r)
                for r in conn.execute(
                    "SELECT budget, period_start, threshold FROM alerts_fired"
                ).fetchall()
            }
            new, items = [], []
            for budget, start, threshold, spent, limit in alerts.due(states, thresholds, fired):
                scope = {k: v for k, v in budgets[budget].scope.as_dict().items() if v}
                alert = alerts.Alert(
                    uuid.uuid4().hex,
                    budget,
                    start,
                    threshold,
                    spent,
                    limit,
                    scope,
                    budgets[budget].mode,
                )
                conn.execute(
                    "INSERT INTO alerts_fired VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [alert.alert_id, budget, start, threshold, spent, limit, now],
                )
                new.append(alert)
                items += outbox.enqueue(conn, alert, channels[budget], now)  # with the alert
                detail = {"alert_id": alert.alert_id, "budget": budget, "threshold": threshold}
                audit(conn, "alert.fired", "processor", {**detail, "spent_micros": spent}, now)
            return new, items

        new, items = await asyncio.wrap_future(self.storage.submit(job))
        self.deliverer.start(items)
        return new

    def _record_attempt(self, item: outbox.Item, status: str, error: str, next_at) -> None:
        """A delivery attempt's outcome, written by the writer (the sender never waits)."""
        now = self.clock()
        self.storage.submit(
            lambda conn: outbox.record_attempt(conn, item, status, error, next_at, now)
        )

    def close(self) -> None:
        self.deliverer.close()
        self._metrics_reader.shutdown(wait=False, cancel_futures=True)

    def metric_figures(self) -> dict:
        """What /metrics shows (metrics.py): the ledger's figures, read beside the writer
        (its jobs never wait for them), and each budget's state in its current period
        (the running spend decisions read: a short writer job, in turn with ingest)."""
        figures = self.storage.read(store.ledger_figures)
        figures["budgets"] = self.storage.call(self._budget_figures)
        scopes = {b.name: (b.scope.team or "", b.scope.project or "") for b in self.policy.budgets}
        figures["alerts_fired"] = [  # a budget no longer in the policy: no team, no project
            (name, *scopes.get(name, ("", "")), n) for name, n in figures["alerts_fired"].items()
        ]
        return figures

    def _budget_figures(self, conn) -> list[dict]:
        now = self.clock()
        return [
            {
                "budget": state.budget.name,
                "team": state.budget.scope.team or "",
                "project": state.budget.scope.project or "",
                "mode": state.budget.mode,
                "period": state.budget.period,
                "spent_micros": state.spent_micros,
                "limit_micros": state.budget.limit_micros,
                "forecast_micros": linear_forecast_micros(state, now),
            }
            for state in self.spend.states(conn, self.policy.budgets, now)
        ]

    async def check_budget(
        self,
        scope: Scope,
        requested_micros: int,
        client: ClientLimits,
        wandb_project: str = "",
        wandb_run_name: str = "",
        require_approval: bool = False,
        estimate: RunState | None = None,
        request_id: str = "",
        parent_hold_id: str = "",
        principal: str = "",
        max_open_holds: int | None = None,
        region: str = "",
        data_classification: str = "",
    ) -> RecordedDecision:
        """Decide (and reserve) before work starts. A request with no declared maximum
        (``requested_micros`` 0) and an ``estimate`` (the run's hardware and labels, usage
        from 0 to the reservation horizon) asks for that estimate's catalog cost, priced
        like any run. A run inside an experiment block names the block's hold
        (``parent_hold_id``): it draws on what that hold has left and the budget is
        asked only for the rest (see :mod:`genops_processor.budgets.funding`).

        The hold is ``principal``'s (only it or an admin may renew or release it); it
        holds at most the smallest ``max_hold`` of the budgets (the run's hold grows
        through CheckRun later), and a principal with ``max_open_holds`` open holds is
        denied until it closes some. A ``region`` the policy's ``data_residency`` does not
        allow for ``data_classification`` is denied under enforced (a
        ``residency.violation`` audit event), a warning under advisory (the run's record
        and its audit event follow when its spans arrive: ingest/write.py)."""
        if requested_micros == 0 and estimate is not None and estimate.usage.duration_ns > 0:
            requested_micros = cost_lines.asked_micros(estimate, self.catalogs)
        budgets = self.policy.budgets_for(scope, client)
        now = self.clock()
        approval_timeout = self.policy.approval_timeout(scope, require_approval)

        # The same id for another scope or amount is another request, decided afresh.
        retry_key = (request_id, scope, requested_micros, parent_hold_id)
        subject = f"run {wandb_run_name or 'start'} of team {scope.team or '-'}"
        verdict = residency.judge(
            self.policy.residency, scope, region, data_classification, subject, client.mode
        )
        residency_refusal = None
        if verdict is not None and not verdict.allowed and verdict.mode == "enforced":
            residency_refusal = verdict.text

        enforces_running_runs = (client.mode or "enforced") == "enforced"

        def job(conn) -> RecordedDecision:
            if request_id and (earlier := self._decided.get(retry_key)) is not None:
                return earlier  # a retry of a check already decided
            refusal = residency_refusal
            if refusal:  # a violation let through is audited with the run (ingest)
                _audit_residency(conn, verdict, scope, wandb_run_name, principal, now)
            if refusal is None:
                refusal = reservations.open_holds_refusal(conn, principal, max_open_holds)
            if refusal is None and not parent_hold_id and enforces_running_runs:
                # an experiment's runs are admitted; under advisory and audit_only the
                # client warns or records its own concurrency, the processor enforces it
                refusal = reservations.running_runs_refusal(conn, scope, client.max_running_runs)
            if refusal:
                decision = Decision("deny", requested_micros, (), None, refusal)
                decision_id = decisions.record_decision(
                    conn, scope, wandb_project, wandb_run_name, decision, now
                )
                recorded = RecordedDecision(decision_id, decision)
                _audit_decision(
                    conn, recorded, scope, wandb_project, wandb_run_name, principal, now
                )
                return recorded
            drawn = funding.draw(conn, parent_hold_id, scope, requested_micros)
            decision = drawn.explain(
                decide(
                    budgets,
                    drawn.excess_micros,
                    now,
                    lambda b, since: self.spend.spent(conn, b, since),
                    # Fully funded by its experiment: a breach only when spend passes.
                    strict=drawn.parent is not None and drawn.excess_micros == 0,
                )
            )
            if verdict is not None and not verdict.allowed and verdict.mode == "advisory":
                if decision.outcome == "allow":  # advisory: the client warns
                    decision = replace(decision, outcome="warn", message=verdict.text)
            if decision.outcome != "deny":
                drawn, decision = drawn.capped(decision, budgets)
            decision_id = decisions.record_decision(
                conn, scope, wandb_project, wandb_run_name, decision, now
            )
            hold_id = ""
            if decision.outcome != "deny":
                # Decided and reserved in one step: nobody else can take this money.
                hold_id = drawn.reserve(
                    conn, decision_id, scope, int(now.timestamp() * 1e9), principal
                )
            approval = None
            if decision.outcome != "deny" and approval_timeout is not None:
                approval = approvals.request(
                    conn, scope, wandb_project, wandb_run_name, approval_timeout, hold_id, now
                )
            recorded = RecordedDecision(decision_id, decision, hold_id, approval)
            _audit_decision(conn, recorded, scope, wandb_project, wandb_run_name, principal, now)
            if request_id:  # a retry in the same group finds it; forgotten if rolled back
                self._remember(retry_key, recorded)
                conn.on_rollback(lambda: self._decided.pop(retry_key, None))
            return recorded

        started = time.monotonic()
        recorded = await asyncio.wrap_future(self.storage.submit(job, DECISION, group=True))
        self.metrics.observe_decision(time.monotonic() - started)
        if recorded.decision.outcome != "allow" or recorded.decision.deciding:
            _log.info(
                "budget decision %s: %s", recorded.decision.outcome, recorded.decision.message
            )
        return recorded

    def _remember(self, retry_key: tuple, recorded: RecordedDecision) -> None:
        self._decided[retry_key] = recorded
        while len(self._decided) > REMEMBERED_REQUESTS:
            self._decided.popitem(last=False)

    async def budget_status(
        self, scope: Scope | None = None, teams: frozenset[str] | None = None
    ) -> list[BudgetState]:
        """Budgets matching ``scope`` (all when None); with ``teams``, only budgets of
        those teams (a reader bound to its teams)."""
        return await asyncio.wrap_future(self.storage.submit(self._status_job(scope, teams)))

    async def run_teams(self, run_keys: list[str]) -> dict[str, str]:
        """The team of each stored run among ``run_keys`` (unknown ones left out)."""
        return await asyncio.wrap_future(
            self.storage.submit(lambda conn: queries.run_teams(conn, run_keys))
        )

    async def list_runs(self, job):
        """Run ``job(conn)``, a ListRuns page read, on the writer among ingest batches."""
        return await asyncio.wrap_future(self.storage.submit(job))

    async def usage_today(
        self, scope: Scope, client: ClientLimits
    ) -> tuple[queries.UsageToday, list[BudgetState], dt.datetime]:
        """A scope's usage since UTC midnight and its budgets' state."""
        budgets = self.policy.budgets_for(scope, client)
        now = self.clock()
        since = period_start(now, "daily")

        def job(conn):
            usage = queries.usage_since(conn, scope, since)
            states = self.spend.states(conn, budgets, now)
            return usage, list(states), since

        return await asyncio.wrap_future(self.storage.submit(job))

    async def experiment(self, experiment_id: str) -> queries.ExperimentRecord | None:
        return await asyncio.wrap_future(
            self.storage.submit(lambda conn: queries.experiment(conn, experiment_id))
        )

    async def register_catalog(self, catalog: Catalog, origin: str) -> bool:
        def job(conn) -> bool:
            created = catalog_store.register(conn, catalog, origin, self.clock())
            self.catalogs.add(catalog)
            return created

        return await asyncio.wrap_future(self.storage.submit(job))

    async def catalog_versions(self) -> list[queries.VersionTotal]:
        return await asyncio.wrap_future(self.storage.submit(queries.catalog_version_totals))

    async def reprice(
        self, catalog: Catalog, since: dt.datetime | None, actor: str
    ) -> AsyncIterator[tuple[int, int] | repricing.RepriceResult]:
        """Progress tuples (done, total), then the result. Resumes the unfinished job for
        the same version; RepriceRefused while another runs or is unfinished."""
        if self._repricing.locked():
            raise repricing.RepriceRefused("a re-pricing job is running; try again when it ends")
        async with self._repricing:
            job, _ = await asyncio.wrap_future(
                self.storage.submit(
                    lambda conn: repricing.start(conn, catalog, since, actor, self.clock()), BULK
                )
            )
            self.catalogs.add(catalog)
            async for update in self._reprice_steps(job, catalog):
                yield update

    async def resume_repricing(self) -> repricing.RepriceResult | None:
        """Finish the re-pricing job a previous process left unfinished, if any."""
        # Look first without the lock: a Reprice call arriving while a ledger with no
        # unfinished job is checked at start must not be refused as "running".
        if await asyncio.wrap_future(self.storage.submit(repricing.unfinished)) is None:
            return None
        async with self._repricing:
            if await asyncio.wrap_future(self.storage.submit(repricing.unfinished)) is None:
                return None  # finished meanwhile by a Reprice call for the same version
            job, catalog = await asyncio.wrap_future(
                self.storage.submit(
                    lambda conn: repricing.resume(conn, "processor start", self.clock()), BULK
                )
            )
            _log.info("resuming %s", job.describe().replace(" is incomplete", ""))
            self.catalogs.add(catalog)
            async for update in self._reprice_steps(job, catalog):
                result = update
            _log.info("re-pricing to %s finished: %s run(s)", result.catalog_version, result.runs)
            return result

    async def _reprice_steps(
        self, job: repricing.RepriceJob, catalog: Catalog
    ) -> AsyncIterator[tuple[int, int] | repricing.RepriceResult]:
        # One bulk writer job per step: budget decisions and ingest go between steps.
        def step(conn, job: repricing.RepriceJob) -> repricing.RepriceJob:
            done = repricing.step(conn, job, catalog, self.clock(), spend=running)
            # the runs re-priced, in key order: those kept in memory cost what they cost now
            self.live.refresh(conn, job.last_run_key, done.last_run_key)
            return done

        while not job.finished:
            job = await asyncio.wrap_future(
                self.storage.submit(lambda conn, job=job: step(conn, job), BULK)
            )
            if not job.finished:
                yield job.done_runs, job.total_runs
        yield repricing.result(job)

    async def check_run(
        self,
        scope: Scope,
        client: ClientLimits,
        hold_id: str,
        run_id: str,
        snapshot: RunState,
        next_check_ns: int,
    ) -> RunVerdict:
        """May a running run go on until its next check? Extends its hold when the
        budget allows; else the strictest passed budget's mode decides."""
        budgets = self.policy.budgets_for(scope, client)
        now = self.clock()
        accrued = cost_lines.asked_micros(snapshot, self.catalogs)
        later = cost_lines.asked_micros(snapshot, self.catalogs, later_ns=next_check_ns)
        projected = max(accrued, later)

        def job(conn) -> RunVerdict:
            # What spend becomes when the run counts for `projected` (inside its
            # experiment's hold when one funds it).
            change = reservations.spend_change(conn, hold_id, run_id, projected)
            decision = decide(
                budgets,
                0,
                now,
                lambda b, since: self.spend.spent(conn, b, since) + change,
                strict=True,
            )
            held = reservations.hold(conn, hold_id) if hold_id else None
            if decision.deciding is None:
                if held and held[0] == "open" and projected > held[1]:
                    reservations.extend(conn, hold_id, projected)
                return RunVerdict(
                    "continue",
                    accrued,
                    max(projected, held[1] if held else 0),
                    None,
                    "within budget",
                )
            decision_id = decisions.record_decision(conn, scope, "", f"run:{run_id}", decision, now)
            recorded = RecordedDecision(decision_id, decision, hold_id)
            _audit_decision(conn, recorded, scope, "", f"run:{run_id}", "", now, "budget.run_check")
            action = {"deny": "stop", "warn": "warn"}.get(decision.outcome, "continue")
            return RunVerdict(
                action, accrued, held[1] if held else 0, decision.deciding, decision.message
            )

        return await asyncio.wrap_future(self.storage.submit(job, DECISION, group=True))

    async def record_offline(self, items: list[tuple], actor: str = "client") -> int:
        """Store decisions clients took alone, each with an audit event.

        In bulk jobs of ``OFFLINE_CHUNK`` decisions: a large report never holds the
        writer for long, and budget decisions go ahead of its remaining chunks."""
        now = self.clock()
        for start in range(0, len(items), OFFLINE_CHUNK):
            chunk = items[start : start + OFFLINE_CHUNK]
            await asyncio.wrap_future(
                self.storage.submit(
                    lambda conn, c=chunk: self._record_offline(conn, c, now, actor), BULK
                )
            )
        return len(items)

    @staticmethod
    def _record_offline(conn, items: list[tuple], now: dt.datetime, actor: str) -> None:
        with store.transaction(conn):  # a chunk's decisions and their audit events, or none
            decision_ids = decisions.record_offline_many(conn, items)
            details = [
                {"decision_id": i, "decision": decision, "reason": message, **scope.as_dict()}
                for i, (_, scope, decision, message, _, _) in zip(decision_ids, items, strict=True)
            ]
            audit_many(conn, "decision.offline", actor, details, now)

    async def approval(self, approval_id: str) -> dict:
        now = self.clock()
        return await asyncio.wrap_future(
            self.storage.submit(lambda conn: approvals.get(conn, approval_id, now), DECISION)
        )

    async def decide_approval(
        self, approval_id: str, approve: bool, actor: str, reason: str, reported_actor: str = ""
    ) -> dict:
        now = self.clock()
        return await asyncio.wrap_future(
            self.storage.submit(
                lambda conn: approvals.decide(
                    conn, approval_id, approve, actor, reason, now, reported_actor
                )
            )
        )

    async def list_approvals(self, status: str) -> list[dict]:
        now = self.clock()
        return await asyncio.wrap_future(
            self.storage.submit(lambda conn: approvals.listing(conn, status, now))
        )

    async def release_hold(self, hold_id: str, audited_as: str = "") -> bool:
        """Give a hold back; ``audited_as``: who released another principal's hold
        (an admin), written as a ``hold.released`` audit event."""
        now = self.clock()
        now_ns = int(now.timestamp() * 1e9)

        def job(conn) -> bool:
            released = reservations.release(conn, hold_id, now_ns)
            if released:  # by its owner, or by an admin (audited_as)
                owner = reservations.owner(conn, hold_id)
                detail = {"hold_id": hold_id, "principal": owner[0] if owner else None}
                who = audited_as or (owner[0] if owner else "") or ""
                audit(conn, "hold.released", who, detail, now, team=owner[1] if owner else "")
            return released

        return await asyncio.wrap_future(self.storage.submit(job, DECISION))

    async def hold_owner(self, hold_id: str) -> tuple[str | None, str] | None:
        """(principal, team) of a hold, None when unknown.

        A hold kept in memory (open, funded by an open one, or among the last closed)
        answers without a writer job, so a run check or renewal does not wait behind
        ingest twice: hold ids are never reused, so whatever version of it memory shows
        (even one of a transaction still open) answers alike
        (:func:`reservations.kept_owner`). Any other hold is read from the ledger on the
        writer."""
        # one dict read: safe beside the writer thread
        if (found := reservations.kept_owner(self.live, hold_id)) is not None:
            return found
        return await asyncio.wrap_future(
            self.storage.submit(
                lambda conn: reservations.owner(conn, hold_id), DECISION, group=True
            )
        )

    async def list_holds(
        self, include_closed: bool, limit: int, team: str = ""
    ) -> tuple[list[dict], bool]:
        return await asyncio.wrap_future(
            self.storage.submit(
                lambda conn: reservations.listing(conn, include_closed, limit, team)
            )
        )

    async def renew_hold(self, hold_id: str) -> tuple[bool, int]:
        """Keep an open hold from expiring for another hold timeout: (open?, amount)."""
        now_ns = int(self.clock().timestamp() * 1e9)
        return await asyncio.wrap_future(
            self.storage.submit(
                lambda conn: reservations.renew(conn, hold_id, now_ns), DECISION, group=True
            )
        )

    async def expire_holds(self, timeout_s: float) -> list[str]:
        """Close reservations whose runs fell silent for ``timeout_s``; audit each. In
        writer jobs of ``EXPIRE_STEP_HOLDS``: budget decisions go between them.

        Which holds are silent is read beside the writer (:meth:`Storage.read`, in a
        thread: the query scans every hold the ledger keeps, ~20-120 ms on a year of a
        10,000-run/day fleet, and held every decision behind it on the writer); the
        writer job then checks those holds again by key and closes the ones still open
        and silent (a hold seen or closed meanwhile stays as it is)."""
        now = self.clock()
        now_ns = int(now.timestamp() * 1e9)

        def silent(cursor) -> list[str]:
            return reservations.silent(cursor, now_ns, timeout_s, EXPIRE_STEP_HOLDS)

        def job(conn, among: list[str]) -> list[str]:
            step = reservations.expire(conn, now_ns, timeout_s, EXPIRE_STEP_HOLDS, among)
            details = [{"hold_id": hold_id} for hold_id in step]
            if details:
                audit_many(conn, "hold.expired", "processor", details, now)
            return step

        expired: list[str] = []
        while True:
            among = await asyncio.to_thread(self.storage.read, silent)
            if not among:
                break
            closing = functools.partial(job, among=among)
            step = await asyncio.wrap_future(self.storage.submit(closing))
            expired += step
            if len(among) < EXPIRE_STEP_HOLDS or len(step) < len(among):
                break  # the rest (seen or closed meanwhile, or more) at the next sweep
        if expired:
            _log.info("expired %d reservation(s) of silent runs", len(expired))
        return expired

    async def record_refusal(
        self, actor: str, method: str, code: str, reason: str, peer: str = ""
    ) -> None:
        """One ``access.refused`` audit event: who was refused what, why, from where.

        ``actor`` is the authenticated principal, or ``anonymous`` when authentication
        itself failed. Every refusal (the authentication interceptor's, a handler's, an
        OTLP request's) comes here. Refusals never wait ahead of decisions (normal
        priority), at most ``REFUSALS_IN_FLIGHT`` are queued at once (a flood of refused
        calls waits here, not in the writer's queue), and the refusal stands even when
        it cannot be recorded (logged)."""
        if self._recording_refusals is None:  # made on the serving loop
            self._recording_refusals = asyncio.Semaphore(REFUSALS_IN_FLIGHT)
        now = self.clock()
        detail = {"method": method, "code": code, "reason": reason, "peer": peer}
        try:
            async with self._recording_refusals:
                await asyncio.wrap_future(
                    self.storage.submit(
                        lambda conn: audit(
                            conn, "access.refused", actor, detail, now, client_address=peer
                        )
                    )
                )
        except Exception:
            _log.exception("could not record the refusal of %s to %s", method, actor)
        _log.info("refused %s to %s (%s): %s", method, actor, code, reason)

    async def compact_spans(self, keep_days: float, step: int = store.DEFAULT_STEP) -> int:
        """Compact spans received more than ``keep_days`` ago, one bounded step (a short
        bulk job) at a time; returns how many were compacted."""
        before = self.clock() - dt.timedelta(days=keep_days)
        total = 0
        while True:
            moved = await asyncio.wrap_future(
                self.storage.submit(lambda conn: store.compact_step(conn, before, step), BULK)
            )
            total += moved
            if moved < step:
                break
        if total:
            _log.info("compacted %d span(s) received before %s", total, before.isoformat())
        return total

    async def run_job(self, job):
        """Run ``job(conn, now)`` on the writer thread (analytics reads)."""
        now = self.clock()
        return await asyncio.wrap_future(self.storage.submit(lambda conn: job(conn, now), BULK))

    def _status_job(self, scope: Scope | None, teams: frozenset[str] | None = None):
        budgets = [
            b
            for b in self.policy.budgets
            if (scope is None or b.matches(scope)) and (teams is None or b.scope.team in teams)
        ]
        now = self.clock()

        def job(conn) -> list[BudgetState]:
            return list(self.spend.states(conn, budgets, now))

        return job


def _only_named_channels(budget: object, policy: Policy) -> None:
    """A budget set through the API may only name the policy's channels (or ``log://``):
    an address there would make the processor send to wherever the caller says."""
    alerts = budget.get("alerts") if isinstance(budget, dict) else None
    if not isinstance(alerts, list):
        return
    allowed = policy.channel_names()
    for i, name in enumerate(alerts):
        if name not in allowed:
            raise PolicyError(
                f"alerts[{i}]: {shown_address(str(name))!r} is not a channel of the policy; "
                f"name one of {', '.join(allowed)} (channels are defined in the policy file)"
            )


def _audit_residency(conn, verdict, scope: Scope, run_name: str, principal: str, now) -> None:
    """A run start refused: outside the data_residency policy under enforced."""
    detail = {**verdict.detail(), "outcome": "refused", "wandb_run_name": run_name}
    version = policy_store.current_version(conn)
    audit(
        conn,
        "residency.violation",
        principal,
        {**detail, **scope.as_dict()},
        now,
        region=verdict.region,
        policy_version=version,
    )


def _audit_decision(
    conn,
    recorded: RecordedDecision,
    scope: Scope,
    wandb_project: str,
    wandb_run_name: str,
    principal: str,
    now: dt.datetime,
    kind: str = "budget.decision",
) -> None:
    """One audit event per budget decision: its inputs (the budgets' limits and spend),
    outcome, hold and approval, and the policy version in force (no query)."""
    decision = recorded.decision
    detail = {
        "decision_id": recorded.decision_id,
        "outcome": decision.outcome,
        "requested_micros": decision.requested_micros,
        "hold_id": recorded.hold_id,
        "wandb_project": wandb_project,
        "wandb_run_name": wandb_run_name,
        "budgets": [
            [s.budget.name, s.budget.mode, s.budget.limit_micros, s.spent_micros, s.exceeded]
            for s in decision.states
        ],
        "message": decision.message,
        **scope.as_dict(),
    }
    approval = recorded.approval["approval_id"] if recorded.approval else ""
    version = policy_store.current_version(conn)
    audit(conn, kind, principal, detail, now, policy_version=version, approval_id=approval)

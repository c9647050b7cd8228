"""The fuzz's processor and its invariants, checked at three depths.

- **per example** (cheap and exact, through the API): what the example could change.
  Its project's runs (each valid run once, in its scope, its usage not doubled by the
  retry, every cost within 0..MAX_RUN_MICROS), every earlier run a hostile span aimed
  at (still once, still in its own scope), and a budget check of its scope (answers,
  denies $1,000,000 against the enforced $100 budget, spend within int64);
- **every ``ledger_every`` examples** and at the end, the whole ledger through the API:
  ListRuns paged to the end (each run once, each cost in bounds, the totals agree),
  every budget and report query answers with non-negative money;
- **every ``restart_every`` examples** and at the end, the processor is stopped and its
  DuckDB file read directly: every valid span sent since the last restart stored
  exactly once, no run, cost line or hand-added cost negative or past its maximum.
  It is then started again on the same file: the ledger reopens, and each budget's
  spend derived from the ledger on start equals the running spend it had before.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import threading
import time
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow as pa
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from genops.governance.v1 import governance_pb2 as pb
from genops.governance.v1 import governance_pb2_grpc as pb_grpc
from genops_processor import limits
from tests.fuzz.strategies import TEAM
from tests.helpers import Processor, start_processor

USD = 1_000_000
POLICY = f"""
budgets:
  - name: fuzz-daily
    scope: {{team: {TEAM}}}
    daily_limit: "100.00"
    mode: enforced
"""
TIMEOUT_S = 60


class FuzzLedger:
    """A real ``genops-processor`` subprocess on a DuckDB file in ``tmp``: spans go in
    as the ``trainer`` client (which may not act for team "attacker"), checks are
    read as ``admin``."""

    def __init__(self, tmp: Path, ledger_every: int, restart_every: int) -> None:
        self.tmp = tmp
        self.ledger_every = ledger_every
        self.restart_every = restart_every
        self.policy = tmp / "policy.yaml"
        self.policy.write_text(POLICY)
        self.stats: Counter = Counter()
        self.unchecked_spans: list[tuple[str, str]] = []  # valid spans since the restart
        self.started = time.monotonic()
        self.cpu_started = time.process_time()
        self._start()

    # -- the processor -----------------------------------------------------------------
    def _start(self) -> None:
        self.proc: Processor = start_processor(self.tmp, "--policy", str(self.policy))
        # its log is drained (a full pipe would stall it) and its tail kept for failures
        self.log_tail: collections.deque[str] = collections.deque(self.proc.log, maxlen=200)
        threading.Thread(target=self._drain, args=(self.proc,), daemon=True).start()
        self._client = self.proc.channel("trainer")
        self._admin = self.proc.channel("admin")
        self.traces = trace_service_pb2_grpc.TraceServiceStub(self._client)
        self.api = pb_grpc.GovernanceServiceStub(self._admin)

    def _drain(self, proc: Processor) -> None:
        for line in proc.proc.stdout:
            self.log_tail.append(line)

    def _stop(self) -> None:
        self.stats["processor_cpu_ms"] += _cpu_ms(self.proc.proc.pid)
        self._client.close()
        self._admin.close()
        code = self.proc.stop()
        assert code == 0, f"processor exited {code}: {''.join(self.log_tail)}"

    def close(self) -> None:
        self.restart(start_again=False)

    # -- per example ---------------------------------------------------------------------
    def export(self, groups: list[list[Span]]) -> trace_service_pb2.ExportTraceServiceResponse:
        """One request: each example's spans as a resource of their own."""
        request = trace_service_pb2.ExportTraceServiceRequest(
            resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=g)]) for g in groups]
        )
        self.stats["requests"] += 1
        self.stats["spans"] += sum(map(len, groups))
        return self.traces.Export(request, timeout=TIMEOUT_S)

    def check_example(self, project: str, valid: dict[str, Span], aimed: dict[str, str]):
        """After a request of ``project`` (one example, or several sharing the project):
        ``valid``, each example's valid span by run key; ``aimed``, the earlier runs a
        hostile span named, run key -> that run's own project."""
        runs = self._runs_of(project)
        for key, span in valid.items():
            listed = runs.get(key, [])
            assert len(listed) == 1, f"valid run {key} listed {len(listed)} times"
            # one span of 10 log calls, sent twice: counted once
            assert listed[0].log_calls == 10, f"run {key}: {listed[0].log_calls} log calls"
            self.unchecked_spans.append((span.trace_id.hex(), span.span_id.hex()))
        for key, own_project in aimed.items():
            if own_project != project:
                listed = self._runs_of(own_project).get(key, [])
                assert len(listed) == 1, f"run {key} of {own_project} listed {len(listed)} times"
                self.stats["aimed_runs_checked"] += 1
        self._check_budget(pb.Scope(team=TEAM, project=project))
        before = self.stats["examples"]
        self.stats["examples"] += len(valid)
        self.stats["runs_checked"] += len(runs)
        after = self.stats["examples"]
        if before // self.restart_every != after // self.restart_every:
            self.restart()  # checks the whole ledger too
        elif before // self.ledger_every != after // self.ledger_every:
            self.check_ledger()

    def _runs_of(self, project: str) -> dict[str, list[pb.RunSummary]]:
        """The project's runs by run key, each checked for scope and money."""
        seen: dict[str, list[pb.RunSummary]] = collections.defaultdict(list)
        request = pb.ListRunsRequest(scope=pb.Scope(team=TEAM, project=project), page_size=5000)
        for run in self._pages(request):
            seen[run.run_key].append(run)
            assert (run.scope.team, run.scope.project) == (TEAM, project), (
                f"run {run.run_key} listed in {TEAM}/{project} is {run.scope}"
            )
            _check_run(run)
        return seen

    def _check_budget(self, scope: pb.Scope) -> None:
        denied = self.api.CheckBudget(
            pb.CheckBudgetRequest(scope=scope, requested_micros=1_000_000 * USD),
            timeout=TIMEOUT_S,
        )
        assert denied.decision == pb.DECISION_DENY, denied.message
        for budget in denied.budgets:
            assert 0 <= budget.spent_micros <= limits.ANSWER_INT64_MAX, budget

    # -- the whole ledger ----------------------------------------------------------------
    def _pages(self, request: pb.ListRunsRequest):
        while True:
            page = self.api.ListRuns(request, timeout=TIMEOUT_S)
            yield from page.runs
            if not page.next_page_token:
                return
            request = pb.ListRunsRequest(
                scope=request.scope, page_size=request.page_size, page_token=page.next_page_token
            )

    def check_ledger(self) -> tuple[int, int]:
        """Every report query answers; ListRuns pages to the end, each run once and in
        bounds, in agreement with its totals. Answers (runs, their total cost)."""
        first = self.api.ListRuns(
            pb.ListRunsRequest(page_size=1, include_totals=True), timeout=TIMEOUT_S
        )
        totals = first.totals
        seen: set[str] = set()
        cost = 0
        for run in self._pages(pb.ListRunsRequest(page_size=5000)):
            assert run.run_key not in seen, f"ListRuns listed {run.run_key} twice"
            seen.add(run.run_key)
            _check_run(run)
            cost += run.cost_micros
        assert totals.runs == len(seen), (totals.runs, len(seen))
        assert totals.cost_micros == min(cost, limits.ANSWER_INT64_MAX), (totals, cost)
        for row in totals.by_team:
            assert row.cost_micros >= 0, row
        self._check_budget(pb.Scope(team=TEAM))
        self._reports_answer()
        self.stats["ledger_checks"] += 1
        return len(seen), cost

    def _reports_answer(self) -> None:
        api, team = self.api, pb.Scope(team=TEAM)
        for budget in self.budget_spend().values():
            assert 0 <= budget <= limits.ANSWER_INT64_MAX, budget
        usage = api.GetUsage(pb.GetUsageRequest(scope=team), timeout=TIMEOUT_S)
        assert usage.spent_today_micros >= 0, usage
        summary = api.GetCostSummary(pb.CostSummaryRequest(period_days=30), timeout=TIMEOUT_S)
        assert summary.total_micros >= 0, summary.total_micros
        assert all(v >= 0 for v in summary.by_category_micros.values()), summary
        api.GetTeamAttribution(pb.TeamAttributionRequest(period_days=30), timeout=TIMEOUT_S)
        api.GetForecast(pb.ForecastRequest(scope=team), timeout=TIMEOUT_S)
        api.GetRecommendations(pb.RecommendationsRequest(scope=team), timeout=TIMEOUT_S)
        api.GetAnomalies(pb.AnomaliesRequest(scope=team), timeout=TIMEOUT_S)
        api.GetPerformanceVsCost(pb.PerformanceRequest(period_days=30), timeout=TIMEOUT_S)
        month = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m")
        api.GetCustomerUsage(pb.CustomerUsageRequest(billing_period=month), timeout=TIMEOUT_S)
        api.ListAlerts(pb.ListAlertsRequest(limit=10), timeout=TIMEOUT_S)

    def budget_spend(self) -> dict[str, int]:
        status = self.api.GetBudgetStatus(pb.GetBudgetStatusRequest(), timeout=TIMEOUT_S)
        return {b.name: b.spent_micros for b in status.budgets}

    # -- restart: the file itself, then the reopened ledger -------------------------------
    def restart(self, start_again: bool = True) -> None:
        day = dt.datetime.now(dt.timezone.utc).date()
        runs_before = self.check_ledger()
        spend_before = self.budget_spend()
        self._stop()
        self._check_file()
        if not start_again:
            return
        self._start()
        self.stats["restarts"] += 1
        assert self.check_ledger() == runs_before, "the reopened ledger lists other runs"
        if dt.datetime.now(dt.timezone.utc).date() == day:  # a new day: a new period
            spend_after = self.budget_spend()  # derived from the ledger on start
            assert spend_after == spend_before, (spend_before, spend_after)

    def _check_file(self) -> None:
        conn = duckdb.connect(str(self.proc.db), read_only=True)
        try:
            self._check_spans_once(conn)
            self._check_money(conn)
        finally:
            conn.close()
        self.stats["file_checks"] += 1

    def _check_spans_once(self, conn) -> None:
        ids = self.unchecked_spans
        table = pa.table({"t": [t for t, _ in ids], "s": [s for _, s in ids]})
        conn.register("sent", table)
        wrong = conn.execute(
            """SELECT sent.t, sent.s,
                 (SELECT count(*) FROM spans p WHERE p.trace_id = sent.t AND p.span_id = sent.s)
               + (SELECT count(*) FROM span_ids c
                  WHERE c.trace_id = unhex(sent.t) AND c.span_id = unhex(sent.s)) AS n
               FROM sent WHERE n <> 1 LIMIT 5"""
        ).fetchall()
        assert not wrong, f"valid spans not stored exactly once (trace, span, times): {wrong}"
        self.stats["spans_checked_once"] += len(ids)
        self.unchecked_spans = []

    @staticmethod
    def _check_money(conn) -> None:
        ((low, high, total),) = conn.execute(
            "SELECT min(cost_micros), max(cost_micros), sum(cost_micros::HUGEINT) FROM runs"
        ).fetchall()
        if low is not None:
            assert 0 <= low and high <= limits.MAX_RUN_MICROS, ("runs", low, high)
            assert total >= 0
        for table in ("cost_lines", "manual_costs"):
            ((low, high),) = conn.execute(
                f"SELECT min(amount_micros), max(amount_micros) FROM {table}"
            ).fetchall()
            if low is not None:
                assert 0 <= low and high <= limits.MAX_LINE_MICROS, (table, low, high)

    # -- figures ---------------------------------------------------------------------------
    def figures(self) -> dict:
        seconds = time.monotonic() - self.started
        rate = self.stats["examples"] / seconds if seconds else 0.0
        client_ms = round(1000 * (time.process_time() - self.cpu_started))
        return {
            **self.stats,
            "client_cpu_ms": client_ms,
            "seconds": round(seconds, 1),
            "examples_per_s": round(rate, 1),
        }


def _cpu_ms(pid: int) -> int:
    """CPU time (user + system) a live process used so far; 0 where /proc cannot tell."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return round(1000 * (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0


def _check_run(run: pb.RunSummary) -> None:
    assert 0 <= run.cost_micros <= limits.MAX_RUN_MICROS, (run.run_key, run.cost_micros)
    for name in ("duration_ns", "log_calls", "artifact_bytes", "artifact_files"):
        assert getattr(run, name) >= 0, (run.run_key, name, getattr(run, name))

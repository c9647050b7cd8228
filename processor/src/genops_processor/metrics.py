"""Prometheus metrics of the processor (scraped by Prometheus, shown in Grafana).

Each processor owns its registry, so several can run in one test process.
Budget gauges are computed at scrape time from the ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from genops.money import MICROS_PER_USD
from genops_processor.domain import Batch
from genops_processor.limits import METRICS_MAX_PROJECTS, METRICS_MAX_SERIES, METRICS_MAX_TEAMS

OTHER = "other"  # the label value of every team / project past its cap


class LabelValues:
    """One client-controlled label: the first ``cap`` distinct values keep their own
    series, later ones are counted under ``other`` (a value keeps its series for the
    process's life, so counters stay continuous); ``kept`` values (named by a budget)
    always keep theirs."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.seen: set[str] = set()
        self.kept: frozenset[str] = frozenset()

    def __call__(self, value: str) -> str:
        if value in self.seen or value in self.kept:
            return value
        if len(self.seen) < self.cap:
            self.seen.add(value)
            return value
        return OTHER


class ScopeLabels:
    """(team, project) label pairs, each label capped, and at most ``max_series`` pairs;
    past that a new pair is (team, other) for a budget's team, else (other, other)."""

    def __init__(self, teams: int, projects: int, max_series: int) -> None:
        self.teams = LabelValues(teams)
        self.projects = LabelValues(projects)
        self.max_series = max_series
        self.pairs: set[tuple[str, str]] = set()

    def keep(self, teams: Iterable[str], projects: Iterable[str]) -> None:
        self.teams.kept = frozenset(t for t in teams if t)
        self.projects.kept = frozenset(p for p in projects if p)

    def __call__(self, team: str, project: str) -> tuple[str, str]:
        pair = (self.teams(team), self.projects(project))
        if pair in self.pairs:
            return pair
        if len(self.pairs) >= self.max_series:
            pair = (pair[0], OTHER) if pair[0] in self.teams.kept else (OTHER, OTHER)
        self.pairs.add(pair)
        return pair


class _BudgetCollector(Collector):
    def __init__(self) -> None:
        self.source: Callable[[], Iterable] | None = None

    def collect(self):
        spent = GaugeMetricFamily(
            "genops_budget_spent_usd", "Spend in the current period, USD", labels=["budget"]
        )
        limit = GaugeMetricFamily(
            "genops_budget_limit_usd", "Limit of the current period, USD", labels=["budget"]
        )
        if self.source is not None:
            for state in self.source():
                spent.add_metric([state.budget.name], state.spent_micros / MICROS_PER_USD)
                limit.add_metric([state.budget.name], state.budget.limit_micros / MICROS_PER_USD)
        yield spent
        yield limit


class ProcessorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.spans = Counter(
            "genops_spans_received", "Spans received, by kind", ["kind"], registry=self.registry
        )
        self.run_cost = Counter(
            "genops_run_cost_usd",
            "Priced run cost, USD",
            ["team", "project"],
            registry=self.registry,
        )
        self.runs_finished = Counter(
            "genops_runs_finished",
            "Runs that ended",
            ["team", "project", "status"],
            registry=self.registry,
        )
        self.decisions = Counter(
            "genops_budget_decisions", "Budget decisions", ["decision"], registry=self.registry
        )
        # reason: one of genops_processor.ingest.validation.REASONS (a fixed set)
        self.spans_rejected = Counter(
            "genops_spans_rejected",
            "Spans rejected at ingest (not stored), by reason",
            ["reason"],
            registry=self.registry,
        )
        self.admission_refused = Counter(
            "genops_admission_refused",
            "Calls refused with RESOURCE_EXHAUSTED by admission control, by pool",
            ["pool"],
            registry=self.registry,
        )
        self._budgets = _BudgetCollector()
        self.registry.register(self._budgets)
        # team and project come from clients: capped (limits METRICS_MAX_*), see ScopeLabels
        self.scope_labels = ScopeLabels(METRICS_MAX_TEAMS, METRICS_MAX_PROJECTS, METRICS_MAX_SERIES)

    def keep_labels(self, teams: Iterable[str], projects: Iterable[str]) -> None:
        """Teams and projects named by the policy's budgets: always their own series."""
        self.scope_labels.keep(teams, projects)

    def bind_budgets(self, source: Callable[[], Iterable]) -> None:
        self._budgets.source = source

    def observe_ingest(self, batch: Batch, result) -> None:
        for span in batch.spans:
            self.spans.labels(span.kind).inc()
        if batch.ignored_spans:
            self.spans.labels("other").inc(batch.ignored_spans)
        for rejection in (*batch.rejected, *getattr(result, "rejected", ())):
            self.spans_rejected.labels(rejection.reason).inc()
        for state in result.runs:
            delta = state.cost_micros - result.previous_cost_micros.get(state.run_key, 0)
            newly_final = state.final and not result.previous_final.get(state.run_key, False)
            if delta <= 0 and not newly_final:
                continue
            team, project = self.scope_labels(state.scope.team, state.scope.project)
            if delta > 0:
                self.run_cost.labels(team, project).inc(delta / MICROS_PER_USD)
            if newly_final:
                self.runs_finished.labels(team, project, state.status).inc()

    def observe_decision(self, outcome: str) -> None:
        self.decisions.labels(outcome).inc()

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
        self._budgets = _BudgetCollector()
        self.registry.register(self._budgets)

    def bind_budgets(self, source: Callable[[], Iterable]) -> None:
        self._budgets.source = source

    def observe_ingest(self, batch: Batch, result) -> None:
        for span in batch.spans:
            self.spans.labels(span.kind).inc()
        if batch.ignored_spans:
            self.spans.labels("other").inc(batch.ignored_spans)
        for state in result.runs:
            delta = state.cost_micros - result.previous_cost_micros.get(state.run_key, 0)
            if delta > 0:
                self.run_cost.labels(state.scope.team, state.scope.project).inc(
                    delta / MICROS_PER_USD
                )
            was_final = result.previous_final.get(state.run_key, False)
            if state.final and not was_final:
                self.runs_finished.labels(state.scope.team, state.scope.project, state.status).inc()

    def observe_decision(self, outcome: str) -> None:
        self.decisions.labels(outcome).inc()

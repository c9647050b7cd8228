"""Prometheus metrics of the processor (scraped by Prometheus, shown in Grafana).

Each processor owns its registry, so several can run in one test process.
Budget gauges are computed at scrape time from the ledger.
"""

from __future__ import annotations

import hmac
import socket
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
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


class _MetricsHandler(BaseHTTPRequestHandler):
    """GET /metrics in the Prometheus text format; a bearer token when one is set."""

    registry: CollectorRegistry
    token: str | None = None
    timeout = 10.0  # seconds a scrape's socket may stay silent (no idle connection kept)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path.split("?", 1)[0] not in ("/metrics", "/"):
            self._answer(404, b"not found\n")
            return
        if self.token is not None and not self._authorized():
            self._answer(401, b"missing or wrong bearer token\n", [("WWW-Authenticate", "Bearer")])
            return
        self._answer(200, generate_latest(self.registry), [("Content-Type", CONTENT_TYPE_LATEST)])

    def _authorized(self) -> bool:
        scheme, _, given = (self.headers.get("Authorization") or "").partition(" ")
        expected = (self.token or "").encode()
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected)

    def _answer(self, code: int, body: bytes, headers=()) -> None:
        self.send_response(code)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # scrapes are not logged
        pass


def serve_metrics(
    registry: CollectorRegistry, host: str, port: int, token: str | None = None
) -> ThreadingHTTPServer:
    """Serve /metrics on a daemon thread; ``shutdown()`` the returned server to stop."""
    handler = type("MetricsHandler", (_MetricsHandler,), {"registry": registry, "token": token})
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    server_class = type("MetricsServer", (ThreadingHTTPServer,), {"address_family": family})
    server = server_class((host.strip("[]"), port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="genops-metrics", daemon=True).start()
    return server

"""Prometheus metrics of the processor (scraped by Prometheus, shown in Grafana).

Each processor owns its registry, so several can run in one test process.

Money and counts come from the ledger, not from counters: at scrape time they are read
(``storage.ledger_figures``: grouped sums and counts) on a second DuckDB connection
beside the writer, so no budget decision or ingest job waits for the read; each
budget's current spend is the writer's running state (one short job). Figures are
served as gauges and kept for ``METRICS_CACHE_S``, or longer when reading them is slow
(a read takes at most ``METRICS_READ_SHARE`` of the time); a scrape that waits longer
than ``METRICS_SCRAPE_WAIT_S`` is answered with the figures read before (their age is
a gauge). Restarts, late series and re-pricing cannot make them drift: they are the
ledger's own totals. Counters and histograms are left for what the ledger does not
keep (spans received, ingest and commit times, admission refusals).
"""

from __future__ import annotations

import concurrent.futures
import hmac
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import prometheus_client
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from genops.money import MICROS_PER_USD
from genops_processor.domain import Batch
from genops_processor.limits import (
    METRICS_CACHE_S,
    METRICS_MAX_COST_CENTERS,
    METRICS_MAX_CUSTOMERS,
    METRICS_MAX_ENVIRONMENTS,
    METRICS_MAX_PROJECTS,
    METRICS_MAX_SERIES,
    METRICS_MAX_TEAMS,
    METRICS_READ_SHARE,
    METRICS_SCRAPE_WAIT_S,
)

prometheus_client.disable_created_metrics()  # no *_created series beside every counter

OTHER = "other"  # the label value of every team / project / ... past its cap
SCOPE_LABELS = ("team", "project", "customer", "cost_center", "environment")
ADMISSION_POOLS = ("ingest", "decision", "other")  # api/admission.py's pools
BUDGET_LABELS = ("budget", "team", "project", "mode", "period")
# Seconds: spans a request's answer (ingest) or one DuckDB commit can take.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class LabelValues:
    """One client-controlled label: the first ``cap`` distinct values keep their own
    series, later ones are counted under ``other`` (a value keeps its series for the
    process's life, so series stay continuous); ``kept`` values (named by a budget)
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
    """(team, project, customer, cost center, environment) label tuples, each label
    capped, and at most ``max_series`` tuples; past that a new tuple keeps a budget's
    team and is ``other`` elsewhere, or ``other`` throughout."""

    def __init__(self, caps: Sequence[int], max_series: int) -> None:
        self.labels = [LabelValues(cap) for cap in caps]
        self.max_series = max_series
        self.tuples: set[tuple[str, ...]] = set()
        self._lock = threading.Lock()  # concurrent scrapes

    @property
    def teams(self) -> LabelValues:
        return self.labels[0]

    def keep(self, teams: Iterable[str], projects: Iterable[str]) -> None:
        self.labels[0].kept = frozenset(t for t in teams if t)
        self.labels[1].kept = frozenset(p for p in projects if p)

    def __call__(self, scope: Sequence[str]) -> tuple[str, ...]:
        with self._lock:
            capped = tuple(label(value) for label, value in zip(self.labels, scope, strict=True))
            if capped in self.tuples:
                return capped
            if len(self.tuples) >= self.max_series:
                team = capped[0] if capped[0] in self.teams.kept else OTHER
                capped = (team,) + (OTHER,) * (len(capped) - 1)
            self.tuples.add(capped)
            return capped


def _usd(micros: int) -> float:
    return micros / MICROS_PER_USD


class _LedgerCollector(Collector):
    """Gauges from the ledger's figures (see the module's doc)."""

    def __init__(self, scope: ScopeLabels) -> None:
        self.scope = scope
        # Queues the read on the writer; the future's result is what Governance gives.
        self.submit: Callable[[], concurrent.futures.Future] | None = None
        self.stale = Counter(
            "genops_metrics_stale_scrapes",
            f"Scrapes answered with older ledger figures (the read took over "
            f"{METRICS_SCRAPE_WAIT_S} s or failed)",
            registry=None,
        )
        self._lock = threading.Lock()
        self._figures: dict | None = None
        self._read_at = 0.0
        self._read_seconds = 0.0
        self._pending: concurrent.futures.Future | None = None
        self._pending_since = 0.0

    def figures(self) -> dict | None:
        with self._lock:
            if self.submit is None:
                return None
            fresh_for = max(METRICS_CACHE_S, self._read_seconds / METRICS_READ_SHARE)
            if self._figures is not None and time.monotonic() - self._read_at < fresh_for:
                return self._figures
            if self._pending is None:  # one read at a time, however many scrapes wait
                self._pending, self._pending_since = self.submit(), time.monotonic()
            pending = self._pending
        try:
            figures = pending.result(timeout=METRICS_SCRAPE_WAIT_S)
        except Exception:  # noqa: BLE001 (timeout, closed storage): older figures
            self.stale.inc()
            with self._lock:
                if pending.done():
                    self._pending = None
                return self._figures
        with self._lock:
            if self._pending is pending:
                self._pending = None
                self._figures, self._read_at = figures, time.monotonic()
                self._read_seconds = self._read_at - self._pending_since
            return self._figures

    def collect(self):
        figures = self.figures()
        yield from self.stale.collect()
        if figures is None:
            return
        yield from self._scoped(figures)
        yield from self._budgets(figures)
        yield from self._governance(figures)
        age = GaugeMetricFamily(
            "genops_metrics_ledger_age_seconds", "Age of the ledger figures this scrape shows"
        )
        age.add_metric([], time.monotonic() - self._read_at)
        took = GaugeMetricFamily(
            "genops_metrics_ledger_read_seconds", "Seconds the last read of the figures took"
        )
        took.add_metric([], self._read_seconds)
        yield age
        yield took

    def _sum(self, rows: Iterable[tuple]) -> dict[tuple, float]:
        """(scope, extra..., value) rows -> capped labels -> summed value."""
        sums: dict[tuple, float] = defaultdict(float)
        for scope, *extra, value in rows:
            sums[(*self.scope(scope), *extra)] += value
        return sums

    def _family(self, name: str, doc: str, labels: Sequence[str], sums: dict) -> GaugeMetricFamily:
        family = GaugeMetricFamily(name, doc, labels=list(labels))
        for key, value in sorted(sums.items()):
            family.add_metric(list(key), value)
        return family

    def _scoped(self, f: dict):
        labels = (*SCOPE_LABELS, "category")
        cost = self._sum((scope, cat, micros) for scope, cat, micros in f["costs"])
        yield self._family(
            "genops_cost_usd",
            "Priced cost in the ledger, USD (runs by cost category, and hand-added cost lines)",
            labels,
            {k: _usd(int(v)) for k, v in cost.items()},
        )
        runs = self._sum((scope, status, n) for scope, status, n, _ in f["runs"])
        yield self._family(
            "genops_runs", "Runs in the ledger, by status", (*SCOPE_LABELS, "status"), runs
        )
        flagged = self._sum((scope, n) for scope, _, _, n in f["runs"] if n)
        yield self._family(
            "genops_runs_flagged",
            "Runs in the ledger with a policy violation",
            SCOPE_LABELS,
            flagged,
        )
        decisions = self._sum(f["decisions"])
        yield self._family(
            "genops_budget_decisions",
            "Budget decisions in the ledger (allow, warn, deny)",
            (*SCOPE_LABELS, "decision"),
            decisions,
        )

    def _budgets(self, f: dict):
        names = {
            "spent": ("genops_budget_spent_usd", "Spend in the budget's current period, USD"),
            "limit": ("genops_budget_limit_usd", "Limit of the budget's current period, USD"),
            "forecast": (
                "genops_budget_forecast_usd",
                "Spend at the period's end at the period's average rate so far, USD",
            ),
            "utilization": (
                "genops_budget_utilization_ratio",
                "Spent / limit in the current period (not capped: above 1 is overspent)",
            ),
        }
        families = {
            key: GaugeMetricFamily(name, doc, labels=list(BUDGET_LABELS))
            for key, (name, doc) in names.items()
        }
        for row in f.get("budgets", ()):
            labels = [row[label] for label in BUDGET_LABELS]
            families["spent"].add_metric(labels, _usd(row["spent_micros"]))
            families["limit"].add_metric(labels, _usd(row["limit_micros"]))
            families["forecast"].add_metric(labels, _usd(row["forecast_micros"]))
            ratio = row["spent_micros"] / row["limit_micros"] if row["limit_micros"] else 0.0
            families["utilization"].add_metric(labels, ratio)
        yield from families.values()

    def _governance(self, f: dict):
        holds = self._sum((scope, n) for scope, n, _ in f["holds"])
        yield self._family("genops_holds_open", "Open holds (reservations)", SCOPE_LABELS, holds)
        held = self._sum((scope, micros) for scope, _, micros in f["holds"])
        yield self._family(
            "genops_holds_open_usd",
            "Money reserved by open holds, USD",
            SCOPE_LABELS,
            {k: _usd(int(v)) for k, v in held.items()},
        )
        approvals = self._sum(f["approvals"])
        yield self._family(
            "genops_approvals", "Approval requests, by status", (*SCOPE_LABELS, "status"), approvals
        )
        audit: dict[tuple, float] = defaultdict(float)
        for scope, kind, n in f["audit_events"]:
            audit[(self.scope(scope)[0], kind)] += n
        yield self._family("genops_audit_events", "Audit trail events", ("team", "kind"), audit)
        fired = {(b, team, project): n for b, team, project, n in f.get("alerts_fired", ())}
        yield self._family(
            "genops_alerts_fired", "Budget alerts fired", ("budget", "team", "project"), fired
        )
        single = {
            "alerts_pending": ("genops_alert_outbox", "Alert deliveries not done yet", 1),
            "quarantined_rows": ("genops_quarantined_rows", "Ledger rows set aside", 1),
        }
        for key, (name, doc, scale) in single.items():
            family = GaugeMetricFamily(name, doc)
            family.add_metric([], f[key] * scale)
            yield family
        keyed = {
            "monitoring_alerts": ("genops_monitoring_alerts", "Monitoring-rule alerts", "kind"),
            "delivery_failures": (
                "genops_alert_delivery_failures",
                "Failed or expired alert delivery attempts",
                "channel",
            ),
            "ledger_rejections": (
                "genops_ledger_rejected_spans",
                "Spans refused against the ledger (scope changed, usage went down, ...)",
                "reason",
            ),
        }
        for key, (name, doc, label) in keyed.items():
            yield self._family(name, doc, (label,), {(k,): v for k, v in f[key].items()})


class _WriterCollector(Collector):
    def __init__(self) -> None:
        self.depth: Callable[[], int] | None = None
        # the ledger's Checkpointer (storage/checkpoints.py), None before it opens
        self.checkpoints: Callable[[], object | None] = lambda: None

    def collect(self):
        family = GaugeMetricFamily("genops_writer_queue_depth", "Jobs waiting for the writer")
        if self.depth is not None:
            family.add_metric([], self.depth())
        yield family
        taken = CounterMetricFamily(
            "genops_ledger_checkpoints",
            "Checkpoints of the ledger's write-ahead log run beside the writer",
            labels=["outcome"],
        )
        took = GaugeMetricFamily(
            "genops_ledger_checkpoint_seconds", "How long the last checkpoint that succeeded took"
        )
        if (done := self.checkpoints()) is not None:
            taken.add_metric(["taken"], done.taken)
            taken.add_metric(["failed"], done.failed)
            took.add_metric([], done.last_seconds)
        yield taken
        yield took


class ProcessorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # process_* (CPU, memory, open files)
        PlatformCollector(registry=self.registry)  # python_info
        self.spans = Counter(
            "genops_spans_received", "Spans received, by kind", ["kind"], registry=self.registry
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
        for pool in ADMISSION_POOLS:  # a series from the start: rate() has a zero to begin at
            self.admission_refused.labels(pool)
        self.ingest_seconds = Histogram(
            "genops_ingest_duration_seconds",
            "An OTLP request from its decoding to its committed answer",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.commit_seconds = Histogram(
            "genops_commit_duration_seconds",
            "One DuckDB commit of the writer",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.decision_seconds = Histogram(
            "genops_decision_duration_seconds",
            "A budget decision from its queueing to its committed answer",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        # team, project, ... come from clients: capped (limits METRICS_MAX_*)
        self.scope_labels = ScopeLabels(
            (
                METRICS_MAX_TEAMS,
                METRICS_MAX_PROJECTS,
                METRICS_MAX_CUSTOMERS,
                METRICS_MAX_COST_CENTERS,
                METRICS_MAX_ENVIRONMENTS,
            ),
            METRICS_MAX_SERIES,
        )
        self._ledger = _LedgerCollector(self.scope_labels)
        self.registry.register(self._ledger)
        self._writer = _WriterCollector()
        self.registry.register(self._writer)

    def keep_labels(self, teams: Iterable[str], projects: Iterable[str]) -> None:
        """Teams and projects named by the policy's budgets: always their own series."""
        self.scope_labels.keep(teams, projects)

    def bind_ledger(
        self,
        submit: Callable[[], concurrent.futures.Future],
        queue_depth: Callable[[], int],
        checkpoints: Callable[[], object | None] = lambda: None,
    ) -> None:
        """``submit()`` queues a read of the figures (a dict: see storage.ledger_figures
        and Governance.metric_figures) and returns its future; ``checkpoints()`` gives
        the ledger's Checkpointer (its counts are read as they are, off the writer)."""
        self._ledger.submit = submit
        self._writer.depth = queue_depth
        self._writer.checkpoints = checkpoints

    def observe_ingest(self, batch: Batch, result, seconds: float) -> None:
        self.ingest_seconds.observe(seconds)
        for span in batch.spans:
            self.spans.labels(span.kind).inc()
        if batch.ignored_spans:
            self.spans.labels("other").inc(batch.ignored_spans)
        for rejection in (*batch.rejected, *getattr(result, "rejected", ())):
            self.spans_rejected.labels(rejection.reason).inc()

    def observe_decision(self, seconds: float) -> None:
        self.decision_seconds.observe(seconds)


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

"""Every panel of the four dashboards, evaluated by a real Prometheus scraping a real
processor fed a known workload: each query returns data, and the money, run, failure and
denial panels equal the ledger's figures (read back through the governance API).

Prometheus is the Debian package (2.42 here). Where it is missing the test is skipped,
except in CI (``CI=true``): there the set-up installs it with apt-get, and a Prometheus
that still cannot be found fails the test. Grafana cannot run here: its template
variables are substituted as Grafana would ("All" is ``.*``); nothing else is mocked.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

from genops import attributes as attr
from genops.governance.v1 import governance_pb2 as pb
from tests.helpers import ROOT, stop_process

SECOND = 10**9
RANGE = "1h"  # the dashboards' $__range: longer than the test, so "in range" is all of it
RATE_INTERVAL = "5m"  # $__rate_interval: spans the whole workload on a busy machine
POLICY = """
timezone: %s
channels: {pager: "webhook+http://127.0.0.1:%d/down"}
budgets:
  - {name: alpha-daily, scope: {team: alpha}, daily_limit: "5", mode: enforced,
     thresholds: [50], alerts: [pager]}
  - {name: nlp-daily, scope: {team: nlp}, daily_limit: "1", mode: advisory}
  - {name: beta-vision, scope: {team: beta, project: vision}, daily_limit: "1000",
     mode: enforced}
"""


def _generator():
    path = ROOT / "dashboards" / "generate.py"
    spec = importlib.util.spec_from_file_location("dashboards_generate", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None and os.environ.get("CI") == "true":
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for step in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "prometheus"]):
            subprocess.run(step, env=env, capture_output=True, timeout=600)
        found = shutil.which("prometheus")
        if found is None:
            pytest.fail("CI=true and no prometheus: apt-get install prometheus failed")
    if found is None:
        pytest.skip("needs Prometheus (Debian: apt-get install prometheus)")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    def __init__(self, binary: str, target: str, tmp: Path) -> None:
        config = tmp / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: genops-processor\n"
            f"    static_configs: [{{targets: ['{target}']}}]\n"
        )
        self.port = _free_port()
        self.log = (tmp / "prometheus.log").open("w")
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def query(self, expr: str) -> list[dict]:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode(
            {"query": expr}
        )
        answer = json.loads(urllib.request.urlopen(url, timeout=30).read())
        assert answer["status"] == "success", (expr, answer)
        return answer["data"]["result"]

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def wait(self, expr: str, want, timeout_s: float = 120) -> None:
        """Poll until ``expr`` is ``want`` (a number, or a predicate of the value)."""
        check = want if callable(want) else (lambda v: v == want)
        deadline, last = time.monotonic() + timeout_s, None
        while time.monotonic() < deadline:
            try:
                last = self.value(expr)
            except OSError:  # not listening yet
                last = "unreachable"
            if last not in (None, "unreachable") and check(last):
                return
            time.sleep(0.2)
        raise AssertionError(f"{expr}: {last!r}, waited for {want!r}")

    def stop(self) -> None:
        stop_process(self.proc)
        self.log.close()


def _kv(key: str, value) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def run(team, project, customer, center, env, status, minutes=6, **extra) -> trace_pb2.Span:
    """A T4 run of ``minutes`` (priced by the round catalog at $36/h)."""
    end = time.time_ns() - 30 * SECOND
    start = end - minutes * 60 * SECOND
    attributes = {
        attr.TEAM: team,
        attr.PROJECT: project,
        attr.CUSTOMER_ID: customer,
        attr.COST_CENTER: center,
        attr.ENVIRONMENT: env,
        attr.WANDB_RUN_ID: os.urandom(6).hex(),
        attr.RUN_STATUS: status,
        attr.RUN_COMPUTE_START_NS: start,
        attr.USAGE_AS_OF_NS: end,
        attr.HW_GPU_TYPE: "T4",
        attr.HW_GPU_COUNT: 1,
        **extra,
    }
    return trace_pb2.Span(
        trace_id=os.urandom(16),
        span_id=os.urandom(8),
        name=attr.SPAN_RUN,
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        attributes=[_kv(k, v) for k, v in attributes.items()],
    )


def export(processor, spans) -> int:
    """Send spans; returns how many the processor rejected."""
    request = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=spans)])]
    )
    with processor.channel() as channel:
        answer = trace_service_pb2_grpc.TraceServiceStub(channel).Export(request, timeout=60)
    return answer.partial_success.rejected_spans


def workload(processor) -> None:
    spans = [
        run("alpha", "vision", "acme", "cc-1", "dev", "finished"),
        run("alpha", "vision", "acme", "cc-1", "dev", "failed", minutes=3),
        run("alpha", "nlp-lab", "globex", "cc-2", "prod", "finished", minutes=9),
        run("beta", "vision", "acme", "cc-2", "prod", "finished", minutes=2),
        run("beta", "vision", "", "", "", "running", minutes=4),
        # a failed run whose error is too long: stored truncated, the run flagged
        run(
            "nlp",
            "chat",
            "initech",
            "cc-3",
            "dev",
            "failed",
            minutes=5,
            **{attr.RUN_ERROR: "x" * 5000},
        ),
        run("nlp", "chat", "initech", "cc-3", "dev", "finished", minutes=1),
    ]
    assert export(processor, spans) == 0
    hostile = run("nlp", "chat", "initech", "cc-3", "dev", "finished", **{attr.HW_GPU_COUNT: -1})
    assert export(processor, [hostile]) == 1
    stub = processor.stub()

    def check(team, project="", usd=1.0, **more):
        request = pb.CheckBudgetRequest(
            scope=pb.Scope(team=team, project=project), requested_micros=int(usd * 1e6), **more
        )
        return stub.CheckBudget(request, timeout=60)

    outcomes = [check("alpha", "vision").decision for _ in range(3)]  # spent $8.4 of $5
    outcomes += [check("nlp", "chat").decision for _ in range(2)]  # advisory, over: warn
    outcomes += [check("beta", "vision").decision, check("beta", "vision").decision]
    outcomes.append(check("beta", "vision", require_approval=True).decision)
    assert outcomes.count(pb.DECISION_DENY) == 3, outcomes
    assert outcomes.count(pb.DECISION_WARN) == 2, outcomes


def ledger(processor) -> dict:
    """The ledger's figures, through the governance API (DuckDB is the processor's)."""
    runs = processor.runs()
    decisions: Counter[tuple[str, str]] = Counter()
    stub, after = processor.stub("auditor"), 0
    while True:
        page = stub.ExportAuditTrail(pb.ExportAuditTrailRequest(after_seq=after), timeout=60)
        for event in page.events:
            if event.kind == "budget.decision":
                decisions[(event.team, json.loads(event.detail)["outcome"])] += 1
        after = page.next_after_seq
        if not page.more:
            break
    return {"runs": runs, "decisions": decisions}


def micros(usd: float) -> int:
    return round(usd * 1_000_000)


def by(result: list[dict], label: str) -> dict[str, float]:
    return {r["metric"].get(label, ""): float(r["value"][1]) for r in result}


@pytest.fixture(scope="module")
def stack(prometheus_binary, tmp_path_factory):
    from tests.helpers import ROUND_CATALOG, start_processor

    tmp = tmp_path_factory.mktemp("prometheus")
    policy = tmp / "policy.yaml"
    from tests.e2e.test_analytics import MIDDAY_ZONE  # now is midday: runs count whole

    # nobody listens on the channel's port: every delivery fails
    policy.write_text(POLICY % (MIDDAY_ZONE, _free_port()))
    processor = start_processor(tmp, "--catalog", str(ROUND_CATALOG), "--policy", str(policy))
    target = processor.metrics_url.removeprefix("http://").split("/", 1)[0]
    prometheus = Prometheus(prometheus_binary, target, tmp)
    try:
        # The first scrape can take seconds: poll. Histograms and counters then have a
        # sample from before the workload, so their rates see it.
        prometheus.wait('up{job="genops-processor"}', 1.0)
        prometheus.wait("genops_writer_queue_depth", lambda v: v >= 0)
        workload(processor)
        figures = ledger(processor)
        prometheus.wait("sum(genops_runs)", float(len(figures["runs"])))
        prometheus.wait("sum(genops_budget_decisions)", float(sum(figures["decisions"].values())))
        prometheus.wait("sum(genops_alert_delivery_failures)", lambda v: v >= 1)
        prometheus.wait("sum(genops_spans_rejected_total)", 1.0)
        # A slope (the spend rate) needs two samples of each series.
        prometheus.wait("min(count_over_time(genops_cost_usd[5m]))", lambda v: v >= 2)
        yield prometheus, figures
    finally:
        prometheus.stop()
        processor.stop()


GENERATE = _generator()
BOARDS = GENERATE.build()


def substitute(expr: str, team: str = ".*", project: str = ".*") -> str:
    for name, value in (
        ("$__rate_interval", RATE_INTERVAL),
        ("$__range", RANGE),
        ("$team", team),
        ("$project", project),
    ):
        expr = expr.replace(name, value)
    return expr


def panel(board: str, title: str) -> dict:
    (found,) = [p for p in BOARDS[board]["panels"] if p["title"] == title]
    return found


@pytest.mark.parametrize(
    ("board", "title"),
    [(name, p["title"]) for name, board in BOARDS.items() for p in board["panels"]],
)
def test_every_panel_query_returns_data(stack, board, title):
    prometheus, _ = stack
    for target in panel(board, title)["targets"]:
        result = prometheus.query(substitute(target["expr"]))
        values = [float(r["value"][1]) for r in result]
        assert any(not math.isnan(v) for v in values), (target["expr"], result)


def stat(prometheus, board, title, **filters) -> float:
    (target,) = panel(board, title)["targets"]
    result = prometheus.query(substitute(target["expr"], **filters))
    assert len(result) <= 1, result
    return float(result[0]["value"][1]) if result else 0.0  # no series: nothing to sum


def test_money_runs_failures_and_denials_equal_the_ledger(stack):
    prometheus, figures = stack
    runs, decisions = figures["runs"], figures["decisions"]
    cost = "genops-cost-overview.json"
    total = sum(r.cost_micros for r in runs)
    assert total > 0
    # Money: exact to the micro-dollar (the gauges are the ledger's sums / 10^6).
    assert micros(stat(prometheus, cost, "Cost in range")) == total
    assert micros(stat(prometheus, cost, "Cost, all time")) == total
    for label, key in (("team", "team"), ("project", "project"), ("customer", "customer_id")):
        expected: Counter[str] = Counter()
        for r in runs:
            expected[getattr(r.scope, key)] += r.cost_micros
        (target,) = panel(cost, f"Cost by {label} in range")["targets"]
        shown = by(prometheus.query(substitute(target["expr"])), label)
        assert {k: micros(v) for k, v in shown.items()} == +expected
    # Runs and failures: exact counts.
    ended = [r for r in runs if r.status in ("finished", "failed")]
    assert stat(prometheus, cost, "Runs finished in range") == len(ended)
    failed = sum(r.status == "failed" for r in runs)
    assert stat(prometheus, cost, "Failed runs in range") == failed == 2
    # Denials and warnings: exact counts of the decisions the ledger recorded.
    denials = sum(n for (_, outcome), n in decisions.items() if outcome == "deny")
    assert denials == 3
    assert stat(prometheus, "genops-budgets.json", "Budget denials in range") == denials
    assert stat(prometheus, "genops-governance.json", "Denials in range") == denials
    warnings = sum(n for (_, outcome), n in decisions.items() if outcome == "warn")
    assert stat(prometheus, "genops-budgets.json", "Budget warnings in range") == warnings
    (target,) = panel("genops-governance.json", "Decisions by outcome in range")["targets"]
    shown = by(prometheus.query(substitute(target["expr"])), "decision")
    assert shown == {o: float(sum(n for (_, d), n in decisions.items() if d == o)) for o in shown}
    assert set(shown) == {d for _, d in decisions}


def test_the_filters_select_the_ledger_of_a_team_and_a_project(stack):
    prometheus, figures = stack
    runs, decisions = figures["runs"], figures["decisions"]
    cost = "genops-cost-overview.json"
    alpha = [r for r in runs if r.scope.team == "alpha"]
    shown = stat(prometheus, cost, "Cost in range", team="alpha")
    assert micros(shown) == sum(r.cost_micros for r in alpha)
    assert stat(prometheus, cost, "Failed runs in range", team="alpha") == 1
    vision = [r for r in runs if r.scope.project == "vision"]
    shown = stat(prometheus, cost, "Cost in range", project="vision")
    assert micros(shown) == sum(r.cost_micros for r in vision)
    alpha_denials = decisions[("alpha", "deny")]
    assert stat(prometheus, "genops-budgets.json", "Budget denials in range", team="alpha") == (
        alpha_denials
    )
    assert stat(prometheus, "genops-budgets.json", "Budget denials in range", team="beta") == 0


def test_utilisation_past_the_limit_shows_past_one_hundred_percent(stack):
    prometheus, figures = stack
    spent = sum(r.cost_micros for r in figures["runs"] if r.scope.team == "alpha")
    (target,) = panel("genops-budgets.json", "Budget utilisation")["targets"]
    shown = by(prometheus.query(substitute(target["expr"])), "budget")
    assert shown["alpha-daily"] == pytest.approx(spent / 5_000_000, rel=1e-12)
    assert shown["alpha-daily"] > 1

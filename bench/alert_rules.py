"""Ingest time with 0 and with 400 monitoring rules, side by side.

Starts two real ``genops-processor`` processes (each its own DuckDB file in a
temporary directory, the same policy: one daily budget per team), registers
``--rules`` (400) rules on the second through ``AddAlertRule``, spread over the
four teams the telemetry comes from (within the per-team cap) and over every
kind: cost thresholds (some with the client's own daily limit), metric rules
(``daily_cost``, ``budget_utilization``, ``experiment_failure_rate``) and
governance rules (``budget_exceeded``, ``policy_violation``), each to
``log://``. Every rule's scope is one of the ingested teams, so every ingest
can move every rule (the worst case for "only rules whose scope changed").

Then it sends ``--requests`` OTLP export requests of ``--spans`` run spans each
(new runs of the four teams) to both processors, alternating which goes first,
and times each request until the processor answers (the ingest is committed
then). It prints and stores the median per processor and their ratio (aim: at
most 1.5), with the p90 and the alerts the rules fired. The issue this answers
measured every ingest 7x slower with 400 rules, when rules were evaluated inside
each ingest; now an ingest only marks the scopes it changed and the rules are
evaluated shortly after, off the ingest path, in bounded bulk jobs.

    .venv/bin/python bench/alert_rules.py [--rules N] [--requests K] [--spans S] [--output FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import grpc
from _support import scratch_dir
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

from genops import attributes as attr
from genops.governance.v1 import governance_pb2 as pb
from genops.governance.v1 import governance_pb2_grpc as pb_grpc

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEFAULT_OUTPUT = REPO / "bench" / "results" / "alert_rules.json"
AIM = 1.5
TEAMS = ["vision", "nlp", "speech", "recsys"]
WARMUP = 5  # requests per processor not counted (first queries, caches)
HOUR_NS = 3_600 * 10**9
POLICY = "budgets:\n" + "".join(
    f'  - {{name: {team}-daily, scope: {{team: {team}}}, daily_limit: "5000"}}\n' for team in TEAMS
)


class Processor:
    def __init__(self, workdir: Path, name: str) -> None:
        (workdir / name).mkdir()
        self.log = workdir / name / "processor.log"
        policy = workdir / "policy.yaml"
        policy.write_text(POLICY)
        command = [
            str(BIN / "genops-processor"),
            *("--db", str(workdir / name / "ledger.duckdb")),
            *("--listen", "127.0.0.1:0", "--policy", str(policy)),
        ]
        with self.log.open("w") as out:  # a file, never a pipe nobody reads
            self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = re.search(r"listening on (\S+),", self.log.read_text())
            if found:
                self.endpoint = found.group(1)
                self.channel = grpc.insecure_channel(self.endpoint)
                self.governance = pb_grpc.GovernanceServiceStub(self.channel)
                self.traces = trace_service_pb2_grpc.TraceServiceStub(self.channel)
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"processor {name} did not start:\n{self.log.read_text()}")

    def export(self, request: trace_service_pb2.ExportTraceServiceRequest) -> float:
        started = time.perf_counter()
        self.traces.Export(request, timeout=120)
        return time.perf_counter() - started

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def rules(count: int) -> list[pb.AlertRule]:
    """Every kind, spread over the teams (and two projects), each to log://."""
    made = []
    for i in range(count):
        team, project = TEAMS[i % len(TEAMS)], ("", "p0", "p1")[i % 3]
        scope = pb.Scope(team=team, project=project)
        kind = i % 6
        if kind in (0, 1):
            rule = pb.AlertRule(kind="cost", scope=scope, threshold=50 + i % 50)
            if kind == 1:
                rule.client_limits.daily_limit_micros = (100 + i) * 1_000_000
        elif kind == 2:
            rule = pb.AlertRule(kind="metric", scope=scope, metric="daily_cost", threshold=10**6)
        elif kind == 3:
            rule = pb.AlertRule(
                kind="metric", scope=scope, metric="budget_utilization", threshold=95
            )
        elif kind == 4:
            rule = pb.AlertRule(
                kind="metric",
                scope=scope,
                metric="experiment_failure_rate",
                threshold=90,
                window_minutes=30 + i,
            )
        else:
            rule = pb.AlertRule(
                kind="governance",
                scope=scope,
                violation_types=["budget_exceeded", "policy_violation"],
                severity="LOW",
            )
        rule.channels.append("log://")
        made.append(rule)
    return made


def kv(key: str, value: object) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def export_request(spans: int, seq: int) -> trace_service_pb2.ExportTraceServiceRequest:
    """``spans`` new finished runs of the four teams, ending just now (a few hours each)."""
    now_ns = time.time_ns()
    made = []
    for i in range(spans):
        end_ns = now_ns - (seq * spans + i) * 10**6
        start_ns = end_ns - (1 + i % 4) * HOUR_NS // 4
        attributes = {
            attr.TEAM: TEAMS[i % len(TEAMS)],
            attr.PROJECT: ("p0", "p1")[i % 2],
            attr.RUN_STATUS: "failed" if i % 10 == 0 else "finished",
            attr.WANDB_RUN_ID: os.urandom(4).hex(),
            attr.HW_GPU_TYPE: "T4",
            attr.HW_GPU_COUNT: 1,
            attr.HW_CPU_COUNT: 4,
            attr.RUN_COMPUTE_START_NS: start_ns,
            attr.USAGE_AS_OF_NS: end_ns,
        }
        made.append(
            trace_pb2.Span(
                trace_id=os.urandom(16),
                span_id=os.urandom(8),
                name=attr.SPAN_RUN,
                start_time_unix_nano=start_ns,
                end_time_unix_nano=end_ns,
                attributes=[kv(k, v) for k, v in attributes.items()],
            )
        )
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=made)])]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=400)
    parser.add_argument("--requests", type=int, default=60, help="timed requests per processor")
    parser.add_argument("--spans", type=int, default=20, help="run spans per request")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    workdir = scratch_dir("genops-alert-rules-")
    without = with_rules = None
    try:
        without, with_rules = Processor(workdir, "no-rules"), Processor(workdir, "rules")
        started = time.perf_counter()
        for rule in rules(args.rules):
            with_rules.governance.AddAlertRule(rule, timeout=30)
        register_s = time.perf_counter() - started
        print(f"registered {args.rules} rules in {register_s:.1f} s", flush=True)

        times: dict[str, list[float]] = {"0 rules": [], f"{args.rules} rules": []}
        pair = [("0 rules", without), (f"{args.rules} rules", with_rules)]
        for seq in range(WARMUP + args.requests):
            for label, processor in pair if seq % 2 else pair[::-1]:  # alternate who goes first
                took = processor.export(export_request(args.spans, seq))
                if seq >= WARMUP:
                    times[label].append(took)
        time.sleep(1)  # the last evaluation (due 0.25 s after the last ingest) has run
        alerts = json.loads(
            with_rules.governance.ListAlerts(
                pb.ListAlertsRequest(limit=10_000), timeout=60
            ).alerts_json
        )
        listed = len(with_rules.governance.ListAlertRules(pb.ListAlertRulesRequest()).rules)
    finally:
        for processor in (without, with_rules):
            if processor is not None:
                processor.stop()

    rows = []
    for label, samples in times.items():
        ms = sorted(1000 * s for s in samples)
        rows.append(
            {
                "processor": label,
                "median_ms": round(statistics.median(ms), 2),
                "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 2),
                "runs_ms": [round(m, 2) for m in ms],
            }
        )
    ratio = rows[1]["median_ms"] / rows[0]["median_ms"]
    print(f"{'processor':<12} {'median ms':>10} {'p90 ms':>8}")
    for row in rows:
        print(f"{row['processor']:<12} {row['median_ms']:>10.1f} {row['p90_ms']:>8.1f}")
    verdict = "within" if ratio <= AIM else "OVER"
    print(f"ratio {ratio:.2f} ({verdict} the aim of {AIM}); {len(alerts)} alerts fired")
    result = {
        "benchmark": "alert_rules",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "rules": args.rules,
        "rules_listed": listed,
        "requests": args.requests,
        "spans_per_request": args.spans,
        "register_seconds": round(register_s, 2),
        "alerts_fired": len(alerts),
        "ratio": round(ratio, 3),
        "aim": AIM,
        "ingest": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0 if ratio <= AIM else 1


if __name__ == "__main__":
    sys.exit(main())

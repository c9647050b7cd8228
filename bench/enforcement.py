"""Enforcement lag: from the heartbeat that crosses an enforced budget to the run's stop.

A processor (fresh ledger) has one enforced daily budget of $2 per trial team. Each
trial is a run as the instrumentation drives it: ``CheckBudget`` (a $0.10 hold), then a
heartbeat per simulated minute (8 T4s and 96 vCPUs, about $0.13 a minute under the
default catalog): the heartbeat span is exported (acknowledged after its commit), then
``CheckRun`` asks whether the run may go on to its next heartbeat. The lag is the time
from the start of the export of the first heartbeat whose check answers STOP to that
answer. The baseline is the same two calls (an export, a check) answered by the bare
server (``_bare.py``), alternating with the processor's trials. It also checks that
the stop came on the heartbeat that would pass the limit, not later (the check before it
answered CONTINUE, and the run's accrued cost at the stop is within one heartbeat's
cost of the limit).

Results go to ``bench/results/enforcement.json``.

    .venv/bin/python bench/enforcement.py [--quick] [--trials N] [--output FILE]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import (  # noqa: E402
    SECOND,
    latencies,
    ratio,
    scratch_dir,
    start_bare,
    start_processor,
    write_result,
)

from genops import attributes as attr  # noqa: E402
from genops.governance.v1 import governance_pb2 as pb  # noqa: E402
from genops.governance.v1 import governance_pb2_grpc as pb_grpc  # noqa: E402

LIMIT_USD = 2
BEAT_S = 60  # simulated seconds between heartbeats
MAX_BEATS = 200


def policy(trials: int) -> str:
    return "budgets:\n" + "".join(
        f'  - {{name: lag-{i:03d}, scope: {{team: lag-{i:03d}}}, daily_limit: "{LIMIT_USD}", '
        "mode: enforced}\n"
        for i in range(trials)
    )


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def heartbeat(team: str, run_id: str, hold_id: str, start_ns: int, beat: int):
    as_of = start_ns + beat * BEAT_S * SECOND
    values = {
        attr.TEAM: team,
        attr.PROJECT: "lag",
        attr.WANDB_RUN_ID: run_id,
        attr.RUN_STATUS: "running",
        attr.RUN_SEQUENCE: beat,
        attr.RUN_COMPUTE_START_NS: start_ns,
        attr.USAGE_AS_OF_NS: as_of,
        attr.HW_GPU_TYPE: "T4",
        attr.HW_GPU_COUNT: 8,
        attr.HW_CPU_COUNT: 96,
        attr.BUDGET_HOLD_ID: hold_id,
    }
    span = trace_pb2.Span(
        trace_id=(run_id.encode() + b"\0" * 16)[:16],
        span_id=(beat + 1).to_bytes(8, "big"),
        name=attr.SPAN_HEARTBEAT,
        start_time_unix_nano=as_of,
        end_time_unix_nano=as_of,
        attributes=[_kv(k, v) for k, v in values.items()],
    )
    request = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=[span])])]
    )
    check = pb.CheckRunRequest(
        hold_id=hold_id,
        scope=pb.Scope(team=team, project="lag"),
        run_id=run_id,
        next_check_ns=BEAT_S * SECOND,
        usage=pb.RunSnapshot(
            compute_start_ns=start_ns, as_of_ns=as_of, gpu_type="T4", gpu_count=8, cpu_count=96
        ),
    )
    return request, check


def trial(traces, governance, i: int) -> dict:
    """One run until stopped; the lag of the stopping heartbeat and what preceded it."""
    team, run_id = f"lag-{i:03d}", f"lag{i:05d}{time.time_ns() % 10**6:06d}"
    answer = governance.CheckBudget(
        pb.CheckBudgetRequest(scope=pb.Scope(team=team, project="lag"), requested_micros=100_000),
        timeout=30,
    )
    start_ns = time.time_ns() - 3 * 3600 * SECOND
    previous, beats = None, []
    for beat in range(1, MAX_BEATS):
        export, check = heartbeat(team, run_id, answer.hold_id, start_ns, beat)
        began = time.perf_counter()
        traces.Export(export, timeout=30)
        exported = time.perf_counter()
        verdict = governance.CheckRun(check, timeout=30)
        took = time.perf_counter() - began
        beats.append(took)
        if verdict.action == pb.RUN_ACTION_STOP:
            return {
                "lag_s": took,
                "export_s": exported - began,
                "beats": beat,
                "accrued_micros": verdict.accrued_micros,
                "previous_action": pb.RunAction.Name(previous) if previous is not None else None,
                "beat_s": beats,
            }
        previous = verdict.action
    raise RuntimeError(f"trial {i}: no stop after {MAX_BEATS} heartbeats")


def bare_pair(traces, governance, i: int, beats: int) -> list[float]:
    """The same calls, answered by the bare server."""
    times = []
    start_ns = time.time_ns() - 3 * 3600 * SECOND
    for beat in range(1, beats + 1):
        export, check = heartbeat(f"lag-{i:03d}", f"bare{i:05d}", "bare-hold", start_ns, beat)
        began = time.perf_counter()
        traces.Export(export, timeout=30)
        governance.CheckRun(check, timeout=30)
        times.append(time.perf_counter() - began)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 trials")
    parser.add_argument("--trials", type=int, default=None)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    trials = args.trials or (5 if args.quick else 30)
    mode = "quick" if args.quick else "full"
    print(f"enforcement ({mode}): {trials} runs stopped by a ${LIMIT_USD} budget", flush=True)
    workdir = scratch_dir("genops-bench-enforcement-")
    bare = processor = None
    stops, bare_times = [], []
    try:
        bare = start_bare(workdir)
        processor = start_processor(workdir, "processor", workdir / "ledger.duckdb", policy(trials))
        stubs = {}
        for name, server in (("bare", bare), ("processor", processor)):
            channel = grpc.insecure_channel(server.endpoint)
            stubs[name] = (
                trace_service_pb2_grpc.TraceServiceStub(channel),
                pb_grpc.GovernanceServiceStub(channel),
            )
        for i in range(trials):
            if i % 2:
                stops.append(trial(*stubs["processor"], i))
                bare_times += bare_pair(*stubs["bare"], i, 3)
            else:
                bare_times += bare_pair(*stubs["bare"], i, 3)
                stops.append(trial(*stubs["processor"], i))
    finally:
        for server in (bare, processor):
            if server is not None:
                server.stop()
    lag = latencies([s["lag_s"] for s in stops])
    export = latencies([s["export_s"] for s in stops])
    every_beat = latencies([t for s in stops for t in s["beat_s"]])
    baseline = latencies(bare_times)
    on_time = all(s["previous_action"] in (None, "RUN_ACTION_CONTINUE") for s in stops)
    overshoot = max(s["accrued_micros"] for s in stops) - LIMIT_USD * 1_000_000
    print(
        f"heartbeat crossing -> stop: p50 {lag['p50_ms']} ms, p99 {lag['p99_ms']} ms "
        f"(of which the export's acknowledgement p50 {export['p50_ms']} ms) "
        f"(every heartbeat's export + check: p50 {every_beat['p50_ms']} ms); bare pair p50 "
        f"{baseline['p50_ms']} ms; ratio {ratio(lag['p50_ms'], baseline['p50_ms'])}; "
        f"stopped on the crossing heartbeat: {on_time}",
        flush=True,
    )
    write_result(
        "enforcement",
        {
            "mode": mode,
            "trials": trials,
            "limit_usd": LIMIT_USD,
            "heartbeat_simulated_s": BEAT_S,
            "lag": lag,
            "export_of_lag": export,
            "every_heartbeat": every_beat,
            "bare_pair": baseline,
            "ratio_p50": ratio(lag["p50_ms"], baseline["p50_ms"]),
            "stopped_on_crossing_heartbeat": on_time,
            "max_accrued_over_limit_micros": overshoot,
            "beats_to_stop": [s["beats"] for s in stops],
        },
        args.output,
    )
    return 0 if on_time else 1


if __name__ == "__main__":
    sys.exit(main())

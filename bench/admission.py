"""Processor memory under concurrent 61 MB OTLP requests, with admission control.

For each concurrency level (4, 8, 12 by default) a fresh ``genops-processor``
subprocess (temp DuckDB, the round test catalog) receives that many ~61 MB OTLP
Export requests at once, each of 10,000 heartbeat spans of 100 new runs carrying a
~6 KB metrics attribute. The script records each request's status (OK or
RESOURCE_EXHAUSTED and how fast it came back), the processor's peak RSS (VmHWM)
and its RSS once idle afterwards (VmRSS, 3 s after the last answer), and checks that
the runs of every accepted request are stored and those of refused ones are not,
and that a CheckBudget answered while the requests were in flight.

Results go to ``bench/results/admission.json``.

    .venv/bin/python bench/admission.py [--levels 4,8,12] [--inflight-mb N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from genops import attributes as attr  # noqa: E402
from genops.governance.v1 import governance_pb2 as pb  # noqa: E402
from genops.governance.v1 import governance_pb2_grpc as pb_grpc  # noqa: E402
from tests.helpers import ROUND_CATALOG, start_processor  # noqa: E402

SECOND = 10**9
RUNS_PER_REQUEST = 100
SPANS_PER_RUN = 100
METRICS_BYTES = 5_700


def _kv(key: str, value) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def big_request(tag: int, now_ns: int) -> bytes:
    """About 61 MB: heartbeats of RUNS_PER_REQUEST new runs, team ``bench-<tag>``."""
    spans = []
    filler = "x" * METRICS_BYTES
    start = now_ns - 3600 * SECOND
    for run in range(RUNS_PER_REQUEST):
        trace_id = tag.to_bytes(8, "big") + run.to_bytes(8, "big")
        run_id = f"adm{tag:04d}r{run:04d}"
        for seq in range(SPANS_PER_RUN):
            as_of = start + (seq + 1) * 30 * SECOND
            spans.append(
                trace_pb2.Span(
                    trace_id=trace_id,
                    span_id=(seq + 1).to_bytes(8, "big"),
                    name=attr.SPAN_HEARTBEAT,
                    start_time_unix_nano=as_of,
                    end_time_unix_nano=as_of,
                    attributes=[
                        _kv(attr.TEAM, f"bench-{tag}"),
                        _kv(attr.PROJECT, "admission"),
                        _kv(attr.WANDB_RUN_ID, run_id),
                        _kv(attr.RUN_STATUS, "running"),
                        _kv(attr.RUN_SEQUENCE, seq),
                        _kv(attr.RUN_COMPUTE_START_NS, start),
                        _kv(attr.USAGE_AS_OF_NS, as_of),
                        _kv(attr.HW_GPU_TYPE, "T4"),
                        _kv(attr.HW_GPU_COUNT, 1),
                        _kv(attr.METRICS_LAST, json.dumps({"loss": seq, "pad": filler})),
                    ],
                )
            )
    request = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=spans)])]
    )
    return request.SerializeToString()


def rss_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def one_level(concurrent: int, bodies: list[bytes], extra_env: dict[str, str]) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="genops-admission-"))
    old = {k: os.environ.get(k) for k in extra_env}
    os.environ.update(extra_env)
    try:
        proc = start_processor(workdir, "--catalog", str(ROUND_CATALOG))
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    try:
        idle = rss_kib(proc.proc.pid)["VmRSS"]
        outcomes: list[tuple[int, str, float]] = []
        lock = threading.Lock()
        barrier = threading.Barrier(concurrent + 1)

        def send(index: int) -> None:
            channel = grpc.insecure_channel(
                proc.endpoint, options=[("grpc.max_send_message_length", 128 * 2**20)]
            )
            export = channel.unary_unary(
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                request_serializer=lambda b: b,
                response_deserializer=trace_service_pb2.ExportTraceServiceResponse.FromString,
            )
            barrier.wait()
            started = time.perf_counter()
            try:
                export(bodies[index], timeout=300)
                code = "OK"
            except grpc.RpcError as error:
                code = error.code().name
            with lock:
                outcomes.append((index, code, time.perf_counter() - started))
            channel.close()

        threads = [threading.Thread(target=send, args=(i,)) for i in range(concurrent)]
        for thread in threads:
            thread.start()
        barrier.wait()
        started = time.perf_counter()
        # A budget check while the flood is in flight: it has its own headroom.
        time.sleep(0.5)
        check_started = time.perf_counter()
        stub = pb_grpc.GovernanceServiceStub(grpc.insecure_channel(proc.endpoint))
        try:
            stub.CheckBudget(pb.CheckBudgetRequest(scope=pb.Scope(team="bench-check")), timeout=10)
            check = "OK"
        except grpc.RpcError as error:
            check = error.code().name
        check_s = time.perf_counter() - check_started
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        time.sleep(3)
        memory = rss_kib(proc.proc.pid)
        accepted = sorted(i for i, code, _ in outcomes if code == "OK")
    finally:
        status = proc.stop()
    teams = _stored_teams(proc.db)
    stored_ok = teams == {f"bench-{i}": RUNS_PER_REQUEST for i in accepted}
    for leftover in sorted(workdir.rglob("*"), reverse=True):
        leftover.unlink() if leftover.is_file() else leftover.rmdir()
    workdir.rmdir()
    refused = [s for _, code, s in outcomes if code == "RESOURCE_EXHAUSTED"]
    return {
        "concurrent": concurrent,
        "accepted": len(accepted),
        "refused": len(refused),
        "other_errors": sorted(
            {c for _, c, _ in outcomes if c not in ("OK", "RESOURCE_EXHAUSTED")}
        ),
        "slowest_refusal_s": round(max(refused, default=0.0), 2),
        "wall_s": round(wall, 1),
        "idle_rss_mib": round(idle / 1024),
        "peak_rss_mib": round(memory["VmHWM"] / 1024),
        "after_rss_mib": round(memory["VmRSS"] / 1024),
        "check_budget_during": check,
        "check_budget_s": round(check_s, 2),
        "accepted_runs_stored_refused_not": stored_ok,
        "processor_exit": status,
    }


def _stored_teams(db: Path) -> dict[str, int]:
    """Runs per team in the ledger the processor left (read after it stopped)."""
    import duckdb

    with duckdb.connect(str(db), read_only=True) as conn:
        return dict(conn.execute("SELECT team, count(*) FROM runs GROUP BY team").fetchall())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="4,8,12")
    parser.add_argument("--inflight-mb", type=int, default=None, help="GENOPS_INGEST_INFLIGHT_MB")
    parser.add_argument("--output", type=Path, default=REPO / "bench/results/admission.json")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    env = {}
    if args.inflight_mb is not None:
        env["GENOPS_INGEST_INFLIGHT_MB"] = str(args.inflight_mb)
    now_ns = time.time_ns()
    bodies = [big_request(i, now_ns) for i in range(max(levels))]
    size_mb = len(bodies[0]) / 1e6
    print(f"{len(bodies)} requests of {size_mb:.1f} MB ({RUNS_PER_REQUEST * SPANS_PER_RUN} spans)")
    results = []
    for level in levels:
        result = one_level(level, bodies, env)
        results.append(result)
        print(
            f"{level:>3} concurrent: {result['accepted']} accepted, {result['refused']} refused "
            f"(slowest refusal {result['slowest_refusal_s']} s); RSS idle "
            f"{result['idle_rss_mib']} MiB, peak {result['peak_rss_mib']} MiB, after "
            f"{result['after_rss_mib']} MiB; CheckBudget during: {result['check_budget_during']} "
            f"in {result['check_budget_s']} s; stored as answered: "
            f"{result['accepted_runs_stored_refused_not']}",
            flush=True,
        )
    report = {
        "request_mb": round(size_mb, 1),
        "spans_per_request": RUNS_PER_REQUEST * SPANS_PER_RUN,
        "ingest_inflight_mb": args.inflight_mb or 128,
        "levels": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    ok = all(
        r["accepted"] >= 1
        and r["check_budget_during"] == "OK"
        and r["accepted_runs_stored_refused_not"]
        and not r["other_errors"]
        for r in results
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

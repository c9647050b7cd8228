"""Budget decisions: CheckBudget and CheckRun latency and throughput against a bare echo.

Three servers, each its own process: the bare echo (``_bare.py``: grpc.aio with the
processor's server options, parses the request and answers a constant), a processor on an
empty ledger, and a processor on a ledger seeded with a year of a 10,000-run/day fleet
(``_seed.py``: 3.65 M finished runs with their cost lines, committed holds and decisions,
written in bulk through the storage schema and cached under ``.cache/bench``; ``--quick``
seeds 7 days instead and says so). Both processors have a daily and a monthly enforced
budget per team (20 teams), every decision allowing.

For 1, 8 and 32 concurrent callers (threads, each its own channel) it times, in phases of a
fixed length that alternate between the three servers: ``CheckBudget`` (a new run of the
caller's team asking for $1: a decision that reserves a hold) and ``CheckRun`` (a running
run's mid-run check against its hold, 15 s to the next check). It prints each server's
p50/p99 and calls per second, the processor's ratios to the echo (throughput, p99) and the
seeded ledger's p99 over the empty one's. Then the same on the seeded ledger while
``_load.py`` sends heartbeats as fast as the processor takes them (4 senders).

Results go to ``bench/results/decisions.json``.

    .venv/bin/python bench/decisions.py [--quick] [--levels 1,8,32] [--days D] [--output FILE]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _seed import seeded_ledger  # noqa: E402
from _support import (  # noqa: E402
    FLEET_POLICY,
    HEARTBEAT_S,
    SECOND,
    TEAMS,
    latencies,
    median,
    ratio,
    scratch_dir,
    start_bare,
    start_load,
    start_processor,
    stop_load,
    write_result,
)

from genops.governance.v1 import governance_pb2 as pb  # noqa: E402
from genops.governance.v1 import governance_pb2_grpc as pb_grpc  # noqa: E402

RUNS_PER_DAY = 10_000
CLIENT_TIMEOUT_S = 2.0  # the instrumentation's default: a slower answer fails open


class Callers:
    """``n`` callers of one server, each with its own channel (its own connection)."""

    def __init__(self, endpoint: str, n: int) -> None:
        self.channels = [
            grpc.insecure_channel(endpoint, options=[("grpc.use_local_subchannel_pool", 1)])
            for _ in range(n)
        ]
        self.stubs = [pb_grpc.GovernanceServiceStub(c) for c in self.channels]

    def close(self) -> None:
        for channel in self.channels:
            channel.close()


def budget_request(caller: int) -> pb.CheckBudgetRequest:
    return pb.CheckBudgetRequest(
        scope=pb.Scope(team=TEAMS[caller % len(TEAMS)], project="proj-1"),
        requested_micros=1_000_000,
        wandb_project="fleet",
        wandb_run_name=f"bench-{caller}",
        request_id=uuid.uuid4().hex,
    )


def run_request(caller: int, hold_id: str, start_ns: int) -> pb.CheckRunRequest:
    return pb.CheckRunRequest(
        hold_id=hold_id,
        scope=pb.Scope(team=TEAMS[caller % len(TEAMS)], project="proj-1"),
        run_id=f"bench-{caller}-{hold_id[:8]}",
        next_check_ns=HEARTBEAT_S * SECOND,
        usage=pb.RunSnapshot(
            compute_start_ns=start_ns,
            as_of_ns=time.time_ns(),
            gpu_type="T4",
            gpu_count=1,
            cpu_count=4,
        ),
    )


def phase(callers: Callers, n: int, call: str, seconds: float) -> dict:
    """``n`` callers calling ``call`` back to back for ``seconds``."""
    took: list[float] = []
    failed = [0]
    lock = threading.Lock()
    holds = []
    if call == "CheckRun":  # each caller's run has its hold first (not timed)
        for i in range(n):
            answer = callers.stubs[i].CheckBudget(budget_request(i), timeout=60)
            holds.append(answer.hold_id)
    start_ns = time.time_ns() - 600 * SECOND
    deadline = time.perf_counter() + seconds

    def caller(i: int) -> None:
        stub, mine = callers.stubs[i], []
        while time.perf_counter() < deadline:
            if call == "CheckBudget":
                request, method = budget_request(i), stub.CheckBudget
            else:
                request, method = run_request(i, holds[i], start_ns), stub.CheckRun
            began = time.perf_counter()
            try:
                method(request, timeout=60)
            except grpc.RpcError:
                with lock:
                    failed[0] += 1
                continue
            mine.append(time.perf_counter() - began)
        with lock:
            took.extend(mine)

    began = time.perf_counter()
    threads = [threading.Thread(target=caller, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    result = latencies(took)
    result["per_s"] = round(len(took) / elapsed, 1)
    result["failed"] = failed[0]
    result["over_client_timeout"] = sum(1 for t in took if t > CLIENT_TIMEOUT_S)
    return result


def summarize(samples: list[dict]) -> dict:
    return {
        "p50_ms": median([s["p50_ms"] for s in samples if s["p50_ms"] is not None] or [0]),
        "p99_ms": median([s["p99_ms"] for s in samples if s["p99_ms"] is not None] or [0]),
        "per_s": median([s["per_s"] for s in samples]),
        "calls": sum(s["calls"] for s in samples),
        "failed": sum(s["failed"] for s in samples),
        "over_client_timeout": sum(s["over_client_timeout"] for s in samples),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="7 seeded days, short phases")
    parser.add_argument("--levels", default="1,8,32", help="concurrent callers")
    parser.add_argument("--days", type=int, default=None, help="days of seeded history")
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None, help="one phase")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    days = args.days or (7 if args.quick else 365)
    reps = args.reps or (2 if args.quick else 3)
    seconds = args.seconds or (0.75 if args.quick else 4.0)
    levels = [int(n) for n in args.levels.split(",")]
    mode = "quick" if args.quick else "full"
    seed_note = f"{days} days of a {RUNS_PER_DAY:,}-run/day fleet ({days * RUNS_PER_DAY:,} runs)"
    print(
        f"decisions ({mode}): seeded ledger = {seed_note}"
        + (" (quick mode: a smaller seed than the full bench's 365 days)" if days < 365 else ""),
        flush=True,
    )
    workdir = scratch_dir("genops-bench-decisions-")
    seed = seeded_ledger(RUNS_PER_DAY, days, workdir / "seeded.duckdb")
    how = "cached" if seed["cached"] else f"seeded in {seed['seed_seconds']} s"
    print(f"seeded ledger: {seed['bytes'] / 2**20:.0f} MiB ({how})", flush=True)

    servers, pools = {}, {}
    results: dict[str, dict] = {}
    try:
        servers["echo"] = start_bare(workdir)
        started = time.perf_counter()
        servers["empty"] = start_processor(workdir, "empty", workdir / "empty.duckdb", FLEET_POLICY)
        servers["seeded"] = start_processor(
            workdir, "seeded", workdir / "seeded.duckdb", FLEET_POLICY
        )
        start_s = time.perf_counter() - started
        top = max(levels)
        pools = {name: Callers(s.endpoint, top) for name, s in servers.items()}
        for pool in pools.values():  # not timed: connections, first reads of every budget
            for caller in range(len(TEAMS)):
                pool.stubs[0].CheckBudget(budget_request(caller), timeout=120)
        for call in ("CheckBudget", "CheckRun"):
            for n in levels:
                samples: dict[str, list[dict]] = {name: [] for name in servers}
                for rep in range(reps):
                    names = list(servers) if rep % 2 == 0 else list(servers)[::-1]
                    for name in names:
                        samples[name].append(phase(pools[name], n, call, seconds))
                row = {name: summarize(s) for name, s in samples.items()}
                for name in ("empty", "seeded"):
                    row[name]["throughput_ratio"] = ratio(row[name]["per_s"], row["echo"]["per_s"])
                    row[name]["p99_ratio"] = ratio(row[name]["p99_ms"], row["echo"]["p99_ms"])
                row["seeded_over_empty_p99"] = ratio(
                    row["seeded"]["p99_ms"], row["empty"]["p99_ms"]
                )
                results[f"{call}@{n}"] = row
                print(
                    f"{call:<11} {n:>2} callers: "
                    + "; ".join(
                        f"{name} {row[name]['per_s']:,.0f}/s p50 {row[name]['p50_ms']:.1f} "
                        f"p99 {row[name]['p99_ms']:.1f} ms"
                        for name in servers
                    )
                    + f"; seeded/echo throughput {row['seeded']['throughput_ratio']}, "
                    f"p99 {row['seeded']['p99_ratio']}x; seeded/empty p99 "
                    f"{row['seeded_over_empty_p99']}x",
                    flush=True,
                )
        # the same on the seeded ledger while heartbeats arrive as fast as it takes them
        under_ingest: dict[str, dict] = {}
        base_ns, next_round = time.time_ns() - 12 * 3600 * SECOND, 0
        for call in ("CheckBudget", "CheckRun"):
            for n in levels:
                load = start_load(
                    servers["seeded"].endpoint,
                    senders=4,
                    runs=10_240,
                    base_ns=base_ns,
                    first_round=next_round,  # the same runs, heart-beating on
                )
                time.sleep(1.0)  # the senders are up and a batch is in flight
                got = phase(pools["seeded"], n, call, seconds * reps)
                ingest = stop_load(load)
                next_round += ingest["rounds_used"]
                got["ingest_spans_per_s"] = ingest["spans_per_s"]
                echo = results[f"{call}@{n}"]["echo"]
                got["p99_over_echo"] = ratio(got["p99_ms"], echo["p99_ms"])
                under_ingest[f"{call}@{n}"] = got
                print(
                    f"{call:<11} {n:>2} callers, seeded, under ingest "
                    f"({ingest['spans_per_s']:,.0f} spans/s): {got['per_s']:,.0f}/s "
                    f"p50 {got['p50_ms']} p99 {got['p99_ms']} ms",
                    flush=True,
                )
    finally:
        for pool in pools.values():
            pool.close()
        for server in servers.values():
            server.stop()
    write_result(
        "decisions",
        {
            "mode": mode,
            "seed": {**seed, "days": days, "runs": days * RUNS_PER_DAY, "note": seed_note},
            "processor_start_seconds": round(start_s, 1),
            "phase_seconds": seconds,
            "reps": reps,
            "levels": levels,
            "results": results,
            "under_ingest": under_ingest,
        },
        args.output,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

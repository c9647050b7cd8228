"""Fleet simulation: the most concurrent runs one processor keeps up with, in real time.

N synthetic runs of 20 teams heart-beat every 15 s, spread evenly over the interval, each
heartbeat followed by the run's mid-run check, as the instrumentation does: every 0.2 s the
heartbeat spans of the runs due in the next 0.2 s go out as one OTLP export (split at 512
spans; 4 senders, a collector's queue: a slow processor makes the queue, and the
acknowledgement lag, grow), and each run's ``CheckRun`` is sent at the run's own due time
(asynchronously, as independent clients would: no client-side queue). ``--arrivals
burst`` sends the checks of a 0.2 s tick all at its start instead, together with the
export, as this bench did before 2026-12-05: N/75 checks arrive at once, so the p99 it
measures is mostly the time to drain that burst (a fleet's independent clients do not
line up on a 0.2 s grid). The processor runs on the seeded ledger of the decisions
bench (``_seed.py``: a year of a 10,000-run/day fleet; ``--quick``: 7 days) with a daily
and a monthly enforced budget per team. The runs check without holds (``hold_id`` empty):
reserving N holds first would take N decisions before the fleet even starts.

Each step runs N for ``--seconds``, then waits for every answer; after a step that was not
held, the processor rests for one step's length without load before the next (the
backlog an overloaded step leaves, a large write-ahead log to checkpoint among it, is
that step's, not the next one's: the bisection goes down after a failure, which a fleet
growing in size never does). N is held when the
checks' p99 (issue to answer) is at most 100 ms, none failed, and the acknowledgement lag
(from a heartbeat's due time to its export's answer) stayed within one heartbeat (15 s).
A close call (p99 within 25 % of the 100 ms either side) is run up to twice more and
decided by the majority of its runs, so one noisy step decides nothing either way.
N doubles from ``--start`` until a step fails (or ``--max`` is reached); the full mode
then bisects twice between the last N held and the first that failed. Prints each step
and the largest N held. If the simulator itself fell behind its schedule, the step says
so (then the figure is a floor set by this client, not the processor).

Results go to ``bench/results/fleet.json``.

    .venv/bin/python bench/fleet.py [--quick] [--start N] [--max N] [--seconds S]
                                    [--arrivals spread|burst]
"""

from __future__ import annotations

import argparse
import os
import queue
import resource
import sys
import threading
import time
from pathlib import Path

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _seed import seeded_ledger  # noqa: E402
from _support import (  # noqa: E402
    FLEET_POLICY,
    HEARTBEAT_S,
    SECOND,
    TEAMS,
    percentile,
    scratch_dir,
    span_id,
    start_processor,
    write_result,
)

from genops import attributes as attr  # noqa: E402
from genops.governance.v1 import governance_pb2 as pb  # noqa: E402
from genops.governance.v1 import governance_pb2_grpc as pb_grpc  # noqa: E402

TICK_S = 0.2
BATCH = 512
SENDERS = 4
P99_LIMIT_MS = 100.0
CLOSE_CALL = 0.25  # a p99 this near the limit (either side) is decided by 2 of 3 runs
CHECK_TIMEOUT_S = 2.0  # the instrumentation's: a slower check fails open
RUNS_PER_DAY = 10_000


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


class Step:
    """One N: the schedule, the export queue, the checks in flight and what they took."""

    def __init__(self, traces, governance, n: int, tag: str, arrivals: str = "spread") -> None:
        self.traces, self.governance, self.n, self.tag = traces, governance, n, tag
        self.arrivals = arrivals
        self.exports: queue.Queue = queue.Queue()
        self.lock = threading.Lock()
        self.check_s: list[float] = []
        self.check_failed = 0
        self.ack_lag_s: list[float] = []
        self.export_failed = 0
        self.pending_checks = 0
        self.behind_s = 0.0
        self.compute_start = time.time_ns() - 3600 * SECOND

    def span(self, run: int, beat: int, as_of: int) -> trace_pb2.Span:
        run_id = f"{self.tag}{run:06d}"
        values = {
            attr.TEAM: TEAMS[run % len(TEAMS)],
            attr.PROJECT: f"proj-{run % 7}",
            attr.WANDB_RUN_ID: run_id,
            attr.RUN_STATUS: "running",
            attr.RUN_SEQUENCE: beat,
            attr.RUN_COMPUTE_START_NS: self.compute_start,
            attr.USAGE_AS_OF_NS: as_of,
            attr.HW_GPU_TYPE: "T4",
            attr.HW_GPU_COUNT: 1,
            attr.HW_CPU_COUNT: 4,
        }
        return trace_pb2.Span(
            trace_id=(run_id.encode() + b"\0" * 16)[:16],
            span_id=span_id(),
            name=attr.SPAN_HEARTBEAT,
            start_time_unix_nano=as_of,
            end_time_unix_nano=as_of,
            attributes=[_kv(k, v) for k, v in values.items()],
        )

    def request(self, run: int, as_of: int) -> pb.CheckRunRequest:
        return pb.CheckRunRequest(
            scope=pb.Scope(team=TEAMS[run % len(TEAMS)], project=f"proj-{run % 7}"),
            run_id=f"{self.tag}{run:06d}",
            next_check_ns=HEARTBEAT_S * SECOND,
            usage=pb.RunSnapshot(
                compute_start_ns=self.compute_start,
                as_of_ns=as_of,
                gpu_type="T4",
                gpu_count=1,
                cpu_count=4,
            ),
        )

    def check(self, run: int, as_of: int) -> None:
        request = self.request(run, as_of)
        issued = time.perf_counter()
        future = self.governance.CheckRun.future(request, timeout=CHECK_TIMEOUT_S)
        with self.lock:
            self.pending_checks += 1

        def done(f) -> None:
            took = time.perf_counter() - issued
            with self.lock:
                self.pending_checks -= 1
                if f.exception() is None:
                    self.check_s.append(took)
                else:
                    self.check_failed += 1

        future.add_done_callback(done)

    def sender(self) -> None:
        while True:
            item = self.exports.get()
            if item is None:
                return
            due, request = item
            try:
                self.traces.Export(request, timeout=120)
                lag = time.perf_counter() - due
                with self.lock:
                    self.ack_lag_s.append(lag)
            except grpc.RpcError:
                with self.lock:
                    self.export_failed += 1

    def run(self, seconds: float) -> dict:
        senders = [threading.Thread(target=self.sender, daemon=True) for _ in range(SENDERS)]
        for thread in senders:
            thread.start()
        start = time.perf_counter()
        period = HEARTBEAT_S
        ticks = int(seconds / TICK_S)
        beats = 0
        for tick in range(ticks):
            t0 = start + tick * TICK_S
            now = time.perf_counter()
            if now < t0:
                time.sleep(t0 - now)
            else:
                self.behind_s = max(self.behind_s, now - t0)
            # runs due in [t0 - start, t0 - start + TICK_S): run j is due at j*period/N + k*period
            lo, hi = tick * TICK_S, (tick + 1) * TICK_S
            due_runs = []  # (run, beat, due: seconds after start), in due order
            for k in range(int(lo // period), int(hi // period) + 1):
                first = max(0, int(-(-(lo - k * period) * self.n // period)))
                last = min(self.n, int(-(-(hi - k * period) * self.n // period)))
                due_runs += [
                    (j, k + 1, k * period + j * period / self.n) for j in range(first, last)
                ]
            if not due_runs:
                continue
            as_of = time.time_ns()
            spans = [self.span(j, beat, as_of) for j, beat, _ in due_runs]
            for i in range(0, len(spans), BATCH):
                request = trace_service_pb2.ExportTraceServiceRequest(
                    resource_spans=[
                        trace_pb2.ResourceSpans(
                            scope_spans=[trace_pb2.ScopeSpans(spans=spans[i : i + BATCH])]
                        )
                    ]
                )
                self.exports.put((t0, request))
            for j, _, due in due_runs:
                if self.arrivals == "spread":  # at the run's own time in the tick
                    wait = start + due - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)
                    else:
                        self.behind_s = max(self.behind_s, -wait)
                self.check(j, as_of)
            beats += len(due_runs)
        # every answer, or give up one heartbeat after the last was due
        deadline = time.perf_counter() + HEARTBEAT_S + CHECK_TIMEOUT_S
        for _ in senders:
            self.exports.put(None)
        for thread in senders:
            thread.join(timeout=max(0.0, deadline - time.perf_counter()))
        while time.perf_counter() < deadline:
            with self.lock:
                if self.pending_checks == 0:
                    break
            time.sleep(0.05)
        unanswered_exports = sum(thread.is_alive() for thread in senders)
        verdict = self.verdict(beats, seconds, unanswered_exports)
        # a step that failed leaves a backlog: it drains before the next step starts
        for thread in senders:
            thread.join(timeout=600)
        while self.pending_checks:
            time.sleep(0.05)
        return verdict

    def verdict(self, beats: int, seconds: float, unanswered_exports: int) -> dict:
        with self.lock:
            checks = list(self.check_s)
            failed = self.check_failed + self.pending_checks
            lags = list(self.ack_lag_s)
            export_failed = self.export_failed + unanswered_exports
        p99 = 1000 * percentile(checks, 99) if checks else None
        lag99 = percentile(lags, 99) if lags else None
        lag_max = max(lags) if lags else None
        held = (
            p99 is not None
            and p99 <= P99_LIMIT_MS
            and failed == 0
            and export_failed == 0
            and lag_max is not None
            and lag_max <= HEARTBEAT_S
        )
        return {
            "runs": self.n,
            "seconds": seconds,
            "heartbeats": beats,
            "checks_per_s": round(beats / seconds, 1),
            "check_p50_ms": round(1000 * percentile(checks, 50), 1) if checks else None,
            "check_p99_ms": round(p99, 1) if p99 is not None else None,
            "checks_failed": failed,
            "ack_lag_p99_s": round(lag99, 3) if lag99 is not None else None,
            "ack_lag_max_s": round(lag_max, 3) if lag_max is not None else None,
            "exports_failed": export_failed,
            "simulator_behind_s": round(self.behind_s, 2),
            "held": held,
        }


def _cpu_now(processor) -> tuple[float, float, float, float]:
    """(wall, processor CPU s, this simulator's CPU s, the machine's busy CPU s)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    busy = (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")
    return (
        time.perf_counter(),
        processor.cpu_seconds(),
        usage.ru_utime + usage.ru_stime,
        busy,
    )


def _cpu_shares(before: tuple, after: tuple) -> dict:
    """Cores each used on average over a step: the processor, the simulator (its own
    gRPC clients and span building run on the same machine) and the whole machine. A
    machine near all its cores busy is a step where the two compete."""
    wall = after[0] - before[0]
    cores = [round((a - b) / wall, 2) for a, b in zip(after[1:], before[1:], strict=True)]
    return {
        "processor_cores": cores[0],
        "simulator_cores": cores[1],
        "machine_cores": cores[2],
        "cores": os.cpu_count(),
    }


def _close_call(step: dict) -> bool:
    """The step's p99 is near enough the limit that another run could decide otherwise."""
    p99 = step["check_p99_ms"]
    return p99 is not None and abs(p99 - P99_LIMIT_MS) <= CLOSE_CALL * P99_LIMIT_MS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short steps, 7 seeded days")
    parser.add_argument("--start", type=int, default=None, help="first N")
    parser.add_argument("--max", type=int, default=None, help="largest N tried")
    parser.add_argument("--seconds", type=float, default=None, help="one step")
    parser.add_argument("--days", type=int, default=None, help="days of seeded history")
    parser.add_argument(
        "--arrivals",
        choices=("spread", "burst"),
        default="spread",
        help="checks at each run's due time (default), or a 0.2 s tick's all at its start",
    )
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    seconds = args.seconds or (5.0 if args.quick else 30.0)
    first = args.start or (2_000 if args.quick else 125)  # quick: the small steps always hold
    largest = args.max or (8_000 if args.quick else 40_000)
    days = args.days or (7 if args.quick else 365)
    mode = "quick" if args.quick else "full"
    print(
        f"fleet ({mode}): steps of {seconds:g} s, heartbeat {HEARTBEAT_S} s, seeded ledger "
        f"{days} days x {RUNS_PER_DAY:,} runs/day, checks {args.arrivals}"
        + (" (quick mode: smaller seed, shorter steps)" if args.quick else ""),
        flush=True,
    )
    workdir = scratch_dir("genops-bench-fleet-")
    seed = seeded_ledger(RUNS_PER_DAY, days, workdir / "ledger.duckdb")
    processor = start_processor(workdir, "processor", workdir / "ledger.duckdb", FLEET_POLICY)
    steps: list[dict] = []
    try:
        channel = grpc.insecure_channel(processor.endpoint)
        traces = trace_service_pb2_grpc.TraceServiceStub(channel)
        governance = pb_grpc.GovernanceServiceStub(channel)
        warm = Step(traces, governance, len(TEAMS), "warm")
        for team in range(len(TEAMS)):  # not timed: first reads of every team's budgets
            governance.CheckRun(warm.request(team, time.time_ns()), timeout=120)

        def attempt(n: int) -> bool:
            runs = [once(n)]
            if _close_call(runs[0]):  # decided by the first two runs that agree
                runs.append(once(n))
                if runs[1]["held"] != runs[0]["held"]:
                    runs.append(once(n))
            return sum(r["held"] for r in runs) * 2 > len(runs)

        rest = [0.0]  # seconds of rest before the next step

        def once(n: int) -> dict:
            if rest[0]:  # an overloaded step's aftermath is not the next step's load
                time.sleep(rest[0])
            cpu = _cpu_now(processor)
            got = Step(traces, governance, n, f"f{len(steps)}r", args.arrivals).run(seconds)
            got.update(_cpu_shares(cpu, _cpu_now(processor)))
            got["rested_s"], rest[0] = rest[0], 0.0 if got["held"] else seconds
            steps.append(got)
            behind = (
                f"; simulator behind by {got['simulator_behind_s']} s"
                if got["simulator_behind_s"] > 1
                else ""
            )
            print(
                f"N={n:>6,}: {got['checks_per_s']:>7,.1f} checks/s, check p50 "
                f"{got['check_p50_ms']} p99 {got['check_p99_ms']} ms, {got['checks_failed']} "
                f"failed; ack lag p99 {got['ack_lag_p99_s']} s, max {got['ack_lag_max_s']} s"
                f"; cores busy: processor {got['processor_cores']}, simulator "
                f"{got['simulator_cores']}, machine {got['machine_cores']} of {got['cores']}"
                f" -> {'held' if got['held'] else 'NOT held'}{behind}",
                flush=True,
            )
            return got

        held, failed, n = 0, None, first
        while n <= largest:
            if not attempt(n):
                failed = n
                break
            held, n = n, n * 2
        if not args.quick and failed is not None and held:
            for _ in range(2):
                middle = (held + failed) // 2
                if attempt(middle):
                    held = middle
                else:
                    failed = middle
    finally:
        processor.stop()
    print(
        f"largest N held: {held:,} concurrent runs"
        + (f" (first failing: {failed:,})" if failed else f" (none failed up to {largest:,})"),
        flush=True,
    )
    write_result(
        "fleet",
        {
            "mode": mode,
            "seed": {**seed, "days": days, "runs": days * RUNS_PER_DAY},
            "step_seconds": seconds,
            "rest_after_failure": True,  # one step's length without load
            "arrivals": args.arrivals,
            "heartbeat_s": HEARTBEAT_S,
            "p99_limit_ms": P99_LIMIT_MS,
            "largest_held": held,
            "first_failed": failed,
            "max_tried": largest,
            "steps": steps,
        },
        args.output,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

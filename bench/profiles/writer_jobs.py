"""Where the writer's time goes: budget decisions beside full-speed ingest, every writer
job, journal apply and (``--statements``) SQL statement timed inside the processor.

Not a benchmark with a baseline: a profile that explains the decisions bench's "under
ingest" figures. Starts ``genops-processor`` on a copy of the decisions bench's seeded
ledger (``_seed.py``: a year of a 10,000-run/day fleet; ``--days`` fewer) through this
file's ``--serve`` mode, which times what the writer thread runs and writes it out when
the processor stops. ``--callers`` callers send ``CheckBudget`` (or ``--call CheckRun``)
back to back, alone for a few seconds, then beside ``_load.py`` ingest (``--senders``
senders, new runs) for ``--seconds``. ``--holds-first S`` first sends S seconds of
``CheckBudget`` from 32 callers (each leaves a hold, as the decisions bench's earlier
phases do), and ``--hold-timeout`` sets how soon silent holds expire. Prints the calls'
p50/p99 in both phases and, for the ingest phase, per kind of writer job: how many,
their wait in the queue, their run time (p50/p99/max) and total. ``--job-spans N`` and
``--deciding-spans N`` and ``--expire-step N`` set ``INGEST_JOB_MAX_SPANS``,
``INGEST_JOB_SPANS_DECIDING`` and ``EXPIRE_STEP_HOLDS`` for the run;
``--no-span-ids-kept`` sets ``SPAN_IDS_KEPT_MAX`` to 0 (the duplicate check as before
storage/stored_span_ids.py).

    .venv/bin/python bench/profiles/writer_jobs.py [--callers 8] [--seconds 12] [--statements]
        [--longest N]
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/

PROFILE_ENV = "GENOPS_WRITER_PROFILE"  # --serve: where the timings go at exit


def serve(argv: list[str]) -> int:
    """genops-processor with the writer's jobs, journal applies and statements timed."""
    from _support import time_calls

    from genops_processor.cli import processor_main
    from genops_processor.ingest import group_commit
    from genops_processor.storage import journal, writer

    timed: list[tuple[float, str, float, float]] = []  # (wall time, kind, wait, run)
    if os.environ.get("GENOPS_PROFILE_EXPIRE_STEP"):
        from genops_processor import service

        service.EXPIRE_STEP_HOLDS = int(os.environ["GENOPS_PROFILE_EXPIRE_STEP"])
    if os.environ.get("GENOPS_PROFILE_JOB_SPANS"):  # max_spans, deciding_spans
        group_commit.IngestQueue.__init__.__defaults__ = tuple(
            int(n) for n in os.environ["GENOPS_PROFILE_JOB_SPANS"].split(",")
        )

    if os.environ.get("GENOPS_PROFILE_NO_SPAN_IDS"):
        from genops_processor.storage import stored_span_ids

        stored_span_ids.SPAN_IDS_KEPT_MAX = 0  # every batch's duplicate check reads the ledger
    submit = writer.Storage.submit

    def timed_submit(self, fn, priority=writer.Priority.NORMAL, group=False):
        queued = time.perf_counter()
        kind = f"job {getattr(fn, '__qualname__', type(fn).__name__)} ({priority.name})"

        def job(conn):
            started = time.perf_counter()
            try:
                return fn(conn)
            finally:
                timed.append((time.time(), kind, started - queued, time.perf_counter() - started))

        return submit(self, job, priority, group)

    writer.Storage.submit = timed_submit

    def record(label: str, seconds: float) -> None:
        timed.append((time.time(), label, 0.0, seconds))

    time_calls(
        journal.Journal,
        "apply",
        lambda j, _: "journal apply" if j.pending_rows else None,
        record,
    )
    if os.environ.get("GENOPS_PROFILE_STATEMENTS"):
        time_calls(
            writer.Connection,
            "execute",
            lambda _, a: "SQL " + " ".join(str(a[0]).split())[:70],
            record,
        )
        time_calls(writer.Connection, "commit", "SQL commit", record)

    @atexit.register
    def dump() -> None:
        Path(os.environ[PROFILE_ENV]).write_text(json.dumps(timed))

    sys.argv = ["genops-processor", *argv]
    return processor_main()


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(1e3 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=int, default=8)
    parser.add_argument("--call", default="CheckBudget", choices=["CheckBudget", "CheckRun"])
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=12.0, help="the ingest phase")
    parser.add_argument("--days", type=int, default=365, help="days of seeded history")
    parser.add_argument("--job-spans", type=int, default=None, help="INGEST_JOB_MAX_SPANS")
    parser.add_argument(
        "--deciding-spans", type=int, default=None, help="INGEST_JOB_SPANS_DECIDING"
    )
    parser.add_argument("--expire-step", type=int, default=None)
    parser.add_argument("--statements", action="store_true", help="time each SQL statement")
    parser.add_argument(
        "--longest",
        type=int,
        default=0,
        help="also list the N longest writer events of the ingest phase, in time order",
    )
    parser.add_argument(
        "--holds-first",
        type=float,
        default=0.0,
        help="seconds of CheckBudget at 32 callers first (each leaves a hold)",
    )
    parser.add_argument("--hold-timeout", type=float, default=None, help="the processor's")
    parser.add_argument(
        "--no-span-ids-kept",
        action="store_true",
        help="SPAN_IDS_KEPT_MAX 0: ingest's duplicate check joins every stored span",
    )
    args = parser.parse_args()

    import decisions
    from _seed import seeded_ledger
    from _support import FLEET_POLICY, SECOND, Server, scratch_dir, start_load, stop_load

    workdir = scratch_dir("genops-writer-profile-")
    db = workdir / "ledger.duckdb"
    seeded_ledger(decisions.RUNS_PER_DAY, args.days, db)
    (workdir / "policy.yaml").write_text(FLEET_POLICY)
    profile = workdir / "profile.json"
    os.environ[PROFILE_ENV] = str(profile)
    if args.job_spans or args.deciding_spans:
        from genops_processor import limits

        sizes = (
            args.job_spans or limits.INGEST_JOB_MAX_SPANS,
            args.deciding_spans or limits.INGEST_JOB_SPANS_DECIDING,
        )
        os.environ["GENOPS_PROFILE_JOB_SPANS"] = ",".join(map(str, sizes))
    if args.expire_step:
        os.environ["GENOPS_PROFILE_EXPIRE_STEP"] = str(args.expire_step)
    if args.statements:
        os.environ["GENOPS_PROFILE_STATEMENTS"] = "1"
    if args.no_span_ids_kept:
        os.environ["GENOPS_PROFILE_NO_SPAN_IDS"] = "1"
    command = [sys.executable, __file__, "--serve", "--db", str(db), "--listen", "127.0.0.1:0"]
    command += ["--policy", str(workdir / "policy.yaml")]
    if args.hold_timeout is not None:
        command += ["--hold-timeout", f"{args.hold_timeout:g}"]
    server = Server(command, workdir / "log", "p")
    callers = decisions.Callers(server.endpoint, args.callers)
    try:
        if args.holds_first:
            many = decisions.Callers(server.endpoint, 32)
            try:
                made = decisions.phase(many, 32, "CheckBudget", args.holds_first)
                print(f"holds first: {made['per_s'] * args.holds_first:,.0f}", flush=True)
            finally:
                many.close()
        decisions.phase(callers, args.callers, args.call, 2.0)  # warm
        alone = decisions.phase(callers, args.callers, args.call, 4.0)
        load = start_load(
            server.endpoint,
            senders=args.senders,
            runs=10_240,
            base_ns=time.time_ns() - 12 * 3600 * SECOND,
            first_round=0,
        )
        time.sleep(2.0)
        began = time.time()
        under = decisions.phase(callers, args.callers, args.call, args.seconds)
        ended = time.time()
        ingest = stop_load(load)
    finally:
        callers.close()
        server.stop()  # SIGTERM: the processor stops cleanly and writes the profile
    print(
        f"{args.call}, {args.callers} callers: alone p50 {alone['p50_ms']} p99 "
        f"{alone['p99_ms']} ms; beside ingest ({ingest['spans_per_s']:,.0f} spans/s, "
        f"{args.senders} senders) {under['per_s']:,.0f}/s p50 {under['p50_ms']} p99 "
        f"{under['p99_ms']} ms"
    )
    kinds: dict[str, list[tuple[float, float]]] = defaultdict(list)
    events = [e for e in json.loads(profile.read_text()) if began <= e[0] <= ended]
    for _, kind, wait, run in events:
        kinds[kind].append((wait, run))
    print(f"writer during the ingest phase ({args.seconds:g} s):")
    for kind, each in sorted(kinds.items(), key=lambda kv: -sum(r for _, r in kv[1])):
        waits, runs = [w for w, _ in each], [r for _, r in each]
        print(
            f"  {kind[:78]:78s} n {len(each):5d}  wait p50 {_quantile(waits, 0.5):6.1f} p99 "
            f"{_quantile(waits, 0.99):6.1f}  run p50 {_quantile(runs, 0.5):6.1f} p99 "
            f"{_quantile(runs, 0.99):6.1f} max {_quantile(runs, 1.0):7.1f} ms  total "
            f"{sum(runs):5.2f} s"
        )
    if args.longest:
        print(f"the {args.longest} longest, by when they ended (s into the phase):")
        for at, kind, _, run in sorted(sorted(events, key=lambda e: -e[3])[: args.longest]):
            print(f"  {at - began:6.2f} s  {1e3 * run:7.1f} ms  {kind[:90]}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        sys.exit(serve(sys.argv[2:]))
    sys.exit(main())

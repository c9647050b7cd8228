"""OTLP ingest: heartbeat spans per second acknowledged, the processor against a bare receiver.

Starts a ``genops-processor`` (a fresh DuckDB file, one daily and one monthly budget per
team) and the bare baseline (``_bare.py``: a grpc.aio TraceService with the same server
options that parses each request and discards it). Heartbeats come from ``_load.py`` in
its own process: requests of 512 spans (a collector's batch) from 10,240 runs of 20
teams, each run's usage advancing one heartbeat per round, every span new. For 1, 4 and
16 concurrent senders it alternates bare and processor phases of a fixed time and prints
the median spans/s acknowledged (the processor answers after the commit), the ratio,
the processor's acknowledgement p50/p99 and its CPU per span. Then it keeps sending (4
senders) until the processor holds ``--spans`` spans (or ``--cap-seconds`` pass) and
reports its RSS, and the DuckDB bytes per million spans (the file after the processor's
checkpoint at shutdown).

Results go to ``bench/results/ingest.json``.

    .venv/bin/python bench/ingest.py [--quick] [--levels 1,4,16] [--spans N] [--output FILE]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import (  # noqa: E402
    FLEET_POLICY,
    median,
    ratio,
    run_load,
    scratch_dir,
    start_bare,
    start_processor,
    write_result,
)

RUNS = 10_240
BATCH = 512
RSS_SENDERS = 4


def db_bytes(db: Path) -> int:
    wal = db.with_name(db.name + ".wal")
    return db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short phases, 100,000 spans")
    parser.add_argument("--levels", default="1,4,16", help="concurrent senders")
    parser.add_argument("--reps", type=int, default=None, help="phases per side and level")
    parser.add_argument("--seconds", type=float, default=None, help="one phase")
    parser.add_argument("--spans", type=int, default=None, help="spans held for the RSS figure")
    parser.add_argument("--cap-seconds", type=float, default=None)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    reps = args.reps or (2 if args.quick else 3)
    seconds = args.seconds or (1.0 if args.quick else 8.0)
    target = args.spans or (100_000 if args.quick else 1_000_000)
    cap = args.cap_seconds or (10.0 if args.quick else 900.0)
    levels = [int(n) for n in args.levels.split(",")]
    mode = "quick" if args.quick else "full"
    print(f"ingest ({mode}): {reps} x {seconds:g} s phases per side, levels {levels}", flush=True)

    workdir = scratch_dir("genops-bench-ingest-")
    db = workdir / "ledger.duckdb"
    bare = processor = None
    rows, next_round, held = [], 0, 0
    base_ns = time.time_ns() - 12 * 3600 * 10**9
    try:
        bare = start_bare(workdir)
        processor = start_processor(workdir, "processor", db, FLEET_POLICY)
        for senders in levels:
            phases: dict[str, list[dict]] = {"bare": [], "processor": []}
            cpu = []
            for rep in range(reps):
                order = ("bare", "processor") if rep % 2 == 0 else ("processor", "bare")
                for side in order:
                    if side == "bare":
                        phases["bare"].append(
                            run_load(bare.endpoint, senders=senders, seconds=seconds, batch=BATCH)
                        )
                        continue
                    before = processor.cpu_seconds()
                    got = run_load(
                        processor.endpoint,
                        senders=senders,
                        seconds=seconds,
                        batch=BATCH,
                        runs=RUNS,
                        base_ns=base_ns,
                        first_round=next_round,
                    )
                    next_round += got["rounds_used"]
                    held += got["spans_acked"]
                    if got["spans_acked"]:
                        cpu.append((processor.cpu_seconds() - before) / got["spans_acked"])
                    phases["processor"].append(got)
            ours = phases["processor"]
            row = {
                "senders": senders,
                "bare_spans_per_s": median([p["spans_per_s"] for p in phases["bare"]]),
                "processor_spans_per_s": median([p["spans_per_s"] for p in phases["processor"]]),
                "processor_ack_p50_ms": median([p["ack"]["p50_ms"] or 0 for p in ours]),
                "processor_ack_p99_ms": median([p["ack"]["p99_ms"] or 0 for p in ours]),
                "bare_ack_p50_ms": median([p["ack"]["p50_ms"] or 0 for p in phases["bare"]]),
                "processor_cpu_us_per_span": round(1e6 * median(cpu), 1) if cpu else None,
                "rejected_spans": sum(p["spans_rejected"] for p in phases["processor"]),
                "failed_requests": sum(p["requests_failed"] for p in phases["processor"]),
                "phases": phases,
            }
            row["ratio"] = ratio(row["processor_spans_per_s"], row["bare_spans_per_s"])
            rows.append(row)
            print(
                f"{senders:>3} senders: processor {row['processor_spans_per_s']:>9,.0f} spans/s "
                f"(ack p50 {row['processor_ack_p50_ms']:.0f} ms, p99 "
                f"{row['processor_ack_p99_ms']:.0f} ms, {row['processor_cpu_us_per_span']} µs "
                f"CPU/span), bare {row['bare_spans_per_s']:>9,.0f} spans/s, "
                f"ratio {row['ratio']}",
                flush=True,
            )
        bare.stop()
        started = time.perf_counter()
        if held < target:
            got = run_load(
                processor.endpoint,
                senders=RSS_SENDERS,
                seconds=cap,
                max_spans=target - held,
                batch=BATCH,
                runs=RUNS,
                base_ns=base_ns,
                first_round=next_round,
            )
            held += got["spans_acked"]
        fill_s = time.perf_counter() - started
        memory = processor.memory()
        live_bytes = db_bytes(db)
        processor.stop()
        stored_bytes = db_bytes(db)
    finally:
        for server in (bare, processor):
            if server is not None:
                server.stop()
    reached = held >= target
    per_million = stored_bytes * 1_000_000 / held if held else None
    print(
        f"after {held:,} spans{'' if reached else f' (target {target:,}: cap of {cap:g} s)'}: "
        f"RSS {memory['VmRSS'] / 2**20:.0f} MiB (peak {memory['VmHWM'] / 2**20:.0f} MiB); "
        f"DuckDB {per_million / 2**20:.1f} MiB per million spans"
        if per_million
        else "",
        flush=True,
    )
    write_result(
        "ingest",
        {
            "mode": mode,
            "phase_seconds": seconds,
            "reps": reps,
            "batch": BATCH,
            "runs": RUNS,
            "levels": rows,
            "rss": {
                "spans_held": held,
                "target_spans": target,
                "target_reached": reached,
                "fill_seconds": round(fill_s, 1),
                "rss_bytes": memory["VmRSS"],
                "peak_rss_bytes": memory["VmHWM"],
                "db_bytes_live": live_bytes,
                "db_bytes_after_checkpoint": stored_bytes,
                "db_bytes_per_million_spans": round(per_million) if per_million else None,
            },
        },
        args.output,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

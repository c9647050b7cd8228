"""Ledger bytes per million heartbeat spans, before and after compaction.

Builds a ledger through the processor's own ingest (``ingest_batch`` on a real DuckDB file,
the schema the processor writes): ``--runs`` runs of one team-mix, each sending
``--spans / --runs`` cumulative heartbeats (23 attributes, about 830 bytes of JSON, like
the instrumentation's) and a final run span. Then it compacts every span (the
raw-content window set to zero) in the processor's bounded steps, checkpoints, rewrites
the file as ``genops ledger compact`` does, and compares:

* bytes of the DuckDB file per million spans: before, after compaction in place (DuckDB
  keeps the freed blocks for reuse, so the file does not shrink yet) and after the
  rewrite (what the ledger occupies);
* bytes per run-day: one run heart-beating every 15 s for a day (5,760 spans);
* the report (every run's state and cost) before and after: they must be equal;
* one batch ingested again after compaction: nothing new stored.

Results go to ``bench/results/ledger_size.json``.

    .venv/bin/python bench/ledger_size.py [--spans N] [--runs R] [--db PATH]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from genops import attributes as attr  # noqa: E402
from genops_processor import storage as store  # noqa: E402
from genops_processor.domain import (  # noqa: E402
    Batch,
    HardwareUse,
    RunUsage,
    Scope,
    SpanRecord,
    UsageEvent,
)
from genops_processor.ingest import ingest_batch  # noqa: E402
from genops_processor.pricing import Catalog, CatalogSource  # noqa: E402

SECOND = 10**9
HEARTBEAT_S = 15
SPANS_PER_RUN_DAY = 24 * 3600 // HEARTBEAT_S
START_NS = 1_764_000_000 * SECOND
TEAMS = [f"team-{i:02d}" for i in range(20)]


def attributes(run: int, seq: int, team: str) -> str:
    """A heartbeat's attributes as the decoder stores them (23 keys, ~830 bytes)."""
    return json.dumps(
        {
            attr.RUN_KEY: f"run{run:07d}abcdefgh:{run:08x}deadbeef",
            attr.WANDB_RUN_ID: f"run{run:07d}abcdefgh",
            attr.WANDB_RUN_NAME: f"sweep-{run % 97}-trial-{run}",
            attr.WANDB_PROJECT: f"project-{run % 40}",
            attr.WANDB_MODE: "online",
            attr.TEAM: team,
            attr.PROJECT: f"project-{run % 40}",
            attr.CUSTOMER_ID: f"customer-{run % 300}",
            attr.COST_CENTER: f"cc-{run % 10}",
            attr.ENVIRONMENT: "production",
            attr.RUN_STATUS: "running",
            attr.RUN_SEQUENCE: seq,
            attr.RUN_COMPUTE_START_NS: START_NS,
            attr.USAGE_AS_OF_NS: START_NS + seq * HEARTBEAT_S * SECOND,
            attr.USAGE_LOG_CALLS: seq * 40,
            attr.USAGE_ARTIFACT_BYTES: seq * 1_048_576,
            attr.USAGE_ARTIFACT_FILES: seq,
            attr.USAGE_ARTIFACT_COUNT: seq // 10,
            attr.HW_GPU_TYPE: "A100-80GB",
            attr.HW_GPU_COUNT: 8,
            attr.HW_CPU_COUNT: 96,
            attr.HW_INSTANCE_TYPE: "p4de.24xlarge",
            attr.METRICS_LAST: json.dumps(
                {"loss": 0.1234567, "accuracy": 0.9876543, "lr": 0.0003, "epoch": seq}
            ),
        }
    )


def events_of(run: int, spans: int) -> list[UsageEvent]:
    team = TEAMS[(run * 7) % len(TEAMS)]
    ids = random.Random(run)  # random ids, as OTLP's are (sequential ones would compress)
    trace = f"{ids.getrandbits(128):032x}"
    out = []
    for seq in range(spans):
        final = seq == spans - 1
        as_of = START_NS + seq * HEARTBEAT_S * SECOND
        out.append(
            UsageEvent(
                span=SpanRecord(
                    trace,
                    f"{ids.getrandbits(64):016x}",
                    "run" if final else "heartbeat",
                    "wandb.run" if final else "wandb.run.heartbeat",
                    f"run{run:07d}",
                    START_NS,
                    as_of,
                    attributes(run, seq, team),
                ),
                run_id=f"run{run:07d}",
                run_name=f"trial-{run}",
                wandb_project=f"project-{run % 40}",
                scope=Scope(team=team, project=f"project-{run % 40}"),
                hardware=HardwareUse(gpu_type="T4", gpu_count=2, cpu_count=4),
                usage=RunUsage(compute_start_ns=START_NS, as_of_ns=as_of, log_calls=seq * 40),
                status="finished" if final else "running",
                final=final,
            )
        )
    return out


def report(storage: store.Storage) -> list[tuple]:
    return storage.call(
        lambda conn: conn.execute(
            "SELECT run_key, team, status, log_calls, as_of_ns, cost_micros FROM runs ORDER BY 1"
        ).fetchall()
    )


def file_bytes(storage: store.Storage, path: Path) -> int:
    storage.call(lambda conn: conn.execute("CHECKPOINT"))
    return path.stat().st_size + (
        path.with_suffix(path.suffix + ".wal").stat().st_size
        if path.with_suffix(path.suffix + ".wal").exists()
        else 0
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--batch-runs", type=int, default=50, help="runs per ingest batch")
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=REPO / "bench/results/ledger_size.json")
    args = parser.parse_args()
    per_run = max(2, args.spans // args.runs)
    total = per_run * args.runs
    workdir = Path(tempfile.mkdtemp(prefix="genops-ledger-size-"))
    path = args.db or workdir / "ledger.duckdb"
    catalogs = CatalogSource(Catalog.load(REPO / "tests/data/catalog-round.yaml"))
    storage = store.Storage(path).open()
    try:
        started = time.perf_counter()
        for first in range(0, args.runs, args.batch_runs):
            events = [
                e
                for run in range(first, min(args.runs, first + args.batch_runs))
                for e in events_of(run, per_run)
            ]
            storage.call(
                lambda conn, ev=events: ingest_batch(conn, Batch(usage=tuple(ev)), catalogs)
            )
            if first and first % (args.runs // 10 or 1) < args.batch_runs:
                print(f"  ingested {first * per_run:>9,} spans", flush=True)
        ingest_s = time.perf_counter() - started
        before_bytes = file_bytes(storage, path)
        before_report = report(storage)

        started = time.perf_counter()
        cutoff = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
        compacted, steps = 0, 0
        while (moved := storage.call(lambda conn: store.compact_step(conn, cutoff))) > 0:
            compacted += moved
            steps += 1
        compact_s = time.perf_counter() - started
        in_place_bytes = file_bytes(storage, path)
        after_report = report(storage)
        rewritten = workdir / "rewritten.duckdb"
        storage.call(lambda conn: store.copy_ledger(conn, str(rewritten)))
        after_bytes = rewritten.stat().st_size
        again = storage.call(
            lambda conn: ingest_batch(conn, Batch(usage=tuple(events_of(0, per_run))), catalogs)
        )
        raw, ids = storage.call(store.span_counts)
    finally:
        storage.close()
        if args.db is None:
            for leftover in workdir.iterdir():
                leftover.unlink()
            workdir.rmdir()

    million = 1_000_000 / total
    result = {
        "spans": total,
        "runs": args.runs,
        "spans_per_run": per_run,
        "ingest_seconds": round(ingest_s, 1),
        "ingest_spans_per_second": round(total / ingest_s),
        "compaction_seconds": round(compact_s, 1),
        "compaction_steps": steps,
        "compacted_spans": compacted,
        "bytes_before": before_bytes,
        "bytes_after_in_place": in_place_bytes,
        "bytes_after": after_bytes,
        "mib_per_million_spans_before": round(before_bytes * million / 2**20, 1),
        "mib_per_million_spans_in_place": round(in_place_bytes * million / 2**20, 1),
        "mib_per_million_spans_after": round(after_bytes * million / 2**20, 1),
        "kib_per_run_day_before": round(before_bytes / total * SPANS_PER_RUN_DAY / 1024, 1),
        "kib_per_run_day_after": round(after_bytes / total * SPANS_PER_RUN_DAY / 1024, 1),
        "ratio_after_to_before": round(after_bytes / before_bytes, 3),
        "report_unchanged": before_report == after_report,
        "resent_batch_new_spans": again.new_spans,
        "raw_spans_left": raw,
        "span_ids": ids,
    }
    print(f"{total:,} spans of {args.runs:,} runs ({per_run} each)")
    print(f"ingest: {ingest_s:.0f} s ({result['ingest_spans_per_second']:,} spans/s, direct)")
    print(
        f"ledger: {result['mib_per_million_spans_before']} MiB per million spans before, "
        f"{result['mib_per_million_spans_in_place']} compacted in place (freed blocks kept for "
        f"reuse), {result['mib_per_million_spans_after']} rewritten "
        f"(ratio {result['ratio_after_to_before']}); per run-day "
        f"{result['kib_per_run_day_before']} KiB -> {result['kib_per_run_day_after']} KiB"
    )
    print(
        f"compaction: {compacted:,} spans in {steps} steps, {compact_s:.1f} s; report unchanged: "
        f"{result['report_unchanged']}; a re-sent batch stored {again.new_spans} new span(s)"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    ok = result["report_unchanged"] and again.new_spans == 0 and raw == 0 and ids == total
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())

"""The long mode of the property-based ingest test: ``make fuzz``.

Runs ``tests/fuzz`` in one pytest process per CPU (each with its own processor
subprocess and ledger, so the shards use every core), splits the examples between
them, relays their output, prints the summed progress (examples so far, examples a
second, failures) as it goes and a summary line at the end, and writes the figures
to ``bench/results/fuzz.json`` (``--results``). Exits 1 when any shard failed.

    .venv/bin/python scripts/fuzz.py [--examples N] [--shards K] [--ledger-every N]
        [--restart-every N] [--progress-every N] [--per-request N] [--results FILE]
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "fuzz.json"
FIGURES = "fuzz figures: "
PROGRESS = "fuzz: "
# figures summed over the shards (a shard's line also has its own seconds and rate)
COUNTS = (
    "examples", "failures", "requests", "spans", "rejected", "runs_checked",
    "ledger_checks", "file_checks", "restarts", "spans_checked_once",
    "aimed_runs_checked", "processor_cpu_ms", "client_cpu_ms",
)  # fmt: skip


def main() -> int:
    args = _arguments()
    shards = min(args.shards, args.examples)
    per_shard = [args.examples // shards + (i < args.examples % shards) for i in range(shards)]
    print(f"fuzz: {args.examples} examples in {shards} shard(s)", flush=True)

    run = _Run(shards, time.monotonic())
    procs, readers = [], []
    for index, examples in enumerate(per_shard):
        env = {
            **os.environ,
            "GENOPS_FUZZ_EXAMPLES": str(examples),
            "GENOPS_FUZZ_LEDGER_EVERY": str(args.ledger_every),
            "GENOPS_FUZZ_RESTART_EVERY": str(args.restart_every),
            "GENOPS_FUZZ_PROGRESS_EVERY": str(args.progress_every),
            "GENOPS_FUZZ_PER_REQUEST": str(args.per_request),
            "PYTHONUNBUFFERED": "1",
        }
        command = [sys.executable, "-m", "pytest", "tests/fuzz", "-q", "-s", "--timeout=0"]
        command += ["-p", "no:cacheprovider"]
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        procs.append(proc)
        reader = threading.Thread(target=run.relay, args=(index, proc), daemon=True)
        reader.start()
        readers.append(reader)
    statuses = [proc.wait() for proc in procs]
    for reader in readers:
        reader.join()

    failed = [i for i, status in enumerate(statuses) if status != 0]
    for index in failed:
        print(f"fuzz: shard {index} failed (status {statuses[index]}); its output is above")
    result = run.result(args, failed)
    print(
        f"fuzz summary: {result['examples']} examples, {result['failures']} failure(s), "
        f"{'FAILED' if failed else 'passed'}; {result['requests']} requests, "
        f"{result['spans']} spans ({result['rejected']} rejected); "
        f"{result['ledger_checks']} whole-ledger checks, {result['restarts']} restarts; "
        f"{result['wall_seconds'] / 60:.1f} min wall, {result['cpu_seconds'] / 60:.1f} min CPU, "
        f"{result['examples_per_s']} examples/s",
        flush=True,
    )
    if args.results:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(result, indent=2) + "\n")
        print(f"fuzz: wrote {args.results}", flush=True)
    return 1 if failed else 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    env = os.environ.get
    parser.add_argument("--examples", type=int, default=int(env("GENOPS_FUZZ_EXAMPLES", "100000")))
    parser.add_argument("--shards", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--ledger-every", type=int, default=1000, help="whole-ledger checks every N examples"
    )
    parser.add_argument(
        "--restart-every",
        type=int,
        default=10000,
        help="file check and processor restart every N examples (per shard)",
    )
    parser.add_argument("--progress-every", type=int, default=500, help="shard progress lines")
    parser.add_argument(
        "--per-request",
        type=int,
        default=16,
        help="examples sent in one OTLP request (each its own resource)",
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="'' writes none")
    args = parser.parse_args()
    for name in (
        "examples",
        "shards",
        "ledger_every",
        "restart_every",
        "progress_every",
        "per_request",
    ):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.results is not None and not str(args.results).strip(". "):
        args.results = None
    return args


class _Run:
    """The shards' latest figures; a summed progress line at each shard's progress."""

    def __init__(self, shards: int, started: float) -> None:
        self.figures: list[dict] = [{} for _ in range(shards)]
        self.started = started
        self.lock = threading.Lock()

    def total(self) -> Counter:
        total: Counter = Counter()
        for shard in self.figures:
            total.update({k: shard.get(k, 0) for k in COUNTS})
        return total

    def relay(self, index: int, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            print(f"[shard {index}] {line}", end="", flush=True)
            stripped = line.strip()
            for prefix in (FIGURES, PROGRESS):
                if not stripped.startswith(prefix + "{"):
                    continue
                try:
                    figures = ast.literal_eval(stripped[len(prefix) :])
                except (ValueError, SyntaxError):
                    continue  # not a figures line after all: relayed as it is
                with self.lock:
                    self.figures[index] = figures
                    total, seconds = self.total(), time.monotonic() - self.started
                print(
                    f"fuzz progress: {total['examples']} examples, "
                    f"{total['examples'] / seconds:.1f}/s, {total['failures']} failure(s), "
                    f"{seconds / 60:.1f} min",
                    flush=True,
                )

    def result(self, args: argparse.Namespace, failed: list[int]) -> dict:
        wall = time.monotonic() - self.started
        # the shards, and the processors they started and waited for
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = usage.ru_utime + usage.ru_stime
        total = self.total()
        return {
            "benchmark": "fuzz",
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end",
            "examples_asked": args.examples,
            "shards": len(self.figures),
            "ledger_every": args.ledger_every,
            "restart_every": args.restart_every,
            "per_request": args.per_request,
            **{k: total[k] for k in COUNTS},
            "failed_shards": failed,
            "wall_seconds": round(wall, 1),
            "cpu_seconds": round(cpu, 1),
            "examples_per_s": round(total["examples"] / wall, 1) if wall else 0.0,
            "cpu_ms_per_example": round(1000 * cpu / total["examples"], 1)
            if total["examples"]
            else None,
        }


if __name__ == "__main__":
    sys.exit(main())

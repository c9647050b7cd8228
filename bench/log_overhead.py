"""log() overhead: ``run.log({5 floats})`` in offline runs, bare against instrumented.

Each sample is a fresh process (``_log_child.py``): ``wandb.init`` in offline mode, 20,000
``run.log`` calls of five floats timed as one block, ``run.finish()``, then the same calls
on a ``mode="disabled"`` run (nanoseconds per call). The bare process is plain Python; the
instrumented one runs under ``opentelemetry-instrument`` with the governance settings a
real run has (team, project, GPU), exporting to a ``genops-processor`` on loopback (no
budgets: every check allows). Bare and instrumented alternate; the script prints the
median µs per call of each and their ratio (the target is 1.02 or less), the same for
the CPU the process spent during the calls (all its threads: the training loop, wandb's
and ours; on a busy machine the steadier figure), the disabled
mode's ns per call, and process start-up apart: the process's wall time outside the
timed block (imports, ``wandb.init`` with the budget check, ``finish`` with the flush).

Results go to ``bench/results/log_overhead.json``.

    .venv/bin/python bench/log_overhead.py [--quick] [--calls N] [--pairs K] [--output FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _support import BENCH, BIN, median, ratio, scratch_dir, start_processor, write_result  # noqa: E402

DISABLED_CALLS = 200_000
AIM = 1.02


def environment(endpoint: str, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENOPS_", "OTEL_", "WANDB_"))}
    env.update(
        WANDB_MODE="offline",
        WANDB_SILENT="true",
        WANDB_DIR=str(workdir),
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{endpoint}",
        GENOPS_TEAM="bench",
        GENOPS_PROJECT="log-overhead",
        GENOPS_GPU_TYPE="T4",
        GENOPS_GPU_COUNT="1",
        GENOPS_CPU_COUNT="4",
        GENOPS_OFFLINE_SPOOL=str(workdir / "decisions.jsonl"),
        GENOPS_SPOOL_DIR=str(workdir / "spans"),
    )
    return env


def sample(instrumented: bool, calls: int, env: dict[str, str], cwd: Path) -> dict:
    command = [sys.executable, str(BENCH / "_log_child.py"), str(calls), str(DISABLED_CALLS)]
    if instrumented:
        command.insert(0, str(BIN / "opentelemetry-instrument"))
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        what = "instrumented" if instrumented else "bare"
        raise RuntimeError(f"{what} run failed:\n{done.stderr}")
    got = json.loads(done.stdout.strip().splitlines()[-1])
    if got["log_wrapped"] != instrumented:
        raise RuntimeError(f"Run.log wrapped: {got['log_wrapped']}, expected {instrumented}")
    got["wall_s"] = wall
    got["outside_loop_s"] = wall - got["log_loop_s"]
    got["us_per_call"] = 1e6 * got["log_loop_s"] / calls
    got["cpu_us_per_call"] = 1e6 * got["loop_process_cpu_s"] / calls
    got["main_cpu_us_per_call"] = 1e6 * got["loop_main_thread_cpu_s"] / calls
    return got


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4,000 calls, 2 pairs")
    parser.add_argument("--calls", type=int, default=None)
    parser.add_argument("--pairs", type=int, default=None)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    calls = args.calls or (4_000 if args.quick else 20_000)
    pairs = args.pairs or (2 if args.quick else 5)
    mode = "quick" if args.quick else "full"
    print(f"log overhead ({mode}): {calls:,} run.log calls x {pairs} pairs", flush=True)
    workdir = scratch_dir("genops-bench-log-")
    processor = start_processor(workdir, "processor", workdir / "ledger.duckdb")
    samples: dict[str, list[dict]] = {"bare": [], "instrumented": []}
    try:
        for i in range(pairs):
            order = (False, True) if i % 2 == 0 else (True, False)
            for instrumented in order:
                cwd = workdir / f"run-{i}-{int(instrumented)}"
                cwd.mkdir()
                env = environment(processor.endpoint, cwd)
                name = "instrumented" if instrumented else "bare"
                samples[name].append(sample(instrumented, calls, env, cwd))
    finally:
        processor.stop()
    rows = {}
    for name, got in samples.items():
        rows[name] = {
            "us_per_call": round(median([g["us_per_call"] for g in got]), 2),
            "cpu_us_per_call": round(median([g["cpu_us_per_call"] for g in got]), 2),
            "main_thread_cpu_us_per_call": round(
                median([g["main_cpu_us_per_call"] for g in got]), 2
            ),
            "disabled_ns_per_call": round(median([g["disabled_ns_per_call"] for g in got]), 1),
            "startup_s": round(median([g["import_and_init_s"] for g in got]), 3),
            "finish_s": round(median([g["finish_s"] for g in got]), 3),
            "outside_loop_s": round(median([g["outside_loop_s"] for g in got]), 3),
            "samples_us_per_call": [round(g["us_per_call"], 2) for g in got],
        }
    log_ratio = ratio(rows["instrumented"]["us_per_call"], rows["bare"]["us_per_call"])
    cpu_ratio = ratio(rows["instrumented"]["cpu_us_per_call"], rows["bare"]["cpu_us_per_call"])
    disabled_ratio = ratio(
        rows["instrumented"]["disabled_ns_per_call"], rows["bare"]["disabled_ns_per_call"]
    )
    startup_ratio = ratio(rows["instrumented"]["outside_loop_s"], rows["bare"]["outside_loop_s"])
    for name, row in rows.items():
        print(
            f"{name:<13} {row['us_per_call']:>8.1f} µs/call offline "
            f"({row['cpu_us_per_call']:.1f} µs of CPU, "
            f"{row['main_thread_cpu_us_per_call']:.1f} in the calling thread), "
            f"{row['disabled_ns_per_call']:>6.0f} ns/call disabled; start-up (import + init) "
            f"{row['startup_s']:.2f} s, finish {row['finish_s']:.2f} s",
            flush=True,
        )
    print(
        f"ratio {log_ratio} ({'within' if log_ratio and log_ratio <= AIM else 'OVER'} the aim "
        f"of {AIM}); CPU {cpu_ratio}; disabled {disabled_ratio}; "
        f"outside the loop {startup_ratio}",
        flush=True,
    )
    write_result(
        "log_overhead",
        {
            "mode": mode,
            "calls": calls,
            "pairs": pairs,
            "disabled_calls": DISABLED_CALLS,
            "aim": AIM,
            "ratio": log_ratio,
            "cpu_ratio": cpu_ratio,
            "disabled_ratio": disabled_ratio,
            "outside_loop_ratio": startup_ratio,
            **rows,
        },
        args.output,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

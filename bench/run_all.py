"""Run every benchmark in this directory in turn, with its default arguments.

Each ``bench/*.py`` script other than this one runs in its own process (the
same interpreter), with its output streamed as it comes. All of them run even
when one fails; the exit status is 1 when any of them failed.

    .venv/bin/python bench/run_all.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent


def bench_scripts() -> list[Path]:
    this = Path(__file__).resolve()
    return sorted(p for p in BENCH_DIR.glob("*.py") if p.resolve() != this)


def main() -> int:
    scripts = bench_scripts()
    outcomes: list[tuple[str, int, float]] = []
    for script in scripts:
        name = script.relative_to(REPO_ROOT)
        print(f"=== {name}", flush=True)
        started = time.perf_counter()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # stream, even into a pipe
        status = subprocess.run([sys.executable, str(script)], cwd=REPO_ROOT, env=env).returncode
        seconds = time.perf_counter() - started
        outcomes.append((str(name), status, seconds))
        outcome = "ok" if status == 0 else f"FAILED (status {status})"
        print(f"=== {name}: {outcome}, {seconds:.0f} s\n", flush=True)
    failed = [name for name, status, _ in outcomes if status != 0]
    print(f"{len(scripts) - len(failed)} of {len(scripts)} benchmarks passed")
    for name in failed:
        print(f"failed: {name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

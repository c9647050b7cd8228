"""Run every benchmark in this directory in turn, then quote the results in the README.

Each ``bench/*.py`` script other than this one and the helpers (``_*.py``) runs in its
own process (the same interpreter), with its output streamed as it comes. All of them
run even when one fails; the exit status is 1 when any of them failed. Afterwards the
README's fleet-scale table is regenerated from ``bench/results/*.json``
(``bench/_readme.py``).

``--quick`` runs only the fleet-scale benches (log overhead, ingest, decisions,
enforcement, fleet), each with ``--quick``: short phases and a smaller seeded ledger
(their output and the README say so). ``--only NAME[,NAME]`` picks benches by name.

    .venv/bin/python bench/run_all.py [--quick] [--only ingest,decisions]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
from _readme import FLEET_BENCHES, update  # noqa: E402


def bench_scripts() -> list[Path]:
    this = Path(__file__).resolve()
    return sorted(
        p for p in BENCH_DIR.glob("*.py") if p.resolve() != this and not p.name.startswith("_")
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the fleet-scale benches, quick")
    parser.add_argument("--only", default="", help="bench names, comma-separated")
    args = parser.parse_args()
    scripts = bench_scripts()
    if args.quick:
        scripts = [BENCH_DIR / f"{name}.py" for name in FLEET_BENCHES]
    if args.only:
        wanted = set(args.only.split(","))
        scripts = [s for s in scripts if s.stem in wanted]
    outcomes: list[tuple[str, int, float]] = []
    everything = time.perf_counter()
    for script in scripts:
        name = script.relative_to(REPO_ROOT)
        print(f"=== {name}", flush=True)
        started = time.perf_counter()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # stream, even into a pipe
        command = [sys.executable, str(script)] + (["--quick"] if args.quick else [])
        status = subprocess.run(command, cwd=REPO_ROOT, env=env).returncode
        seconds = time.perf_counter() - started
        outcomes.append((str(name), status, seconds))
        outcome = "ok" if status == 0 else f"FAILED (status {status})"
        print(f"=== {name}: {outcome}, {seconds:.0f} s\n", flush=True)
    failed = [name for name, status, _ in outcomes if status != 0]
    total = time.perf_counter() - everything
    print(f"{len(scripts) - len(failed)} of {len(scripts)} benchmarks passed in {total:.0f} s")
    for name in failed:
        print(f"failed: {name}")
    changed = update()
    print("README.md: fleet-scale table " + ("rewritten" if changed else "unchanged"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""The long mode of the property-based ingest test: ``make fuzz``.

Runs ``tests/fuzz`` in one pytest process per CPU (each with its own processor
and ledger, so the shards use every core), splits ``GENOPS_FUZZ_EXAMPLES``
(default 100,000) between them, streams their progress lines, and prints the
summed figures at the end. Exits 1 when any shard failed.

    .venv/bin/python scripts/fuzz.py [--examples N] [--shards K]
"""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURES = "fuzz figures: "
PROGRESS = "fuzz: "


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--examples", type=int, default=int(os.environ.get("GENOPS_FUZZ_EXAMPLES", "100000"))
    )
    parser.add_argument("--shards", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    if args.examples < 1 or args.shards < 1:
        parser.error("--examples and --shards must be at least 1")
    shards = min(args.shards, args.examples)
    per_shard = [args.examples // shards + (i < args.examples % shards) for i in range(shards)]
    print(f"fuzz: {args.examples} examples in {shards} shard(s)", flush=True)

    started = time.monotonic()
    figures: list[dict] = [{} for _ in range(shards)]
    procs = []
    readers = []
    for index, examples in enumerate(per_shard):
        env = {**os.environ, "GENOPS_FUZZ_EXAMPLES": str(examples), "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", "pytest", "tests/fuzz", "-q", "-s", "--timeout=0"]
        command += ["-p", "no:cacheprovider"]
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        procs.append(proc)
        reader = threading.Thread(target=_relay, args=(index, proc, figures), daemon=True)
        reader.start()
        readers.append(reader)
    statuses = [proc.wait() for proc in procs]
    for reader in readers:
        reader.join()

    total: Counter = Counter()
    for shard in figures:
        total.update(shard)
    minutes = (time.monotonic() - started) / 60
    print(f"fuzz figures (all shards): {dict(sorted(total.items()))} in {minutes:.1f} min")
    failed = [i for i, status in enumerate(statuses) if status != 0]
    for index in failed:
        print(f"fuzz: shard {index} failed (status {statuses[index]}); its output is above")
    return 1 if failed else 0


def _relay(index: int, proc: subprocess.Popen, figures: list[dict]) -> None:
    for line in proc.stdout:
        stripped = line.strip()
        for prefix in (FIGURES, PROGRESS):
            if stripped.startswith(prefix + "{"):
                try:
                    figures[index] = ast.literal_eval(stripped[len(prefix) :])
                except (ValueError, SyntaxError):
                    pass  # not a figures line after all: relayed as it is
        print(f"[shard {index}] {line}", end="", flush=True)


if __name__ == "__main__":
    sys.exit(main())

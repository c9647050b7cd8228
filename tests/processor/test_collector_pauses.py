"""The long-running processor freezes what it built on start and collects garbage less
often (collector_pauses.py), so full collections no longer stop decisions for ~100 ms;
library callers and in-process starts keep CPython's defaults. A real ``genops-processor``
entry point in a subprocess (its collector is its own), a temporary DuckDB file, port 0."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import textwrap

from genops_processor.collector_pauses import THRESHOLDS

_WATCH = textwrap.dedent(
    """
    import gc, json, os, signal, sys, threading, time
    from genops_processor.cli.main import processor_main

    before = (gc.get_freeze_count(), gc.get_threshold())

    def watch():
        deadline = time.monotonic() + 60
        while not gc.get_freeze_count() and time.monotonic() < deadline:
            time.sleep(0.05)
        # to a file of its own: printed, it interleaved with the processor's own stdout
        with open(sys.argv[2], "w") as out:
            json.dump([before, [gc.get_freeze_count(), gc.get_threshold()]], out)
        os.kill(os.getpid(), signal.SIGTERM)  # the processor's own clean shutdown

    threading.Thread(target=watch, daemon=True).start()
    sys.exit(processor_main(["--db", sys.argv[1], "--listen", "127.0.0.1:0"]))
    """
)


def test_the_processor_freezes_its_start_and_raises_the_thresholds(tmp_path):
    seen_file = tmp_path / "seen.json"
    done = subprocess.run(
        [sys.executable, "-c", _WATCH, str(tmp_path / "ledger.duckdb"), str(seen_file)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    before, after = json.loads(seen_file.read_text())
    assert before[0] == 0 and tuple(before[1]) == (700, 10, 10)  # CPython's, until started
    assert after[0] > 10_000  # start-up objects frozen: later collections skip them
    assert tuple(after[1]) == THRESHOLDS


def test_importing_the_processor_leaves_the_collector_alone():
    # hostile to the embedding program: a library import must not retune its process
    import genops_processor.server  # noqa: F401

    assert gc.get_threshold() != THRESHOLDS or THRESHOLDS == (700, 10, 10)
    assert gc.get_freeze_count() == 0

"""A SIGTERM that reaches ``genops-processor`` while it is still starting ends it
cleanly (exit 0, ledger closed) instead of killing it half-started: the signal handlers
are installed before start-up. A real entry point in a subprocess (the signal is its
own, sent from inside ``start`` so it lands mid-start every time), a temporary DuckDB
file, port 0."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import duckdb

_TERM_WHILE_STARTING = textwrap.dedent(
    """
    import os, signal, sys
    from genops_processor import server
    from genops_processor.cli.main import processor_main

    real_start = server.start

    async def start(settings, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # mid-start, before anything listens
        return await real_start(settings, *args, **kwargs)

    server.start = start
    sys.exit(processor_main(["--db", sys.argv[1], "--listen", "127.0.0.1:0"]))
    """
)


def test_a_sigterm_during_start_up_stops_the_processor_cleanly(tmp_path):
    db = tmp_path / "ledger.duckdb"
    done = subprocess.run(
        [sys.executable, "-c", _TERM_WHILE_STARTING, str(db)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # closed cleanly: the file opens (no other process holds it) and has its schema
    with duckdb.connect(str(db), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone() == (0,)

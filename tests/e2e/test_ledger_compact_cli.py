"""``genops ledger compact`` on a real ledger file written by a real processor."""

from __future__ import annotations

import subprocess

from genops_processor import storage
from tests.helpers import BIN, governed_env, run_training


def test_compacting_a_stopped_ledger_keeps_every_run_and_shrinks_nothing_it_needs(
    processor, tmp_path
):
    env = governed_env(processor.endpoint, LOG_CALLS="7", TRAIN_SECONDS="1")
    training = run_training("train_basic.py", tmp_path / "job", env)
    assert training.returncode == 0, training.result.stderr
    before = processor.runs()
    assert processor.stop() == 0
    with storage.Storage(processor.db, read_only=True) as db:
        raw, ids = db.call(storage.span_counts)
    assert raw > 0 and ids == 0

    done = subprocess.run(
        [str(BIN / "genops"), "ledger", "compact", "--db", str(processor.db), "--keep-days", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"compacted {raw} span(s)" in done.stdout
    with storage.Storage(processor.db, read_only=True) as db:
        assert db.call(storage.span_counts) == (0, raw)
    report = subprocess.run(
        [str(BIN / "genops"), "report", "--db", str(processor.db), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert report.returncode == 0, report.stderr
    assert f'"log_calls": {before[0].log_calls}' in report.stdout
    assert f'"cost_micros": {before[0].cost_micros}' in report.stdout


def test_a_missing_ledger_is_a_clear_error_and_nothing_is_created(tmp_path):
    missing = tmp_path / "missing.duckdb"
    done = subprocess.run(
        [str(BIN / "genops"), "ledger", "compact", "--db", str(missing)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == f"genops ledger compact: no ledger at {missing}"
    assert "Traceback" not in done.stderr
    assert not missing.exists()


def test_a_ledger_held_by_a_running_processor_is_refused(processor):
    done = subprocess.run(
        [str(BIN / "genops"), "ledger", "compact", "--db", str(processor.db)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("genops ledger compact: cannot open")
    assert "Traceback" not in done.stderr

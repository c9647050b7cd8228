"""A run's status is the exit code W&B records for it, read back from W&B's own file."""

from __future__ import annotations

import json
import signal
import struct
import subprocess
import sys

import pytest
from wandb.proto import wandb_internal_pb2

from tests.helpers import BIN, SCRIPTS, governed_env

_BLOCK = 32768  # W&B's .wandb files: LevelDB-style log blocks of 7-byte-headed records
_HEADER = struct.Struct("<IHB")  # crc32, length, type (1 full, 2 first, 3 middle, 4 last)


def wandb_exit_code(run_dir) -> int:
    """The exit code in the run's exit record, from the offline run's .wandb file."""
    [path] = run_dir.glob("*.wandb")
    data = path.read_bytes()
    assert data[:4] == b":W&B", data[:7]
    pos, pieces = 7, b""
    while pos + _HEADER.size <= len(data):
        if _BLOCK - pos % _BLOCK < _HEADER.size:
            pos += _BLOCK - pos % _BLOCK  # a block's zero-filled tail
            continue
        _crc, length, kind = _HEADER.unpack_from(data, pos)
        chunk = data[pos + _HEADER.size : pos + _HEADER.size + length]
        pos += _HEADER.size + length
        if kind in (2, 3):
            pieces += chunk
            continue
        record = wandb_internal_pb2.Record()
        record.ParseFromString(pieces + chunk)
        pieces = b""
        if record.WhichOneof("record_type") == "exit":
            return record.exit.exit_code
    raise AssertionError(f"no exit record in {path}")


def report_row(processor, run_id: str) -> dict:
    report = subprocess.run(
        [str(BIN / "genops"), "report", "--endpoint", processor.endpoint, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert report.returncode == 0, report.stderr
    [row] = [r for r in json.loads(report.stdout) if r["run_id"] == run_id]
    return row


def governed_script(processor, tmp_path, how: str) -> subprocess.Popen:
    env = governed_env(processor.endpoint, EXIT_HOW=how, LOG_CALLS="4")
    cwd = tmp_path / how
    cwd.mkdir()
    return subprocess.Popen(
        [str(BIN / "opentelemetry-instrument"), sys.executable, str(SCRIPTS / "train_exits.py")],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(
    ("how", "returncode", "exit_code"),
    [("sys_exit", 3, 3), ("raise", 1, 1), ("builtin_exit", 1, 0)],
    ids=["sys.exit(3)", "uncaught exception", "builtin exit(1), unseen by W&B"],
)
def test_status_and_exit_code_are_what_w_and_b_records(
    processor, tmp_path, how, returncode, exit_code
):
    proc = governed_script(processor, tmp_path, how)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == returncode, err
    run_id = out.split()[1]
    [run_dir] = (tmp_path / how / "wandb").glob(f"offline-run-*-{run_id}")
    assert wandb_exit_code(run_dir) == exit_code
    row = report_row(processor, run_id)
    assert (row["status"], row["log_calls"]) == ("failed" if exit_code else "finished", 4)
    assert row["exit_code"] == exit_code


def test_ctrl_c_is_recorded_as_w_and_b_records_it(processor, tmp_path):
    proc = governed_script(processor, tmp_path, "wait")
    ready = proc.stdout.readline()
    assert ready.startswith("ready "), proc.stderr.read()
    run_id = ready.split()[1]
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGINT, err
    [run_dir] = (tmp_path / "wait" / "wandb").glob(f"offline-run-*-{run_id}")
    recorded = wandb_exit_code(run_dir)
    assert recorded == 255  # W&B's code for a KeyboardInterrupt
    row = report_row(processor, run_id)
    assert (row["status"], row["log_calls"]) == ("failed", 4)
    assert row["exit_code"] == recorded

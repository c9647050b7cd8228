"""Final state survives processor restarts: what it did not acknowledge is spooled.

Real governed scripts run while the processor (same DuckDB file, same port) is
SIGKILLed and restarted; the clients keep unacknowledged spans on disk, send
them again at exit (bounded wait) or leave them to the next governed process.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from tests.helpers import (
    BIN,
    ROUND_CATALOG,
    SCRIPTS,
    expected_cost_micros,
    governed_env,
    start_processor,
)

SCRIPTS_RUN = 10
RESTARTS = 5


def launch(env: dict[str, str], cwd, log_calls: int) -> subprocess.Popen:
    cwd.mkdir(parents=True)
    env = {**env, "LOG_CALLS": str(log_calls)}
    return subprocess.Popen(
        [str(BIN / "opentelemetry-instrument"), sys.executable, str(SCRIPTS / "train_basic.py")],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_id_in(cwd) -> str:
    [run_dir] = (cwd / "wandb").glob("offline-run-*")
    return run_dir.name.rsplit("-", 1)[1]


def test_ten_scripts_keep_their_final_state_through_five_processor_kills(tmp_path, unused_port):
    listen = f"127.0.0.1:{unused_port}"

    def start():
        return start_processor(tmp_path, "--catalog", str(ROUND_CATALOG), "--listen", listen)

    env = governed_env(
        listen,
        TRAIN_SECONDS="3",
        GENOPS_HEARTBEAT_INTERVAL="1",
        GENOPS_SPOOL_DIR=str(tmp_path / "spool"),
    )
    processor = start()
    jobs: list[tuple[subprocess.Popen, object, int]] = []
    try:
        for cycle in range(RESTARTS):
            for k in range(SCRIPTS_RUN // RESTARTS):
                index = cycle * (SCRIPTS_RUN // RESTARTS) + k
                cwd = tmp_path / f"job-{index}"
                jobs.append((launch(env, cwd, 10 + index), cwd, 10 + index))
            time.sleep(1.5)
            processor.proc.send_signal(signal.SIGKILL)
            processor.proc.wait()
            time.sleep(1.0)  # down while the scripts train, heartbeat and finish
            processor = start()
        outputs = []
        for proc, _cwd, calls in jobs:
            out, err = proc.communicate(timeout=180)
            assert proc.returncode == 0, err
            assert out == f"done: {calls} steps\n"
            outputs.append(err)
        assert any("cannot export W&B telemetry" in err for err in outputs)  # outages were seen

        # The next governed process sends what no one could deliver before.
        nxt = launch(env, tmp_path / "next", 1)
        nxt.communicate(timeout=180)
        expected = {run_id_in(cwd): calls for _proc, cwd, calls in jobs}
        deadline = time.monotonic() + 30
        while True:
            rows = {run.run_id: run for run in processor.runs() if run.run_id in expected}
            done = len(rows) == SCRIPTS_RUN and all(r.status != "running" for r in rows.values())
            if done or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert sorted(rows) == sorted(expected), rows
        for run_id, calls in expected.items():
            run = rows[run_id]
            assert (run.status, run.log_calls, run.artifact_bytes) == ("finished", calls, 12345)
            assert run.cost_micros == expected_cost_micros(run) > 0
    finally:
        for proc, _cwd, _calls in jobs:
            if proc.poll() is None:
                proc.kill()
        processor.stop()

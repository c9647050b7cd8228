"""`make demo`: the embedded default, end to end, on this machine.

Starts genops-processor on 127.0.0.1 with a DuckDB file, runs
examples/train.py on real wandb (offline) under `opentelemetry-instrument`,
prints the cost report, stops the processor with SIGTERM and exits 0.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
OUT = ROOT / "demo-output"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(proc: subprocess.Popen, timeout_s: float = 30) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            raise SystemExit(f"processor exited with {proc.returncode}")
        match = re.search(r"listening on (\S+),", line)
        if match:
            return match.group(1)
    raise SystemExit("processor did not start in time")


def main() -> int:
    OUT.mkdir(exist_ok=True)
    db = OUT / "genops.duckdb"
    db.unlink(missing_ok=True)
    listen = f"127.0.0.1:{free_port()}"
    print(f"==> starting genops-processor --db {db} --listen {listen}", flush=True)
    processor = subprocess.Popen(
        [
            BIN / "genops-processor",
            "--db",
            db,
            "--listen",
            listen,
            "--policy",
            ROOT / "examples" / "policy.yaml",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        endpoint = wait_listening(processor)
        env = dict(
            os.environ,
            WANDB_MODE="offline",
            WANDB_SILENT="true",
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{endpoint}",
            OTEL_SERVICE_NAME="genops-demo",
            GENOPS_TEAM="demo-team",
            GENOPS_PROJECT="tiny-regression",
            GENOPS_CUSTOMER_ID="acme",
            GENOPS_COST_CENTER="research",
            GENOPS_ENVIRONMENT="development",
            GENOPS_GPU_TYPE=os.environ.get("GENOPS_GPU_TYPE", "A10G"),
            GENOPS_GPU_COUNT=os.environ.get("GENOPS_GPU_COUNT", "1"),
        )
        print("==> opentelemetry-instrument python examples/train.py", flush=True)
        started = time.monotonic()
        subprocess.run(
            [BIN / "opentelemetry-instrument", sys.executable, ROOT / "examples" / "train.py"],
            env=env,
            cwd=OUT,
            check=True,
        )
        print(f"    (wall time {time.monotonic() - started:.2f}s)")
        print("==> genops report", flush=True)
        subprocess.run([BIN / "genops", "report", "--endpoint", endpoint], check=True)
    finally:
        processor.send_signal(signal.SIGTERM)
        code = processor.wait(timeout=30)
        print(f"==> processor stopped (exit {code}); data in {db}")
    if code != 0:
        return code
    print("==> genops report --db (after the processor released the file)", flush=True)
    subprocess.run([BIN / "genops", "report", "--db", db, "--json"], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

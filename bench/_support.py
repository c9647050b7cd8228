"""What the fleet-scale benches share: servers in subprocesses, heartbeat requests, stats
and result files. Not a benchmark itself (``run_all.py`` skips ``_*.py``).

Every server runs in its own process, started the same way: the processor
(``genops-processor`` on 127.0.0.1 port 0, no ``--credentials``: every call is served as
the local operator, which the processor allows on loopback only) and the bare baseline
(``_bare.py``). The benches' clients run in other processes again (``_load.py`` for
ingest load), so a server never shares its interpreter with the load it answers.
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

from genops import attributes as attr

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
BIN = Path(sys.executable).parent
SECOND = 10**9
HEARTBEAT_S = 15  # the instrumentation's default heartbeat interval
TEAMS = [f"team-{i:02d}" for i in range(20)]  # the seeded ledger's teams (bench/_seed.py)
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
# budgets of every team, far above what any bench spends: every decision allows and holds
FLEET_POLICY = "budgets:\n" + "".join(
    f'  - {{name: {t}-daily, scope: {{team: {t}}}, daily_limit: "10000000", mode: enforced}}\n'
    f'  - {{name: {t}-monthly, scope: {{team: {t}}}, period: monthly, limit: "300000000", '
    "mode: enforced}\n"
    for t in TEAMS
)


# ---------------------------------------------------------------- servers


class Server:
    """A server subprocess that prints ``listening on HOST:PORT,`` (log in a file)."""

    def __init__(self, command: list[str], log: Path, what: str) -> None:
        self.what = what
        self.log = log
        with log.open("w") as out:  # a file, never a pipe nobody reads
            self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = re.search(r"listening on (\S+),", log.read_text())
            if found:
                self.endpoint = found.group(1)
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{what} did not start:\n{log.read_text()}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def memory(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak) in bytes."""
        found = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0]) * 1024
        return found

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def scratch_dir(prefix: str) -> Path:
    """A new directory for a bench's ledgers and logs, removed when the bench exits (a
    seeded ledger is ~3 GiB: kept, a few runs fill the disk). ``GENOPS_BENCH_KEEP=1``
    keeps it (its path is printed) for a look afterwards."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if os.environ.get("GENOPS_BENCH_KEEP"):
        print(f"bench files kept in {path}", file=sys.stderr)
    else:
        atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def start_processor(workdir: Path, name: str, db: Path, policy: str | None = None) -> Server:
    (workdir / name).mkdir(parents=True, exist_ok=True)
    command = [str(BIN / "genops-processor"), "--db", str(db), "--listen", "127.0.0.1:0"]
    if policy is not None:
        path = workdir / name / "policy.yaml"
        path.write_text(policy)
        command += ["--policy", str(path)]
    return Server(command, workdir / name / "processor.log", f"processor {name}")


def start_bare(workdir: Path) -> Server:
    (workdir / "bare").mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(BENCH / "_bare.py")]
    return Server(command, workdir / "bare" / "server.log", "bare server")


# ---------------------------------------------------------------- heartbeats


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


_IDS = random.Random()


def span_id() -> bytes:
    """A new span id as an OpenTelemetry SDK makes one: 64 random bits. Ids from a
    narrow range (a counter) would let DuckDB skip the ledger's row groups by their
    min/max in ingest's duplicate check, a saving no real client gives it."""
    return (_IDS.getrandbits(64) or 1).to_bytes(8, "big")


class Heartbeats:
    """Serialized OTLP requests of ``batch`` heartbeat spans each, from ``runs`` runs.

    The runs are cut into ``runs // batch`` groups; request k carries group ``k % groups``
    at round ``first_round + k // groups``: each run's sequence and usage time advance by
    one heartbeat (15 s of simulated time from ``base_ns``) per round, as a fleet's would,
    and every span id is new and random (:func:`span_id`). One request is built once per
    group and its changing fields set in place, so a sender costs a few microseconds per
    span.
    """

    def __init__(
        self, runs: int, batch: int, base_ns: int, first_round: int = 0, prefix: str = "hb"
    ) -> None:
        self.batch = batch
        self.groups = max(1, runs // batch)
        self.base_ns = base_ns
        self.first_round = first_round
        self.made = 0
        self._lock = threading.Lock()
        self._templates = [self._template(g, prefix) for g in range(self.groups)]

    def _template(self, group: int, prefix: str):
        spans, live = [], []
        for slot in range(self.batch):
            run = group * self.batch + slot
            team = TEAMS[run % len(TEAMS)]
            values = {
                attr.TEAM: team,
                attr.PROJECT: f"proj-{run % 7}",
                attr.WANDB_RUN_ID: f"{prefix}{run:07d}",
                attr.WANDB_PROJECT: "fleet",
                attr.RUN_STATUS: "running",
                attr.RUN_SEQUENCE: 0,
                attr.RUN_COMPUTE_START_NS: self.base_ns,
                attr.USAGE_AS_OF_NS: self.base_ns,
                attr.USAGE_LOG_CALLS: 0,
                attr.HW_GPU_TYPE: "A100-80GB",
                attr.HW_GPU_COUNT: 8,
                attr.HW_CPU_COUNT: 96,
                attr.METRICS_LAST: '{"loss": 0.1234, "accuracy": 0.9876, "lr": 0.0003}',
            }
            span = trace_pb2.Span(
                trace_id=(f"{prefix}{run:07d}".encode() + b"\0" * 16)[:16],
                span_id=b"\0" * 8,
                name=attr.SPAN_HEARTBEAT,
                start_time_unix_nano=self.base_ns,
                end_time_unix_nano=self.base_ns,
                attributes=[_kv(k, v) for k, v in values.items()],
            )
            spans.append(span)
        request = trace_service_pb2.ExportTraceServiceRequest(
            resource_spans=[
                trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=spans)])
            ]
        )
        names = list(values)
        for span in request.resource_spans[0].scope_spans[0].spans:
            a = span.attributes
            live.append(
                (
                    span,
                    a[names.index(attr.RUN_SEQUENCE)].value,
                    a[names.index(attr.USAGE_AS_OF_NS)].value,
                    a[names.index(attr.USAGE_LOG_CALLS)].value,
                )
            )
        return request, live

    def next(self) -> tuple[bytes, int]:
        """The next request's bytes and its span count."""
        with self._lock:
            k = self.made
            self.made += 1
            request, live = self._templates[k % self.groups]
            round_ = self.first_round + k // self.groups + 1
            as_of = self.base_ns + round_ * HEARTBEAT_S * SECOND
            for span, sequence, as_of_value, log_calls in live:
                span.span_id = span_id()
                span.start_time_unix_nano = as_of
                span.end_time_unix_nano = as_of
                sequence.int_value = round_
                as_of_value.int_value = as_of
                log_calls.int_value = round_ * 40
            return request.SerializeToString(), self.batch

    @property
    def rounds_used(self) -> int:
        return math.ceil(self.made / self.groups)


# ---------------------------------------------------------------- profiles


def time_calls(owner: type, name: str, label, record) -> None:
    """Wrap method ``name`` of class ``owner`` so that each call's duration in seconds
    goes to ``record(label, seconds)``. ``label`` is a fixed text or
    ``label(instance, args)``; a call it labels None is not recorded. For the profiles
    (``profiles/``), which time what the processor runs inside its own process."""
    original = getattr(owner, name)

    def wrapper(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            shown = label(self, args) if callable(label) else label
            if shown:
                record(shown, time.perf_counter() - started)

    setattr(owner, name, wrapper)


# ---------------------------------------------------------------- stats and results


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return (ordered[(n - 1) // 2] + ordered[n // 2]) / 2


def latencies(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {"calls": 0, "p50_ms": None, "p99_ms": None}
    return {
        "calls": len(seconds),
        "p50_ms": round(1000 * percentile(seconds, 50), 2),
        "p99_ms": round(1000 * percentile(seconds, 99), 2),
    }


def ratio(measured: float | None, baseline: float | None) -> float | None:
    if not measured or not baseline:
        return None
    return round(measured / baseline, 4)


def write_result(name: str, result: dict, output: Path | None = None) -> Path:
    path = output or RESULTS / f"{name}.json"
    body = {
        "benchmark": name,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end",
        **result,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=2) + "\n")
    print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}", flush=True)
    return path


def run_load(endpoint: str, **options: object) -> dict:
    """Run ``_load.py`` (heartbeat senders in their own process) to its end; its result."""
    command = [sys.executable, str(BENCH / "_load.py"), "--endpoint", endpoint]
    for key, value in options.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"_load.py failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def start_load(endpoint: str, **options: object) -> subprocess.Popen:
    """``_load.py`` in the background until ``stop_load`` (SIGINT)."""
    command = [sys.executable, str(BENCH / "_load.py"), "--endpoint", endpoint]
    for key, value in options.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop_load(proc: subprocess.Popen) -> dict:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=180)
    if proc.returncode != 0:
        raise RuntimeError(f"_load.py failed:\n{err}")
    return json.loads(out.strip().splitlines()[-1])

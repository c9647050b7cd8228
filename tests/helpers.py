"""Real processes for the end-to-end tests: the processor and governed training scripts."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import grpc
import pytest

from genops.governance.v1 import governance_pb2 as pb
from genops.governance.v1 import governance_pb2_grpc as pb_grpc
from genops.transport import ChannelSecurity, open_channel

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SCRIPTS = ROOT / "tests" / "scripts"
ROUND_CATALOG = ROOT / "tests" / "data" / "catalog-round.yaml"
ROUND_RATES = {"T4": Decimal("36"), "vcpu": Decimal("3.6")}  # USD per device-hour
SEED_GUIDE = "seed/wandb-governance-guide.md"  # the guide whose API we implement, in ../shared


# -- credentials: every test processor runs with a credentials file ----------------------
# The teams the tests' runs, budgets and clients use (collected from the tests: grep their
# GENOPS_TEAM / team= / --team values). The `trainer` (client) and `approver` principals
# act for these; a test that uses a team outside them gets PERMISSION_DENIED, as a real
# client of other teams would. "attacker" is deliberately not one of them.
TEST_TEAMS = (
    "advanced-research", "alpha", "api", "beta", "budget-conscious-team", "cheap",
    "contract-team", "control", "cost-aware-team", "cv", "d", "demo-team", "dev",
    "env-team", "exp", "flood-check", "fuzz-team", "infra", "kw", "kw-team", "lab", "ml",
    "ml ops", "ml-team", "model-ops", "night", "nlp", "other", "production-ml", "production-ops",
    "race", "research", "research-team", "resource-team", "retry", "rich", "rollup",
    "room", "t", "team", "victim", "vision", "x", "zz-late-team",
    *(f"team-{i}" for i in range(10)),
    # ../shared/seed/wandb-governance-guide.md's samples (tests/guide)
    "airflow-ml", "analytics-team", "audited-team", "autoscale-team", "compliance-team",
    "cost-conscious-team", "custom-pricing-team", "data-science-team", "debug-team",
    "global-ml", "governed-team", "high-performance-ml", "kubeflow-ml", "platform-team",
    "secure-ml", "your-team",
)  # fmt: skip

# name -> (role, teams) of the principals every test processor knows.
TEST_PRINCIPALS = {
    "admin": ("admin", ()),
    "auditor": ("auditor", ()),
    "approver": ("approver", TEST_TEAMS),
    "trainer": ("client", TEST_TEAMS),
}

# Start test processors with --credentials (the default fixture and start_processor);
# a test of the no-credentials loopback default passes credentials=False.
CREDENTIALS_ON = True

_session_credentials: tuple[Path, dict[str, str]] | None = None


def session_credentials() -> tuple[Path, dict[str, str]]:
    """The test session's credentials file and its tokens by principal name (created
    once per test process with ``genops_processor.auth.credentials.create``); each
    processor gets a copy, so a test that edits its copy changes no other test."""
    global _session_credentials
    if _session_credentials is None:
        from genops_processor.auth import credentials

        path = Path(tempfile.mkdtemp(prefix="genops-test-credentials-")) / "credentials.yaml"
        tokens = {
            name: credentials.create(path, name, role, teams)
            for name, (role, teams) in TEST_PRINCIPALS.items()
        }
        _session_credentials = (path, tokens)
    return _session_credentials


def token_of(name: str = "admin") -> str:
    """The bearer token of a test principal: admin, auditor, approver or trainer."""
    return session_credentials()[1][name]


def channel(endpoint: str, as_: str | None = "admin", options=None) -> grpc.Channel:
    """A plain-text channel to a test processor whose calls authenticate as the test
    principal ``as_`` (``None``: no credentials at all)."""
    if as_ is None:
        return grpc.insecure_channel(endpoint, options=options)
    # the product's own client transport: every call carries the principal's token
    security = ChannelSecurity(token=token_of(as_), token_source="test principal")
    return open_channel(endpoint, False, security, options=options or ())


def shared_file(relative: str) -> Path:
    """A file of the project's shared folder (``../shared`` beside this clone), or a skip
    of the calling test naming that file when it is not there (a clone on its own).

    ``GENOPS_SHARED_DIR`` (read by the tests only) points at another shared folder; set
    it to a missing path (``GENOPS_SHARED_DIR=/nonexistent``) to see these tests skip.
    """
    shared = Path(os.environ.get("GENOPS_SHARED_DIR") or ROOT.parent / "shared")
    path = shared / relative
    if not path.is_file():
        pytest.skip(f"needs ../shared/{relative} (not beside this clone: no {path})")
    return path


@dataclass
class Processor:
    db: Path
    proc: subprocess.Popen
    endpoint: str
    metrics_url: str
    log: list[str] = field(default_factory=list)
    # the credentials file it reads (None: started without credentials, every call is
    # the local operator) and the tokens of its principals by name (TEST_PRINCIPALS)
    credentials: Path | None = None
    tokens: dict[str, str] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        """The processor's Prometheus samples, ``name{labels}`` -> value."""
        text = urllib.request.urlopen(self.metrics_url, timeout=10).read().decode()
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        return samples

    def spans_received(self) -> int:
        return int(
            sum(v for k, v in self.metrics().items() if k.startswith("genops_spans_received_total"))
        )

    def channel(self, as_: str | None = "admin", options=None) -> grpc.Channel:
        """A channel whose calls authenticate as the principal ``as_`` (admin, auditor,
        approver, trainer; ``None``: no token)."""
        return channel(self.endpoint, as_ if self.credentials else None, options)

    def stub(self, as_: str | None = "admin") -> pb_grpc.GovernanceServiceStub:
        return pb_grpc.GovernanceServiceStub(self.channel(as_))

    def runs(self) -> list[pb.RunSummary]:
        """Every run, newest first (ListRuns a page at a time)."""
        stub, runs, token = self.stub(), [], ""
        while True:
            page = stub.ListRuns(pb.ListRunsRequest(page_size=5000, page_token=token), timeout=30)
            runs += page.runs
            token = page.next_page_token
            if not token:
                return runs

    def stop(self) -> int:
        return stop_process(self.proc)


def stop_process(proc: subprocess.Popen, timeout_s: float = 30) -> int:
    """SIGTERM, then SIGKILL after ``timeout_s``; the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def start_processor(tmp: Path, *extra: str, credentials: bool | None = None) -> Processor:
    """Start genops-processor on 127.0.0.1 port 0 with ``tmp/genops.duckdb``.

    ``credentials`` (default ``CREDENTIALS_ON``): run with a copy of the test session's
    credentials file (``tmp/credentials.yaml``, principals TEST_PRINCIPALS); ``False``:
    none (the loopback default: every call is the local operator). Arguments that name
    their own ``--credentials`` win."""
    db = tmp / "genops.duckdb"
    if credentials is None:
        credentials = CREDENTIALS_ON
    cred_args: list[str] = []
    cred_path, tokens = None, {}
    if "--credentials" in extra:
        cred_path = Path(extra[extra.index("--credentials") + 1])
    elif credentials:
        source, tokens = session_credentials()
        cred_path = tmp / "credentials.yaml"
        if not cred_path.exists():  # a restart in the same directory keeps the file
            shutil.copyfile(source, cred_path)
            cred_path.chmod(0o600)
        cred_args = ["--credentials", str(cred_path)]
    proc = subprocess.Popen(
        [
            str(BIN / "genops-processor"),
            "--db",
            str(db),
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            *cred_args,
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    log: list[str] = []
    metrics_url = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"processor exited: {''.join(log)}")
        log.append(line)
        metrics = re.search(r"metrics on (\S+)", line)
        if metrics:
            metrics_url = metrics.group(1)
        match = re.search(r"listening on (\S+),", line)
        if match:
            return Processor(
                db=db,
                proc=proc,
                endpoint=match.group(1),
                metrics_url=metrics_url,
                log=log,
                credentials=cred_path,
                tokens=dict(tokens),
            )
    proc.kill()
    raise RuntimeError("processor did not start within 60 s")


@dataclass
class Training:
    result: subprocess.CompletedProcess
    wall_s: float
    cwd: Path

    @property
    def returncode(self) -> int:
        return self.result.returncode

    def wandb_run_dirs(self) -> list[Path]:
        return sorted((self.cwd / "wandb").glob("offline-run-*"))


def governed_env(endpoint: str, **extra: str) -> dict[str, str]:
    """The environment of a governed training run: a client of TEST_TEAMS (the `trainer`
    token in GENOPS_TOKEN; a processor without credentials ignores it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENOPS_", "OTEL_", "WANDB_"))}
    env.update(
        GENOPS_TOKEN=token_of("trainer"),
        WANDB_MODE="offline",
        WANDB_SILENT="true",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{endpoint}",
        GENOPS_TEAM="ml-team",
        GENOPS_PROJECT="churn",
        GENOPS_CUSTOMER_ID="acme",
        GENOPS_COST_CENTER="cc-42",
        GENOPS_ENVIRONMENT="staging",
        GENOPS_GPU_TYPE="T4",
        GENOPS_GPU_COUNT="2",
        GENOPS_CPU_COUNT="4",
        # Each run keeps decisions taken offline apart: never reported to another test.
        GENOPS_OFFLINE_SPOOL=os.path.join(tempfile.mkdtemp(prefix="genops-spool-"), "s.jsonl"),
        # Unacknowledged spans too: no test's spool is ever sent to another's processor.
        GENOPS_SPOOL_DIR=tempfile.mkdtemp(prefix="genops-spans-"),
    )
    env.update(extra)
    return env


def run_training(
    script: str, cwd: Path, env: dict[str, str], instrumented: bool = True, timeout: float = 120
) -> Training:
    cwd.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(SCRIPTS / script)]
    if instrumented:
        command.insert(0, str(BIN / "opentelemetry-instrument"))
    started = time.monotonic()
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    return Training(result, time.monotonic() - started, cwd)


def expected_cost_micros(run: pb.RunSummary, rates: dict[str, Decimal] = ROUND_RATES) -> int:
    """Hand computation: duration x devices x hourly rate, each line rounded half-even."""
    total = 0
    for sku, count in ((run.gpu_type, run.gpu_count), ("vcpu", run.cpu_count)):
        if count:
            dollars = Decimal(run.duration_ns) * count * rates[sku] / Decimal(3600 * 10**9)
            total += int((dollars * 1_000_000).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    return total


def run_python(code: str, cwd: Path, env: dict[str, str], timeout: float = 120):
    """Run a snippet in a fresh interpreter (a tracer provider is set once per process)."""
    cwd.mkdir(parents=True, exist_ok=True)
    script = cwd / "snippet.py"
    script.write_text(code)
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def adapter_env(endpoint: str, home: Path, **extra: str) -> dict[str, str]:
    """An environment for adapter scripts: processor at endpoint, no GENOPS_* attribution."""
    env = governed_env(endpoint, GENOPS_ENDPOINT=endpoint, HOME=str(home), **extra)
    for key in (
        "GENOPS_TEAM",
        "GENOPS_PROJECT",
        "GENOPS_CUSTOMER_ID",
        "GENOPS_COST_CENTER",
        "GENOPS_ENVIRONMENT",
    ):
        if key not in extra:
            env.pop(key)
    return env


def last_json_line(stdout: str):
    import json

    lines = [line for line in stdout.splitlines() if line.startswith(("{", "[", '"'))]
    assert lines, f"no JSON in output:\n{stdout}"
    return json.loads(lines[-1])

from __future__ import annotations

import os
import tempfile

import pytest

from tests import helpers
from tests.helpers import ROUND_CATALOG, SEED_GUIDE, shared_file, start_processor

# No test reads or leaves the user's ~/.genops spools: the suite gets spools of its own,
# inherited by every subprocess (governed_env gives each training run its own as well).
_SPOOLS = tempfile.mkdtemp(prefix="genops-test-spools-")
os.environ.setdefault("GENOPS_SPOOL_DIR", os.path.join(_SPOOLS, "spans"))
os.environ.setdefault("GENOPS_OFFLINE_SPOOL", os.path.join(_SPOOLS, "offline-decisions.jsonl"))


@pytest.fixture
def seed_guide():
    """The guide's path in ../shared/seed; skips the test, naming it, when it is absent.
    Ask for it before ``processor`` so that a skipped test starts none."""
    return shared_file(SEED_GUIDE)


@pytest.fixture
def admin_cli(monkeypatch):
    """``genops`` commands this test runs (they inherit the environment) authenticate as
    the test `admin` principal: GENOPS_TOKEN is its token for the test's duration."""
    if helpers.CREDENTIALS_ON:
        monkeypatch.setenv("GENOPS_TOKEN", helpers.token_of("admin"))


@pytest.fixture
def processor(tmp_path, admin_cli):
    """A real genops-processor on 127.0.0.1 (port 0) with the round-rate test catalog and
    the test credentials file (principals admin, auditor, approver, trainer:
    ``processor.stub(as_=...)``, ``processor.channel(as_=...)``; training runs from
    ``governed_env`` send the trainer token, ``genops`` commands the admin token)."""
    proc = start_processor(tmp_path, "--catalog", str(ROUND_CATALOG))
    yield proc
    assert proc.stop() == 0, "".join(proc.log)


@pytest.fixture
def start_processor_with(tmp_path, admin_cli):
    """Start a processor with extra arguments (e.g. --policy FILE); stopped after the test.
    ``credentials=False`` starts it without credentials (the loopback default)."""
    started = []

    def start(*extra: str, credentials: bool | None = None):
        proc = start_processor(
            tmp_path, "--catalog", str(ROUND_CATALOG), *extra, credentials=credentials
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def unused_port():
    """A loopback port nobody listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def instrumented(request, monkeypatch, tmp_path):
    """WandbInstrumentor on real wandb (offline) in this process, spans in memory.

    Budget checks are off here (no processor); the e2e tests cover them.
    ``@pytest.mark.heartbeat(seconds)`` sets the heartbeat interval (default 0.2 s).
    """
    from opentelemetry.instrumentation.wandb import WandbInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("GENOPS_BUDGET_CHECK", "false")
    monkeypatch.setenv("GENOPS_TEAM", "contract-team")
    monkeypatch.setenv("GENOPS_PROJECT", "contract-project")
    monkeypatch.setenv("GENOPS_GPU_TYPE", "T4")
    monkeypatch.setenv("GENOPS_GPU_COUNT", "1")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = WandbInstrumentor()
    marker = request.node.get_closest_marker("heartbeat")
    interval = marker.args[0] if marker else 0.2
    instrumentor.instrument(tracer_provider=provider, heartbeat_interval_s=interval)
    yield exporter
    instrumentor.uninstrument()

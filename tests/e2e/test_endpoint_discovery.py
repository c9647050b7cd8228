"""Behind a collector: with GENOPS_ENDPOINT unset the budget check asks the OTLP
endpoint; when that answers OTLP but not the governance API the user is told in one
line what to set, the fail mode decides, and the decision is audited later.

A bare OTLP sink on 127.0.0.1 (a real gRPC server implementing only TraceService
Export) plays the collector: what matters here is that it speaks gRPC and OTLP and
answers UNIMPLEMENTED to everything else, as a collector does.
"""

from __future__ import annotations

import os
import subprocess
import threading
from concurrent import futures

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as trace_grpc

from genops.providers.wandb_validation import validate_setup
from genops_processor import storage
from genops_processor.budgets import decisions
from genops_processor.record import audit_events
from tests.helpers import BIN, governed_env, run_training

HINT = "GENOPS_ENDPOINT"


class _Sink(trace_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.spans = 0
        self._lock = threading.Lock()

    def Export(self, request, context):  # noqa: N802 (the gRPC method's name)
        with self._lock:
            self.spans += sum(
                len(scope.spans) for rs in request.resource_spans for scope in rs.scope_spans
            )
        return trace_pb.ExportTraceServiceResponse()


class _Failing(grpc.GenericRpcHandler):
    """Every other method fails with ``code`` and details spanning several lines."""

    def __init__(self, code: grpc.StatusCode) -> None:
        self.code = code

    def service(self, handler_call_details):
        def fail(_request, context):
            context.abort(self.code, "first line\nsecond line\n\tthird line")

        return grpc.unary_unary_rpc_method_handler(fail)


def _serve(failing: grpc.StatusCode | None = None):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    sink = _Sink()
    trace_grpc.add_TraceServiceServicer_to_server(sink, server)
    if failing is not None:
        server.add_generic_rpc_handlers((_Failing(failing),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, sink, f"127.0.0.1:{port}"


@pytest.fixture
def otlp_sink():
    """An OTLP-only gRPC server on 127.0.0.1: a collector, as far as clients can tell."""
    server, sink, endpoint = _serve()
    sink.endpoint = endpoint
    yield sink
    server.stop(grace=None)


def _hint_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if HINT in line]


def test_behind_a_collector_the_check_says_what_to_set_and_the_decision_is_audited_later(
    otlp_sink, start_processor_with, tmp_path
):
    spool = tmp_path / "spool.jsonl"
    env = governed_env(otlp_sink.endpoint, GENOPS_OFFLINE_SPOOL=str(spool), TRAIN_SECONDS="0.2")
    assert "GENOPS_ENDPOINT" not in env

    opened = run_training("train_basic.py", tmp_path / "open", env)
    assert opened.returncode == 0, opened.result.stderr
    assert opened.result.stdout == "done: 25 steps\n"
    [hint] = _hint_lines(opened.result.stderr)
    assert otlp_sink.endpoint in hint and "OTLP" in hint and "UNIMPLEMENTED" in hint
    assert "runs proceed unchecked" in hint
    assert "Traceback" not in opened.result.stderr
    assert "_InactiveRpcError" not in opened.result.stderr
    assert otlp_sink.spans > 0  # spans do go to the "collector"

    closed = run_training(
        "train_basic.py", tmp_path / "closed", {**env, "GENOPS_BUDGET_FAIL_MODE": "closed"}
    )
    assert closed.returncode != 0
    assert closed.wandb_run_dirs() == []
    [refusal] = _hint_lines(closed.result.stderr)
    assert refusal.startswith("genops.errors.BudgetExceededError: budget check failed")
    assert otlp_sink.endpoint in refusal and "GENOPS_BUDGET_FAIL_MODE=closed" in refusal
    assert "_InactiveRpcError" not in closed.result.stderr
    assert len(spool.read_text().splitlines()) == 2

    assert f"GENOPS_OTLP_ENDPOINT={otlp_sink.endpoint}" in hint

    # The fix the line asks for: GENOPS_ENDPOINT names the processor, spans still go
    # to the collector. The decisions taken alone are reported to the processor.
    processor = start_processor_with()
    fixed = {
        **env,
        "GENOPS_ENDPOINT": processor.endpoint,
        "GENOPS_OTLP_ENDPOINT": f"http://{otlp_sink.endpoint}",
    }
    spans_before = otlp_sink.spans
    later = run_training("train_basic.py", tmp_path / "later", fixed)
    assert later.returncode == 0, later.result.stderr
    assert _hint_lines(later.result.stderr) == []
    assert otlp_sink.spans > spans_before
    assert not spool.exists()  # reported, so forgotten
    assert processor.stop() == 0
    with storage.Storage(processor.db, read_only=True) as db:
        logged = db.call(decisions.list_decisions)
        audited = db.call(lambda c: audit_events(c, "decision.offline"))
    offline = [d for d in logged if "decided by the client alone" in (d["message"] or "")]
    assert sorted(d["decision"] for d in offline) == ["allow", "deny"]
    assert all("UNIMPLEMENTED" in d["message"] for d in offline)
    assert {d["team"] for d in offline} == {"ml-team"}
    assert len(audited) == 2
    assert len(logged) == 3  # and the live decision of the last run


@pytest.mark.parametrize("code", [grpc.StatusCode.INTERNAL, grpc.StatusCode.PERMISSION_DENIED])
def test_any_grpc_failure_of_the_check_is_told_in_one_line_once(code, tmp_path):
    server, _sink, endpoint = _serve(failing=code)
    try:
        env = governed_env(endpoint, TRAIN_SECONDS="0.2")
        result = run_training("train_basic.py", tmp_path / "job", env)
    finally:
        server.stop(grace=None)
    assert result.returncode == 0, result.result.stderr
    told = [line for line in result.result.stderr.splitlines() if "genops:" in line]
    if code is grpc.StatusCode.PERMISSION_DENIED:  # a refusal: also says what to do
        answered = (
            f"the processor at {endpoint} refused CheckBudget: {code.name}: first line "
            "second line third line (the token's principal lacks this right: ask an admin "
            "for a token that has it)"
        )
    else:
        answered = (
            f"governance API at {endpoint} answered {code.name}: first line second line third line"
        )
    assert told == [f"genops: {answered}; budget fail mode is open, runs proceed unchecked"]
    assert "Traceback" not in result.result.stderr


def test_validate_setup_names_the_variable_behind_a_collector(otlp_sink, monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith(("GENOPS_", "OTEL_", "WANDB_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("GENOPS_TEAM", "ml-team")
    monkeypatch.setenv("GENOPS_PROJECT", "churn")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://{otlp_sink.endpoint}")
    result = validate_setup(include_connectivity_tests=True, include_governance_tests=True)
    checks = {check.name: check for check in result.checks}
    assert checks["OTLP export"].status == "passed"
    for name in ("processor reachable", "budget check", "budget status"):
        check = checks[name]
        assert check.status == "failed", check
        assert otlp_sink.endpoint in check.message and "UNIMPLEMENTED" in check.message
        assert HINT in check.fix and "OTLP endpoint" in check.fix


def _genops(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "genops"), *args], capture_output=True, text=True, timeout=60)


def test_the_cli_tells_a_collector_from_nothing_listening(otlp_sink, unused_port):
    collector = _genops("report", "--endpoint", otlp_sink.endpoint)
    assert collector.returncode != 0
    [line] = collector.stderr.splitlines()
    assert otlp_sink.endpoint in line and "governance API" in line and HINT in line
    assert "cannot reach" not in line

    nothing = _genops("report", "--endpoint", f"127.0.0.1:{unused_port}")
    assert nothing.returncode != 0
    [line] = nothing.stderr.splitlines()
    assert "cannot reach" in line


@pytest.mark.parametrize(
    "command",
    [
        ("budgets", "show"),
        ("approvals",),
        ("approve", "some-id"),
        ("alerts", "list"),
        ("costs", "versions"),
    ],
)
def test_every_endpoint_command_tells_a_collector_apart(command, otlp_sink):
    result = _genops(*command, "--endpoint", otlp_sink.endpoint)
    assert result.returncode != 0
    [line] = result.stderr.splitlines()
    assert "governance API" in line and HINT in line and "Traceback" not in result.stderr

"""Every call is authenticated: a real processor with --credentials refuses a call with
no, a malformed, an unknown or a revoked token (UNAUTHENTICATED), serves a valid one,
and records exactly one ``access.refused`` audit event per refusal; without credentials
it serves everyone as the local operator, on loopback only."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from genops.governance.v1 import governance_pb2 as pb
from genops.governance.v1 import governance_pb2_grpc as pb_grpc
from genops_processor import storage
from genops_processor.api.authentication import AuthenticationInterceptor, Authenticator
from genops_processor.auth import CredentialsSource, context, credentials
from genops_processor.record import audit_events
from tests.helpers import BIN

GOV = "/genops.governance.v1.GovernanceService/"


class Started:
    def __init__(self, proc: subprocess.Popen, endpoint: str, db: Path, log: list[str]):
        self.proc, self.endpoint, self.db, self.log = proc, endpoint, db, log

    def stub(self, token: str | None = None, *, header: str | None = None):
        channel = grpc.insecure_channel(self.endpoint)
        metadata = []
        if header is not None:
            metadata.append(("authorization", header))
        elif token is not None:
            metadata.append(("authorization", f"Bearer {token}"))
        if metadata:
            channel = grpc.intercept_channel(channel, _Metadata(metadata))
        return pb_grpc.GovernanceServiceStub(channel)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def refusals(self) -> list[dict]:
        assert self.stop() == 0, "".join(self.log)
        with storage.Storage(self.db, read_only=True) as db:
            return db.call(lambda c: audit_events(c, "access.refused"))


class _Metadata(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    def __init__(self, metadata):
        self.metadata = metadata

    def _details(self, details):
        return details._replace(metadata=list(details.metadata or ()) + self.metadata)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._details(details), request)


def launch(tmp: Path, *args: str, listen: str = "127.0.0.1:0", wait: bool = True):
    """genops-processor with exactly these options; (Started | None, output so far)."""
    db = tmp / "genops.duckdb"
    proc = subprocess.Popen(
        [str(BIN / "genops-processor"), "--db", str(db), "--listen", listen, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    log: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            proc.wait(timeout=30)
            return None, "".join(log)
        log.append(line)
        match = re.search(r"listening on (\S+),", line)
        if match:
            return Started(proc, match.group(1), db, log), "".join(log)
    proc.kill()
    raise RuntimeError("processor did not start within 60 s")


@pytest.fixture
def creds(tmp_path):
    path = tmp_path / "credentials.yaml"
    tokens = {
        "admin": credentials.create(path, "admin", "admin"),
        "trainer": credentials.create(path, "trainer", "client", teams=["team-a"]),
    }
    return path, tokens


@pytest.fixture
def secured(tmp_path, creds):
    path, tokens = creds
    started, log = launch(tmp_path, "--credentials", str(path))
    assert started is not None, log
    yield started, tokens, path
    started.stop()


def _code(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value.code(), raised.value.details()


def status(stub):
    return stub.GetBudgetStatus(pb.GetBudgetStatusRequest(), timeout=10)


def test_a_valid_token_is_served(secured):
    processor, tokens, _ = secured
    assert isinstance(status(processor.stub(tokens["trainer"])), pb.GetBudgetStatusResponse)
    assert isinstance(status(processor.stub(tokens["admin"])), pb.GetBudgetStatusResponse)
    assert processor.refusals() == []


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing credentials: send 'authorization: Bearer <token>'"),
        ("Bearer genops_not-a-real-token", "unknown or revoked token"),
        ("Basic YWRtaW46YWRtaW4=", "authorization metadata must be 'Bearer <token>'"),
        ("Bearer ", "authorization metadata must be 'Bearer <token>'"),
        ("Bearer " + "x" * 9000, "bearer token longer than 8192 characters"),
        ("Bearer a.b.c", "JWTs are not accepted here (no --jwks configured)"),
    ],
    ids=["missing", "unknown", "basic", "empty", "huge", "jwt-not-configured"],
)
def test_a_call_without_valid_credentials_is_refused_and_audited(secured, header, message):
    processor, _, _ = secured
    stub = processor.stub(header=header)
    assert _code(lambda: status(stub)) == (grpc.StatusCode.UNAUTHENTICATED, message)
    refusals = processor.refusals()
    assert [(e["actor"], e["detail"]["code"], e["detail"]["reason"]) for e in refusals] == [
        ("anonymous", "UNAUTHENTICATED", message)
    ]
    assert refusals[0]["detail"]["method"] == GOV + "GetBudgetStatus"
    assert refusals[0]["detail"]["peer"].startswith("ipv4:127.0.0.1:")


def test_headers_past_the_metadata_limit_are_refused_every_time_and_the_server_serves_on(
    secured,
):
    """gRPC refuses at random between its default soft and hard metadata limits; the
    processor sets both to one value, so a header past it is refused by gRPC on every
    call (before our interceptor sees it) and one just below it reaches our check."""
    processor, tokens, _ = secured
    below = processor.stub(header="Bearer " + "x" * 20_000)
    above = processor.stub(header="Bearer " + "x" * 40_000)
    for _ in range(10):
        assert _code(lambda: status(below)) == (
            grpc.StatusCode.UNAUTHENTICATED,
            "bearer token longer than 8192 characters",
        )
        assert _code(lambda: status(above))[0] is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert isinstance(status(processor.stub(tokens["trainer"])), pb.GetBudgetStatusResponse)
    reasons = [e["detail"]["reason"] for e in processor.refusals()]
    assert reasons.count("bearer token longer than 8192 characters") == 10
    # gRPC may still hand the server the over-limit call with its headers dropped: then it
    # is refused (and audited) as carrying no credentials; it is never served.
    assert set(reasons) <= {
        "bearer token longer than 8192 characters",
        "missing credentials: send 'authorization: Bearer <token>'",
    }


def test_otlp_export_without_a_token_is_refused_and_nothing_is_read(secured):
    processor, tokens, _ = secured
    channel = grpc.insecure_channel(processor.endpoint)
    export = trace_service_pb2_grpc.TraceServiceStub(channel).Export
    code, _ = _code(lambda: export(trace_service_pb2.ExportTraceServiceRequest(), timeout=10))
    assert code is grpc.StatusCode.UNAUTHENTICATED
    authed = grpc.intercept_channel(
        channel, _Metadata([("authorization", f"Bearer {tokens['trainer']}")])
    )
    answer = trace_service_pb2_grpc.TraceServiceStub(authed).Export(
        trace_service_pb2.ExportTraceServiceRequest(), timeout=10
    )
    assert answer == trace_service_pb2.ExportTraceServiceResponse()
    assert [e["detail"]["method"] for e in processor.refusals()] == [
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
    ]


def test_a_revoked_token_is_refused_without_a_restart(secured):
    processor, tokens, path = secured
    stub = processor.stub(tokens["trainer"])
    status(stub)
    credentials.revoke(path, "trainer")
    deadline = time.monotonic() + 30  # the file is re-read within about a second
    while time.monotonic() < deadline:
        try:
            status(stub)
        except grpc.RpcError as error:
            assert (error.code(), error.details()) == (
                grpc.StatusCode.UNAUTHENTICATED,
                "unknown or revoked token",
            )
            break
        time.sleep(0.2)
    else:
        pytest.fail("a revoked token was still served after 30 s")
    status(processor.stub(tokens["admin"]))  # the others are untouched


def test_a_client_on_an_admin_rpc_is_denied_and_audited_as_itself(secured):
    processor, tokens, _ = secured
    stub = processor.stub(tokens["trainer"])
    code, message = _code(lambda: stub.SetBudget(pb.SetBudgetRequest(), timeout=10))
    assert code is grpc.StatusCode.PERMISSION_DENIED
    assert "trainer" in message and "SetBudget" in message
    refusals = processor.refusals()
    assert [(e["actor"], e["detail"]["code"]) for e in refusals] == [
        ("trainer", "PERMISSION_DENIED")
    ]


def test_a_token_sent_to_an_open_processor_is_ignored(tmp_path):
    """No credentials configured: every caller is the local operator, token or not."""
    started, log = launch(tmp_path)
    assert started is not None, log
    try:
        status(started.stub())
        status(started.stub("genops_whatever"))
    finally:
        assert started.stop() == 0


# -- in process: the handler sees the principal ------------------------------------------
def test_the_handler_sees_the_authenticated_principal(creds):
    asyncio.run(asyncio.wait_for(_serve_whoami(*creds), 60))


async def _serve_whoami(path: Path, tokens: dict[str, str]) -> None:
    refused: list[tuple] = []

    async def record(*args):
        refused.append(args)

    async def whoami(request, ctx):
        principal = context.current()
        return f"{principal.name}/{principal.role.value}/{principal.method}".encode()

    async def stream(request, ctx):
        for _ in range(2):
            yield context.current().name.encode()

    handlers = grpc.method_handlers_generic_handler(
        "test.Who",
        {
            "Am": grpc.unary_unary_rpc_method_handler(whoami),
            "Stream": grpc.unary_stream_rpc_method_handler(stream),
        },
    )
    interceptor = AuthenticationInterceptor(
        Authenticator(CredentialsSource(path)),
        record,
        lambda method, principal: "no" if method.endswith("Denied") else None,
    )
    server = grpc.aio.server(interceptors=[interceptor])
    server.add_generic_rpc_handlers([handlers])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            auth = (("authorization", f"Bearer {tokens['trainer']}"),)
            am = channel.unary_unary("/test.Who/Am")
            assert await am(b"", metadata=auth, timeout=10) == b"trainer/client/token"
            streamed = channel.unary_stream("/test.Who/Stream")
            assert [r async for r in streamed(b"", metadata=auth, timeout=10)] == [b"trainer"] * 2
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await am(b"", timeout=10)
            assert error.value.code() is grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await channel.unary_unary("/test.Who/Denied")(b"", metadata=auth, timeout=10)
            assert error.value.code() is grpc.StatusCode.UNIMPLEMENTED  # unknown: not audited
    finally:
        await server.stop(None)
    assert [r[0] for r in refused] == ["anonymous"]
    assert context.current_or_none() is None


# -- secure by default -------------------------------------------------------------------
def test_without_credentials_it_refuses_a_non_loopback_address(tmp_path, creds):
    started, log = launch(tmp_path, listen="0.0.0.0:0")
    assert started is None
    assert log.strip() == (
        "genops-processor: --listen 0.0.0.0:0: without credentials every caller is an admin, "
        "so the processor serves only on loopback; give --credentials (or --jwks, "
        "--tls-client-ca) or --insecure"
    )
    for args in (["--insecure"], ["--credentials", str(creds[0])]):
        started, log = launch(tmp_path, *args, listen="0.0.0.0:0")
        assert started is not None, log
        assert started.stop() == 0


def _get(url: str, token: str | None = None) -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            body = answer.read().decode()
            assert "genops_spans_received_total" in body
            return answer.status
    except urllib.error.HTTPError as error:
        assert b"genops_" not in error.read()
        return error.code


def test_metrics_bind_loopback_and_need_the_token_off_it(tmp_path):
    started, log = launch(tmp_path, "--metrics-listen", ":0")
    assert started is not None, log
    try:
        url = re.search(r"metrics on (\S+)", log).group(1)
        assert url.startswith("http://127.0.0.1:")
        assert _get(url) == 200
    finally:
        assert started.stop() == 0

    started, log = launch(tmp_path, "--metrics-listen", "0.0.0.0:0")
    assert started is None
    assert "--metrics-listen 0.0.0.0:0: /metrics shows every team's cost" in log

    token = "metrics-scraper-secret-0123456789"
    started, log = launch(tmp_path, "--metrics-listen", "0.0.0.0:0", "--metrics-token", token)
    assert started is not None, log
    try:
        port = re.search(r"metrics on http://[^:]+:(\d+)/metrics", log).group(1)
        url = f"http://127.0.0.1:{port}/metrics"
        assert _get(url) == 401
        assert _get(url, "wrong-token") == 401
        assert _get(url, token[:-1]) == 401
        assert _get(url, token) == 200
    finally:
        assert started.stop() == 0

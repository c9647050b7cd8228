"""genops.transport: the one place clients build channels. A real gRPC server on
127.0.0.1 records what every client sends (bearer token, headers) and refuses on
demand; TLS and mutual TLS use certificates generated here."""

from __future__ import annotations

import logging
from concurrent import futures

import grpc
import pytest
from opentelemetry.instrumentation.wandb.export import GovernanceSpanExporter

from genops.config import ConfigError, ExportSettings, InstrumentationSettings
from genops.governance.v1 import governance_pb2 as pb
from genops.governance_client import GovernanceClient, GovernanceRefused, GovernanceUnavailable
from genops.transport import ChannelSecurity, open_channel, parse_target
from tests.e2e.test_tls import Ca

TOKEN = "genops_0123456789abcdef"


class Recorder(grpc.GenericRpcHandler):
    """Answers every method with an empty message, or refuses with ``refuse``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.refuse: grpc.StatusCode | None = None

    def service(self, details):
        def handle(request, context):
            self.calls.append((details.method, dict(context.invocation_metadata())))
            if self.refuse is not None:
                context.abort(self.refuse, "missing credentials: send 'authorization: Bearer'")
            return b""

        return grpc.unary_unary_rpc_method_handler(handle)

    def tokens(self) -> list[str | None]:
        return [metadata.get("authorization") for _, metadata in self.calls]


def _serve(credentials: grpc.ServerCredentials | None = None):
    recorder = Recorder()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), handlers=[recorder])
    if credentials is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    return server, recorder, f"127.0.0.1:{port}"


@pytest.fixture
def plain():
    server, recorder, target = _serve()
    yield recorder, target
    server.stop(None)


@pytest.fixture
def pki(tmp_path):
    ca, client_ca = Ca("server-ca"), Ca("client-ca")
    cert, key = ca.issue("localhost", server=True)
    client_cert, client_key = client_ca.issue("trainer-host")
    files = {
        "ca": ca.pem(),
        "cert": cert,
        "key": key,
        "client_ca": client_ca.pem(),
        "client_cert": client_cert,
        "client_key": client_key,
        "other_ca": Ca("other-ca").pem(),
    }
    for name, data in files.items():
        (tmp_path / f"{name}.pem").write_bytes(data)
    return {name: tmp_path / f"{name}.pem" for name in files}


# -- the token on every client call ---------------------------------------------------------
def test_governance_client_sends_genops_token_on_every_call(plain):
    recorder, target = plain
    settings = InstrumentationSettings.from_env({"GENOPS_ENDPOINT": target, "GENOPS_TOKEN": TOKEN})
    client = GovernanceClient(target, security=settings.governance_security)
    client.list_runs(pb.ListRunsRequest())
    client.check_budget(pb.CheckBudgetRequest())
    client.close()
    assert recorder.tokens() == [f"Bearer {TOKEN}"] * 2


def test_exporter_and_cli_send_the_token(plain, monkeypatch):
    from click.testing import CliRunner

    from genops_processor.cli.main import genops_main

    recorder, target = plain
    export = ExportSettings.from_env({"GENOPS_ENDPOINT": target, "GENOPS_TOKEN": TOKEN})
    exporter = GovernanceSpanExporter(target, security=export.security, spool=None)
    assert exporter._send(b"") is None
    exporter.shutdown()
    monkeypatch.delenv("GENOPS_TOKEN", raising=False)
    result = CliRunner().invoke(
        genops_main, ["report", "--endpoint", f"http://{target}", "--token", "genops_cli1"]
    )
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("GENOPS_TOKEN", "genops_env1")
    result = CliRunner().invoke(genops_main, ["approvals", "--endpoint", target])
    assert result.exit_code == 0, result.output
    methods = [method.rsplit("/", 1)[1] for method, _ in recorder.calls]
    assert methods[0] == "Export" and "ListRuns" in methods and "ListApprovals" in methods
    tokens = recorder.tokens()
    assert tokens[0] == f"Bearer {TOKEN}"
    assert set(tokens[1 : methods.index("ListApprovals")]) == {"Bearer genops_cli1"}
    assert set(tokens[methods.index("ListApprovals") :]) == {"Bearer genops_env1"}


def test_no_token_sends_no_authorization(plain):
    recorder, target = plain
    client = GovernanceClient(target, security=ChannelSecurity())
    client.list_runs(pb.ListRunsRequest())
    client.close()
    assert recorder.tokens() == [None]


def test_otel_headers_apply_only_to_an_otel_endpoint_and_genops_token_wins(plain):
    _, target = plain
    headers = "authorization=Bearer%20genops_fromheaders,x-tenant=ml"
    via_otel = ExportSettings.from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{target}", "OTEL_EXPORTER_OTLP_HEADERS": headers}
    )
    assert dict(via_otel.security.metadata()) == {
        "authorization": "Bearer genops_fromheaders",
        "x-tenant": "ml",
    }
    traces_first = ExportSettings.from_env(
        {
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": target,
            "OTEL_EXPORTER_OTLP_HEADERS": headers,
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-tenant=cv",
        }
    )
    assert dict(traces_first.security.metadata()) == {"x-tenant": "cv"}
    both = ExportSettings.from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": target, "OTEL_EXPORTER_OTLP_HEADERS": headers,
         "GENOPS_TOKEN": TOKEN}
    )  # fmt: skip
    assert dict(both.security.metadata())["authorization"] == f"Bearer {TOKEN}"
    # The user's OTEL headers are for their collector: never sent to GENOPS_ENDPOINT.
    genops = ExportSettings.from_env(
        {"GENOPS_ENDPOINT": target, "OTEL_EXPORTER_OTLP_HEADERS": headers}
    )
    assert genops.security.metadata() == ()
    governance = InstrumentationSettings.from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": target, "OTEL_EXPORTER_OTLP_HEADERS": headers}
    )
    assert governance.governance_security.metadata() == ()


def test_the_token_never_prints():
    settings = InstrumentationSettings.from_env({"GENOPS_TOKEN": TOKEN})
    export = ExportSettings.from_env({"GENOPS_TOKEN": TOKEN})
    assert TOKEN not in repr(settings) and TOKEN not in repr(export)
    with pytest.raises(ConfigError) as bad:
        InstrumentationSettings.from_env({"GENOPS_TOKEN": "genops_abc\nX-Injected: 1"})
    assert "GENOPS_TOKEN" in str(bad.value) and "genops_abc" not in str(bad.value)


# -- TLS -------------------------------------------------------------------------------------
def test_https_endpoint_is_verified_with_genops_ca(pki):
    server_credentials = grpc.ssl_server_credentials(
        [(pki["key"].read_bytes(), pki["cert"].read_bytes())]
    )
    server, recorder, target = _serve(server_credentials)
    try:
        env = {"GENOPS_ENDPOINT": f"https://{target}", "GENOPS_CA": str(pki["ca"]),
               "GENOPS_TOKEN": TOKEN}  # fmt: skip
        settings = InstrumentationSettings.from_env(env)
        assert settings.governance_secure
        client = GovernanceClient(
            target, True, security=settings.governance_security, retry_attempts=0
        )
        client.list_runs(pb.ListRunsRequest())
        client.close()
        assert recorder.tokens() == [f"Bearer {TOKEN}"]
        # Hostile: a client trusting another CA never sends its token to this server.
        other = InstrumentationSettings.from_env({**env, "GENOPS_CA": str(pki["other_ca"])})
        client = GovernanceClient(target, True, security=other.governance_security, timeout_s=2)
        with pytest.raises(GovernanceUnavailable):
            client.list_runs(pb.ListRunsRequest())
        client.close()
        assert len(recorder.calls) == 1
    finally:
        server.stop(None)


def test_mutual_tls_presents_the_client_certificate(pki):
    server_credentials = grpc.ssl_server_credentials(
        [(pki["key"].read_bytes(), pki["cert"].read_bytes())],
        root_certificates=pki["client_ca"].read_bytes(),
        require_client_auth=True,
    )
    server, recorder, target = _serve(server_credentials)
    try:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"https://{target}",
               "OTEL_EXPORTER_OTLP_CERTIFICATE": str(pki["ca"])}  # fmt: skip
        without = ExportSettings.from_env(env)
        exporter = GovernanceSpanExporter(target, secure=True, security=without.security)
        assert exporter._send(b"") is not None  # no client certificate: handshake fails
        exporter.shutdown()
        assert recorder.calls == []
        with_cert = ExportSettings.from_env(
            {
                **env,
                "GENOPS_CLIENT_CERT": str(pki["client_cert"]),
                "GENOPS_CLIENT_KEY": str(pki["client_key"]),
            }  # fmt: skip
        )
        assert with_cert.security.mutual_tls
        exporter = GovernanceSpanExporter(target, secure=True, security=with_cert.security)
        assert exporter._send(b"") is None
        exporter.shutdown()
        assert len(recorder.calls) == 1
    finally:
        server.stop(None)


@pytest.mark.parametrize(
    "env, named",
    [
        ({"GENOPS_CA": "/nonexistent/ca.pem"}, "GENOPS_CA"),
        (
            {"OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/ca.pem"},
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
        ),
        ({"GENOPS_CLIENT_CERT": "/x/cert.pem"}, "GENOPS_CLIENT_CERT"),
        ({"GENOPS_CLIENT_KEY": "/x/key.pem"}, "GENOPS_CLIENT_KEY"),
    ],
)
def test_bad_transport_settings_name_the_variable(env, named):
    with pytest.raises(ConfigError) as bad:
        InstrumentationSettings.from_env(env)
    assert named in str(bad.value)


def test_a_ca_file_that_is_not_pem_is_refused(tmp_path):
    (tmp_path / "ca.pem").write_text("not a certificate")
    with pytest.raises(ConfigError, match="GENOPS_CA.*not a PEM file"):
        InstrumentationSettings.from_env({"GENOPS_CA": str(tmp_path / "ca.pem")})


def test_parse_target():
    assert parse_target("https://proc.example:4443") == ("proc.example:4443", True)
    assert parse_target("http://127.0.0.1:4317") == ("127.0.0.1:4317", False)
    assert parse_target("localhost:4317") == ("localhost:4317", False)


def test_a_token_in_plain_text_off_loopback_is_warned_once(caplog):
    security = ChannelSecurity(token=TOKEN)
    with caplog.at_level(logging.WARNING, logger="genops.transport"):
        for _ in range(3):
            open_channel("10.255.255.1:4317", False, security).close()
        open_channel("127.0.0.1:4317", False, security).close()
    warned = [r for r in caplog.records if "plain text" in r.getMessage()]
    assert len(warned) == 1 and TOKEN not in warned[0].getMessage()


# -- refusals --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "code", [grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED]
)
def test_a_refused_call_is_a_governance_refusal_with_a_hint(plain, code):
    recorder, target = plain
    recorder.refuse = code
    client = GovernanceClient(target, security=ChannelSecurity(), retry_attempts=3)
    with pytest.raises(GovernanceRefused) as refused:
        client.list_runs(pb.ListRunsRequest())
    client.close()
    assert len(recorder.calls) == 1  # never retried
    assert refused.value.code() is code
    assert isinstance(refused.value, grpc.RpcError)
    assert isinstance(refused.value, GovernanceUnavailable)  # callers fail open or closed
    hint = "GENOPS_TOKEN" if code is grpc.StatusCode.UNAUTHENTICATED else "right"
    assert hint in str(refused.value) and "\n" not in str(refused.value)


def test_a_refused_export_warns_once_keeps_the_spans_and_never_raises(plain, tmp_path, caplog):
    from opentelemetry.instrumentation.wandb.spool import Spool
    from opentelemetry.sdk.trace import TracerProvider

    recorder, target = plain
    recorder.refuse = grpc.StatusCode.UNAUTHENTICATED
    spool = Spool(tmp_path / "spool", 1024 * 1024, target)
    exporter = GovernanceSpanExporter(
        target, security=ChannelSecurity(), spool=spool, probe_interval_s=0.0
    )
    tracer = TracerProvider().get_tracer("t")
    with caplog.at_level(logging.WARNING):
        for i in range(3):
            span = tracer.start_span(f"s{i}")
            span.end()
            exporter.export([span])
    exporter.shutdown()
    refusals = [
        r for r in caplog.records if "refused the W&B governance telemetry" in r.getMessage()
    ]
    assert len(refusals) == 1, [r.getMessage() for r in caplog.records]
    assert "GENOPS_TOKEN" in refusals[0].getMessage()
    assert "training continues" in refusals[0].getMessage()
    assert len(spool) == 3  # a corrected token delivers them later
    spool.close()


def test_cli_endpoint_and_token_resolution():
    import click

    from genops_processor.cli.endpoint import resolve

    where = resolve("https://proc.example:4443", "genops_opt", environ={"GENOPS_TOKEN": "genops_e"})
    assert (where.target, where.secure, where.security.token) == (
        "proc.example:4443",
        True,
        "genops_opt",
    )
    assert resolve(None, None, environ={"GENOPS_TOKEN": "genops_e"}).security.token == "genops_e"
    assert resolve(None, environ={}).target == "localhost:4317"
    with pytest.raises(click.UsageError, match="GENOPS_CA"):
        resolve("https://proc.example:4443", environ={"GENOPS_CA": "/no/such/ca.pem"})
    with pytest.raises(click.UsageError, match="--endpoint"):
        resolve("https://proc.example:99999", environ={})
    with pytest.raises(click.UsageError, match="--token") as bad:
        resolve(None, "genops_x\r\nx-evil: 1", environ={})
    assert "genops_x" not in str(bad.value)

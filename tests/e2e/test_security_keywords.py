"""The guide's security keywords, against real processors (certificates generated here).

``enable_encryption_in_transit`` refuses a plain-text endpoint before anything is sent
and accepts an https:// one; ``require_mfa`` and ``enable_encryption_at_rest`` ask the
processor (GetSecurityPosture) and refuse, naming the keyword and the reason, what it
does not enforce; ``security_level`` classifies runs (stored on the run) and artifacts,
and a span claiming a level that does not exist is rejected."""

from __future__ import annotations

import json
import time

import grpc
import pytest
import yaml
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as trace_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from genops import attributes as attr
from genops.governance.v1 import governance_pb2 as pb
from genops.governance.v1 import governance_pb2_grpc as pb_grpc
from genops_processor import storage
from tests.e2e.test_tls import Ca
from tests.helpers import (
    ROUND_CATALOG,
    adapter_env,
    channel,
    last_json_line,
    run_python,
    start_processor,
)

MAKE_ADAPTER = r"""
import json
from genops.providers.wandb import instrument_wandb
try:
    instrument_wandb(team="ml-team", project="sec", __KEYWORDS__)
    print(json.dumps({"made": True}))
except Exception as error:
    print(json.dumps({"made": False, "type": type(error).__name__, "error": str(error)}))
"""


def _env(endpoint: str, home, **overrides: str) -> dict[str, str]:
    env = adapter_env(endpoint, home)
    env.update(overrides)
    return env


def _make(keywords: str, env: dict[str, str], cwd) -> dict:
    result = run_python(MAKE_ADAPTER.replace("__KEYWORDS__", keywords), cwd, env)
    assert result.returncode == 0, result.stderr
    return last_json_line(result.stdout) | {"stderr": result.stderr}


@pytest.fixture
def pki(tmp_path):
    ca = Ca("server-ca")
    cert, key = ca.issue("localhost", server=True)
    paths = {}
    for name, data in {"ca": ca.pem(), "cert": cert, "key": key}.items():
        paths[name] = tmp_path / f"{name}.pem"
        paths[name].write_bytes(data)
    return paths


@pytest.fixture
def started():
    procs = []
    yield procs
    for proc in procs:
        proc.stop()


def _start(started, tmp, *extra, credentials=True):
    tmp.mkdir(parents=True, exist_ok=True)
    proc = start_processor(tmp, "--catalog", str(ROUND_CATALOG), *extra, credentials=credentials)
    started.append(proc)
    return proc


# -- enable_encryption_in_transit ------------------------------------------------------------
def test_encryption_in_transit_refuses_a_plain_text_endpoint(tmp_path, started):
    proc = _start(started, tmp_path / "p")
    env = _env(proc.endpoint, tmp_path, GENOPS_ENDPOINT=f"http://{proc.endpoint}")
    out = _make("enable_encryption_in_transit=True", env, tmp_path / "job")
    assert out["made"] is False and out["type"] == "SecurityRequirementError"
    assert "enable_encryption_in_transit=True" in out["error"]
    assert f"the governance endpoint {proc.endpoint}" in out["error"]
    assert "https://" in out["error"]
    assert proc.runs() == []
    # without the keyword the same endpoint is fine
    assert _make("", env, tmp_path / "job2")["made"] is True


def test_encryption_in_transit_refuses_a_plain_text_otlp_endpoint_too(tmp_path, pki, started):
    proc = _start(
        started, tmp_path / "p", "--tls-cert", str(pki["cert"]), "--tls-key", str(pki["key"])
    )
    env = _env(
        proc.endpoint,
        tmp_path,
        GENOPS_ENDPOINT=f"https://{proc.endpoint}",
        GENOPS_CA=str(pki["ca"]),
        GENOPS_OTLP_ENDPOINT="http://127.0.0.1:4318",  # a collector, in plain text
    )
    out = _make("enable_encryption_in_transit=True", env, tmp_path / "job")
    assert out["made"] is False
    assert "the OTLP endpoint (GENOPS_OTLP_ENDPOINT) 127.0.0.1:4318" in out["error"]


def test_encryption_in_transit_runs_governed_over_tls(tmp_path, pki, started):
    proc = _start(
        started, tmp_path / "p", "--tls-cert", str(pki["cert"]), "--tls-key", str(pki["key"])
    )
    env = _env(
        proc.endpoint,
        tmp_path,
        GENOPS_ENDPOINT=f"https://{proc.endpoint}",
        GENOPS_CA=str(pki["ca"]),
    )
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT")
    script = r"""
import json, wandb
from genops.providers.wandb import instrument_wandb
instrument_wandb(team="ml-team", project="sec", enable_encryption_in_transit=True)
run = wandb.init(project="sec", name="tls")
wandb.log({"loss": 1.0})
run.finish()
print(json.dumps({"ok": True}))
"""
    result = run_python(script, tmp_path / "job", env)
    assert result.returncode == 0, result.stderr
    assert "refused" not in result.stderr and "cannot export" not in result.stderr, result.stderr
    secure = grpc.ssl_channel_credentials(pki["ca"].read_bytes())
    with grpc.secure_channel(proc.endpoint, secure) as tls:
        stub = pb_grpc.GovernanceServiceStub(tls)
        metadata = [("authorization", f"Bearer {proc.tokens['admin']}")]
        runs = stub.ListRuns(pb.ListRunsRequest(), timeout=10, metadata=metadata).runs
        posture = stub.GetSecurityPosture(
            pb.GetSecurityPostureRequest(), timeout=10, metadata=metadata
        )
    assert [r.run_name for r in runs] == ["tls"]
    assert posture.tls and posture.authentication == "token"


# -- require_mfa and enable_encryption_at_rest -----------------------------------------------
def test_require_mfa_refused_by_a_processor_without_it(tmp_path, started):
    proc = _start(started, tmp_path / "p")
    env = _env(proc.endpoint, tmp_path)
    out = _make("require_mfa=True", env, tmp_path / "job")
    assert out["made"] is False and out["type"] == "SecurityRequirementError"
    assert "require_mfa=True" in out["error"] and "require_mfa_for_admin" in out["error"]


def test_require_mfa_accepted_when_the_processor_requires_it(tmp_path, started):
    proc = _start(started, tmp_path / "p")
    data = yaml.safe_load(proc.credentials.read_text())
    data["require_mfa_for_admin"] = True
    proc.credentials.write_text(yaml.safe_dump(data))  # the processor re-reads it (≤ 1 s)
    stub = proc.stub("trainer")
    for _ in range(100):
        if stub.GetSecurityPosture(
            pb.GetSecurityPostureRequest(), timeout=10
        ).mfa_required_for_admin:
            break
        time.sleep(0.1)
    out = _make("require_mfa=True", _env(proc.endpoint, tmp_path), tmp_path / "job")
    assert out["made"] is True, out


def test_encryption_at_rest_is_refused_honestly(tmp_path, started):
    proc = _start(started, tmp_path / "p")
    out = _make("enable_encryption_at_rest=True", _env(proc.endpoint, tmp_path), tmp_path / "j")
    assert out["made"] is False
    assert "enable_encryption_at_rest=True" in out["error"]
    assert "DuckDB" in out["error"] and "encrypted volume" in out["error"]


def test_an_unreachable_processor_fails_open_or_closed(tmp_path, unused_port):
    env = _env(f"127.0.0.1:{unused_port}", tmp_path, GENOPS_RETRY_ATTEMPTS="0")
    opened = _make("require_mfa=True", env, tmp_path / "open")
    assert opened["made"] is True
    assert opened["stderr"].count("cannot verify require_mfa") == 1
    closed = _make("require_mfa=True", {**env, "GENOPS_BUDGET_FAIL_MODE": "closed"}, tmp_path / "c")
    assert closed["made"] is False and "cannot verify require_mfa" in closed["error"]


def test_security_posture_reports_what_is_enforced(tmp_path, started):
    loose = _start(started, tmp_path / "loose", credentials=False)
    posture = loose.stub(None).GetSecurityPosture(pb.GetSecurityPostureRequest(), timeout=10)
    assert (posture.tls, posture.authentication, posture.ledger_encrypted_at_rest) == (
        False,
        "none",
        False,
    )
    assert any("plain text" in r for r in posture.reasons)
    strict = _start(started, tmp_path / "strict")
    # every role may ask; no token may not
    assert strict.stub("auditor").GetSecurityPosture(pb.GetSecurityPostureRequest(), timeout=10)
    with pytest.raises(grpc.RpcError) as refused:
        strict.stub(None).GetSecurityPosture(pb.GetSecurityPostureRequest(), timeout=10)
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED


# -- security_level ----------------------------------------------------------------------------
CLASSIFIED = r"""
import json, wandb
from genops.providers.wandb import instrument_wandb
instrument_wandb(team="ml-team", project="sec", security_level="Confidential")
run = wandb.init(project="sec", name="classified")
with open("w.bin", "wb") as fh:
    fh.write(b"0" * 10)
artifact = wandb.Artifact("weights", type="model")
artifact.add_file("w.bin")
run.log_artifact(artifact)
run.finish()
print(json.dumps({"ok": True}))
"""


def test_security_level_classifies_the_run_and_its_artifacts(tmp_path, started):
    proc = _start(started, tmp_path / "p")
    result = run_python(CLASSIFIED, tmp_path / "job", _env(proc.endpoint, tmp_path))
    assert result.returncode == 0, result.stderr
    [run] = proc.runs()
    assert run.security_level == "confidential"
    assert proc.stop() == 0
    with storage.Storage(proc.db, read_only=True) as db:
        rows = db.call(
            lambda c: c.execute(
                "SELECT name, attributes FROM spans WHERE name IN ('wandb.run', 'wandb.artifact')"
            ).fetchall()
        )
        stored = db.call(lambda c: c.execute("SELECT security_level FROM runs").fetchall())
    assert stored == [("confidential",)]
    levels = {name: json.loads(attrs).get(attr.SECURITY_LEVEL) for name, attrs in rows}
    assert levels == {"wandb.run": "confidential", "wandb.artifact": "confidential"}


def test_an_unknown_security_level_is_refused_by_name(tmp_path):
    env = _env("127.0.0.1:1", tmp_path)
    out = _make('security_level="top-secret"', env, tmp_path / "job")
    assert out["made"] is False and out["type"] == "ConfigError"
    assert "security_level" in out["error"] and "restricted" in out["error"]


def test_a_span_claiming_an_unknown_level_is_rejected(tmp_path, started):
    proc = _start(started, tmp_path / "p")

    def span(level: str, span_id: bytes) -> trace_pb2.Span:
        values = {
            attr.TEAM: "ml-team",
            attr.RUN_KEY: "hostile-run-" + span_id.hex(),
            attr.WANDB_RUN_ID: "r" + span_id.hex(),
            attr.RUN_STATUS: "running",
            attr.SECURITY_LEVEL: level,
        }
        return trace_pb2.Span(
            trace_id=b"\x01" * 16,
            span_id=span_id,
            name=attr.SPAN_HEARTBEAT,
            start_time_unix_nano=time.time_ns(),
            end_time_unix_nano=time.time_ns(),
            attributes=[
                common_pb2.KeyValue(key=k, value=common_pb2.AnyValue(string_value=v))
                for k, v in values.items()
            ],
        )

    request = trace_pb.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                scope_spans=[trace_pb2.ScopeSpans(spans=[span("top-secret", b"\x02" * 8)])]
            )
        ]
    )
    with channel(proc.endpoint, "trainer") as ch:
        answer = trace_grpc.TraceServiceStub(ch).Export(request, timeout=10)
    assert answer.partial_success.rejected_spans == 1
    assert attr.SECURITY_LEVEL in answer.partial_success.error_message


def test_encryption_at_rest_accepted_when_the_operator_attests_it(tmp_path, started):
    # no dm-crypt device exists here: only the attestation can make the ledger encrypted,
    # and the posture says it was attested, not detected
    flag = _start(started, tmp_path / "flag", "--ledger-on-encrypted-volume")
    posture = flag.stub("trainer").GetSecurityPosture(pb.GetSecurityPostureRequest(), timeout=10)
    assert posture.ledger_encrypted_at_rest is True
    assert posture.ledger_encryption == "attested by the operator"
    assert any("attested by the operator" in r and "no dm-crypt" in r for r in posture.reasons)
    out = _make("enable_encryption_at_rest=True", _env(flag.endpoint, tmp_path), tmp_path / "j")
    assert out["made"] is True, out


def test_encryption_at_rest_attestation_by_environment_and_its_bad_values(tmp_path, monkeypatch):
    from genops_processor.settings import ProcessorSettings, SettingsError

    on = ProcessorSettings.resolve({"GENOPS_LEDGER_ON_ENCRYPTED_VOLUME": "1"})
    assert on.ledger_on_encrypted_volume is True
    assert ProcessorSettings.resolve({}).ledger_on_encrypted_volume is False
    with pytest.raises(SettingsError, match="GENOPS_LEDGER_ON_ENCRYPTED_VOLUME"):
        ProcessorSettings.resolve({"GENOPS_LEDGER_ON_ENCRYPTED_VOLUME": "probably"})

"""genops.security.SecurityManager in a real interpreter against a real processor (with
credentials): data access, checkpoints and reports end as audit events of the
authenticated principal, never with the data; checkpoints fail closed under enforced;
another team's events are refused; scheduled reports run on the monitoring scheduler."""

from __future__ import annotations

import grpc
import pytest

from genops.governance.v1 import governance_pb2 as pb
from genops_processor import storage
from genops_processor.record import audit_events
from tests.helpers import adapter_env, last_json_line, run_python

SECRET = "PII-VALUE-4111111111111111"  # a recognisable card number passed as the data

SCRIPT = r"""
import json, warnings
from genops.providers.wandb import instrument_wandb
from genops.security import SecurityManager
from genops.errors import ComplianceViolationError

adapter = instrument_wandb(team="secure-ml", project="compliant-training",
                           environment="production", security_level="enterprise",
                           audit_log_retention_years=7, governance_policy="__POLICY__")
security = SecurityManager(adapter)
ran = []

@security.classify_data("PII")
def handle(data):
    ran.append("handle")
    return len(data)

@security.compliance_checkpoint("SOX")
def financial_training():
    ran.append("sox")
    return "trained"

out = {"handled": [handle("__SECRET__") for _ in range(3)]}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        out["sox"] = financial_training()
    except ComplianceViolationError as error:
        out["refused"] = str(error)
out["warned"] = [str(w.message) for w in caught]
reports = []

@security.schedule_compliance_report(frequency="monthly")
def monthly():
    report = adapter.generate_comprehensive_compliance_report()
    reports.append(report)
    security.submit_compliance_report(report)

security.run_scheduled()
out["report_score"] = reports[0]["compliance_score"]
out["ran"] = ran
out["flushed"] = security.flush_events()
print(json.dumps(out))
"""


def _run(processor, tmp_path, policy):
    code = SCRIPT.replace("__POLICY__", policy).replace("__SECRET__", SECRET)
    result = run_python(code, tmp_path / policy, adapter_env(processor.endpoint, tmp_path))
    assert result.returncode == 0, result.stderr
    return last_json_line(result.stdout), result


def _events(processor, kind):
    assert processor.stop() == 0
    with storage.Storage(processor.db, read_only=True) as db:
        return db.call(lambda conn: audit_events(conn, kind))


def test_access_checkpoint_and_report_are_audited_without_the_data(processor, tmp_path):
    out, result = _run(processor, tmp_path, "advisory")
    assert out["handled"] == [len(SECRET)] * 3
    # SOX under advisory: the approval rule fails (no require_approval), the work runs
    assert out["sox"] == "trained" and out["ran"] == ["handle"] * 3 + ["sox"]
    assert any("runs do not wait for approval" in w for w in out["warned"])
    assert 0 < out["report_score"] < 100
    db_bytes = processor.db.read_bytes()
    access = _events(processor, "compliance.data_access")
    assert len(access) == 3
    for event in access:
        assert event["actor"] == "trainer"  # the authenticated principal, not a client field
        assert event["team"] == "secure-ml"
        assert event["detail"]["reported"]["classification"] == "PII"
        assert event["detail"]["reported"]["function"] == "__main__.handle"
        assert event["detail"]["reported"]["reported_at"]
    with storage.Storage(processor.db, read_only=True) as db:
        [checkpoint] = db.call(lambda conn: audit_events(conn, "compliance.checkpoint"))
        [report] = db.call(lambda conn: audit_events(conn, "compliance.report"))
    assert checkpoint["detail"]["reported"]["framework"] == "sox"
    assert checkpoint["detail"]["reported"]["passed"] is False
    assert report["detail"]["reported"]["score"] == out["report_score"]
    assert report["detail"]["reported"]["report"]["framework_scores"]["sox"] < 100
    # never the data: not in the ledger file, not in the output
    assert SECRET.encode() not in db_bytes and SECRET not in result.stderr


def test_a_failed_checkpoint_fails_closed_under_enforced(processor, tmp_path):
    out, _ = _run(processor, tmp_path, "enforced")
    assert "sox" not in out and "sox" not in out["ran"]
    assert "runs do not wait for approval" in out["refused"]
    assert out["refused"].endswith("(enforced)")
    [checkpoint] = _events(processor, "compliance.checkpoint")
    assert checkpoint["detail"]["reported"]["passed"] is False


def test_a_client_cannot_record_events_for_another_team(processor):
    stub = processor.stub(as_="trainer")
    request = pb.RecordComplianceEventsRequest(
        scope=pb.Scope(team="not-my-team"),
        events=[pb.ComplianceEvent(kind="data_access", detail_json="{}")],
    )
    with pytest.raises(grpc.RpcError) as refused:
        stub.RecordComplianceEvents(request)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "not-my-team" in refused.value.details()


@pytest.mark.parametrize(
    "event, words",
    [
        (pb.ComplianceEvent(kind="delete_everything"), "events[0].kind"),
        (pb.ComplianceEvent(kind="report", detail_json="[1, 2]"), "expected a JSON object"),
        (pb.ComplianceEvent(kind="report", detail_json="{nope"), "events[0].detail_json"),
        (pb.ComplianceEvent(kind="report", detail_json="x" * (1024 * 1024 + 1)), "detail_json"),
    ],
)
def test_malformed_events_are_refused_and_nothing_is_stored(processor, event, words):
    stub = processor.stub(as_="trainer")
    request = pb.RecordComplianceEventsRequest(scope=pb.Scope(team="secure-ml"), events=[event])
    with pytest.raises(grpc.RpcError) as refused:
        stub.RecordComplianceEvents(request)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert words in refused.value.details()
    assert [e for e in _events(processor, None) if e["kind"].startswith("compliance.")] == []


def test_decorators_refuse_bad_arguments_at_once(tmp_path, monkeypatch, unused_port):
    from genops.providers.wandb import GenOpsWandbAdapter
    from genops.security import SecurityManager

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GENOPS_ENDPOINT", f"127.0.0.1:{unused_port}")
    adapter = GenOpsWandbAdapter(team="t", project="p", retry_attempts=0)
    security = SecurityManager(adapter)
    try:
        with pytest.raises(ValueError, match="unknown compliance framework 'HIPAA'"):
            security.compliance_checkpoint("HIPAA")
        for bad in ("", "x" * 65, "PII\n", None):
            with pytest.raises(ValueError, match="expected a classification name"):
                security.classify_data(bad)
        with pytest.raises(ValueError, match="frequency="):
            security.schedule_compliance_report(frequency="fortnightly")
        with pytest.raises(ValueError, match="expected the report as a mapping"):
            security.submit_compliance_report(["not", "a", "report"])
    finally:
        security.stop()
        adapter.cleanup()


@pytest.fixture
def local_security(tmp_path, monkeypatch, unused_port):
    """A SecurityManager whose processor is unreachable (events wait in memory)."""
    from genops.providers.wandb import GenOpsWandbAdapter
    from genops.security import SecurityManager

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GENOPS_ENDPOINT", f"127.0.0.1:{unused_port}")
    made = []

    def make(**keywords):
        adapter = GenOpsWandbAdapter(team="t", project="p", retry_attempts=0, **keywords)
        security = SecurityManager(adapter)
        made.append((adapter, security))
        return adapter, security

    yield make
    for adapter, security in made:
        security.stop()
        adapter.cleanup()


def test_a_coroutine_function_stays_one_and_is_classified(local_security):
    import asyncio
    import inspect

    _, security = local_security()

    @security.classify_data("PII")
    async def handle(data):
        return data[::-1]

    assert inspect.iscoroutinefunction(handle)
    assert asyncio.run(handle("abc")) == "cba"
    assert security.access_counts == {"PII": 1}


def test_a_residency_policy_for_the_classification_refuses_the_call(local_security):
    from genops.errors import DataResidencyError

    policy = {"pii": ["eu-west-1"], "*": ["us-east-1", "eu-west-1"]}
    _, security = local_security(
        region="us-east-1", data_residency_policy=policy, governance_policy="enforced"
    )
    ran = []

    @security.classify_data("PII")
    def handle(data):
        ran.append(data)

    with pytest.raises(DataResidencyError, match="region us-east-1 is outside"):
        handle("x")
    assert ran == [] and security.access_counts == {}


@pytest.mark.parametrize("policy, runs", [("enforced", False), ("advisory", True)])
def test_a_checkpoint_that_cannot_be_evaluated_fails_closed_only_when_enforced(
    local_security, monkeypatch, policy, runs
):
    from genops.errors import ComplianceViolationError

    adapter, security = local_security(governance_policy=policy)

    def broken(*_args, **_kwargs):  # stands in for a bug in the rule evaluation
        raise RuntimeError("rules unavailable")

    monkeypatch.setattr(adapter, "_require_frameworks", broken)
    ran = []

    @security.compliance_checkpoint("internal_audit")
    def train():
        ran.append(True)

    if runs:
        train()
    else:
        with pytest.raises(ComplianceViolationError, match="could not be evaluated"):
            train()
    assert ran == ([True] if runs else [])

"""The one line a failed budget check prints: which endpoint, whether spans go there,
and what to set. Pure text from settings; the e2e tests drive it through real gRPC."""

from __future__ import annotations

import grpc
import pytest
from opentelemetry.instrumentation.wandb.budget_gate import failure_text

from genops.config import InstrumentationSettings
from genops.governance_client import GovernanceNotServed, GovernanceUnavailable


@pytest.fixture
def env(monkeypatch):
    for name in ("GENOPS_ENDPOINT", "GENOPS_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")
    return monkeypatch


def test_a_collector_at_the_otlp_endpoint_is_named_with_the_variable_to_set(env):
    settings = InstrumentationSettings.from_env()
    text = failure_text(settings, GovernanceNotServed(settings.governance_target, "CheckBudget"))
    assert text.startswith("no governance API at collector:4317, the OTLP endpoint")
    assert "where spans go" in text and "CheckBudget with UNIMPLEMENTED" in text
    assert text.endswith(
        "set GENOPS_ENDPOINT to genops-processor's host:port"
        " and GENOPS_OTLP_ENDPOINT=collector:4317 to keep spans going there"
    )


def test_spans_already_sent_by_genops_otlp_endpoint_need_only_genops_endpoint(env):
    env.setenv("GENOPS_OTLP_ENDPOINT", "http://collector:4317")
    settings = InstrumentationSettings.from_env()
    text = failure_text(settings, GovernanceNotServed(settings.governance_target, "CheckBudget"))
    assert "the OTLP endpoint (GENOPS_OTLP_ENDPOINT) where spans go" in text
    assert text.endswith("set GENOPS_ENDPOINT to genops-processor's host:port")


def test_a_wrong_governance_endpoint_is_told_apart_from_where_spans_go(env):
    env.setenv("GENOPS_ENDPOINT", "wrong:4317")
    env.setenv("GENOPS_OTLP_ENDPOINT", "http://collector:4317")
    settings = InstrumentationSettings.from_env()
    text = failure_text(settings, GovernanceNotServed("wrong:4317", "CheckBudget"))
    assert "the governance endpoint wrong:4317" in text
    assert "spans go to the OTLP endpoint collector:4317" in text
    assert "GENOPS_ENDPOINT" in text


def test_unreachable_keeps_its_one_line():
    error = GovernanceUnavailable("h:1", grpc.StatusCode.UNAVAILABLE, 2)
    text = failure_text(InstrumentationSettings(), error)
    assert text == "governance API at h:1 unreachable (UNAVAILABLE, 2 attempt(s))"

"""The governance API's request checks (pure logic over the proto descriptors)."""

from __future__ import annotations

import math

import pytest

from genops.governance.v1 import governance_pb2 as pb
from genops_processor import limits
from genops_processor.api import request_checks
from genops_processor.api.governance_api import GovernanceApi
from genops_processor.api.request_checks import RequestError, check

SERVICE = pb.DESCRIPTOR.services_by_name["GovernanceService"]


@pytest.mark.parametrize("method", [m.name for m in SERVICE.methods])
def test_every_rpc_the_api_serves_is_checked(method):
    assert getattr(getattr(GovernanceApi, method), "_request_checked", False), method


@pytest.mark.parametrize("method", list(SERVICE.methods), ids=lambda m: m.name)
def test_every_request_type_at_its_defaults_passes(method):
    request_type = getattr(pb, method.input_type.name)
    check(request_type())


def test_a_nested_field_is_named_by_its_path():
    request = pb.ReportOfflineDecisionsRequest(
        decisions=[pb.OfflineDecision(), pb.OfflineDecision(scope=pb.Scope(team="x" * 2000))]
    )
    with pytest.raises(RequestError, match=r"^decisions\[1\]\.scope\.team: 2000 characters"):
        check(request)


@pytest.mark.parametrize(
    ("request_message", "field"),
    [
        (pb.CheckBudgetRequest(requested_micros=-1), "requested_micros"),
        (pb.CheckBudgetRequest(requested_micros=limits.MAX_REQUEST_MICROS + 1), "requested_micros"),
        (pb.RunSnapshot(as_of_ns=limits.MAX_API_TIME_NS + 1), "as_of_ns"),
        (pb.RunSnapshot(gpu_count=limits.MAX_API_DEVICES + 1), "gpu_count"),
        (pb.RunSnapshot(artifact_bytes=-1), "artifact_bytes"),
        (pb.RunEstimate(horizon_ns=limits.MAX_API_DURATION_NS + 1), "horizon_ns"),
        (pb.CostSummaryRequest(forecast_confidence=math.nan), "forecast_confidence"),
        (pb.AlertRule(threshold=-math.inf), "threshold"),
        (pb.ListAlertsRequest(limit=-1), "limit"),
        (pb.ClientLimits(policy_mode=99), "policy_mode"),
        (pb.ReleaseHoldRequest(hold_id="h" * (limits.MAX_API_ID_CHARS + 1)), "hold_id"),
        (pb.SetBudgetRequest(budget_json="x" * (limits.MAX_API_JSON_CHARS + 1)), "budget_json"),
    ],
)
def test_out_of_range_values_are_refused_naming_the_field(request_message, field):
    with pytest.raises(RequestError, match=rf"^{field}: "):
        check(request_message)


def test_values_at_the_bounds_pass():
    check(
        pb.CheckRunRequest(
            hold_id="h" * limits.MAX_API_ID_CHARS,
            scope=pb.Scope(team="t" * limits.MAX_API_STRING_CHARS),
            usage=pb.RunSnapshot(
                compute_start_ns=limits.MAX_API_TIME_NS,
                as_of_ns=limits.MAX_API_TIME_NS,
                gpu_count=limits.MAX_API_DEVICES,
                declared_micros=limits.MAX_REQUEST_MICROS,
                artifact_bytes=limits.MAX_API_BYTES,
            ),
            client_limits=pb.ClientLimits(
                daily_limit_micros=limits.MAX_REQUEST_MICROS, policy_mode=pb.POLICY_MODE_ENFORCED
            ),
            next_check_ns=limits.MAX_API_DURATION_NS,
        )
    )


def test_a_field_may_have_bounds_of_its_own(monkeypatch):
    monkeypatch.setitem(request_checks.BOUNDS, "ForecastRequest.horizon_days", (1, 10))
    check(pb.ForecastRequest(horizon_days=10))
    with pytest.raises(RequestError, match="horizon_days: 11 is above the maximum of 10"):
        check(pb.ForecastRequest(horizon_days=11))

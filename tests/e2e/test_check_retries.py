"""A retried budget check is answered, not decided twice (real processor, real gRPC)."""

from __future__ import annotations

import grpc
import pytest

from genops.governance.v1 import governance_pb2 as pb
from genops_processor import storage
from genops_processor.budgets import reservations

POLICY = """
budgets:
  - {name: retry-daily, scope: {team: retry}, daily_limit: "25", mode: enforced}
"""


def check(stub, team: str, request_id: str, usd: int = 10) -> pb.CheckBudgetResponse:
    return stub.CheckBudget(
        pb.CheckBudgetRequest(
            scope=pb.Scope(team=team),
            requested_micros=usd * 1_000_000,
            request_id=request_id,
        ),
        timeout=30,
    )


def test_the_same_request_id_gets_the_same_decision_and_one_hold(start_processor_with, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    processor = start_processor_with("--policy", str(policy))
    stub = processor.stub()
    first = check(stub, "retry", "run-1-check")
    again = check(stub, "retry", "run-1-check")  # the client's retry after a time-out
    other = check(stub, "retry", "run-2-check")
    third = check(stub, "retry", "run-3-check")  # $30 of $25: refused
    assert first.decision == again.decision == other.decision == pb.DECISION_ALLOW
    assert (again.decision_id, again.hold_id) == (first.decision_id, first.hold_id)
    assert other.hold_id not in ("", first.hold_id)
    assert third.decision == pb.DECISION_DENY
    assert processor.stop() == 0
    with storage.Storage(processor.db, read_only=True) as db:
        held = db.call(reservations.holds)
    assert sorted(h["hold_id"] for h in held) == sorted([first.hold_id, other.hold_id])


def test_a_request_id_of_another_scope_or_amount_is_decided_afresh(start_processor_with, tmp_path):
    """Knowing someone's request id gets you no decision and no hold of theirs."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    processor = start_processor_with("--policy", str(policy))
    stub = processor.stub()
    victim = check(stub, "retry", "shared-id")
    stranger = check(stub, "other-team", "shared-id")
    bigger = check(stub, "retry", "shared-id", usd=11)
    assert stranger.hold_id not in ("", victim.hold_id)
    assert stranger.decision_id != victim.decision_id
    assert bigger.decision_id != victim.decision_id


def test_an_over_long_request_id_is_refused(processor):
    with pytest.raises(grpc.RpcError) as refused:
        check(processor.stub(), "retry", "x" * 129)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "request_id" in refused.value.details()

"""A retried budget check is answered, not decided twice (real processor, real gRPC)."""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent import futures

import grpc
import pytest

from genops.governance.v1 import governance_pb2 as pb
from genops.governance.v1 import governance_pb2_grpc as pb_grpc
from genops.governance_client import GovernanceClient, GovernanceUnavailable
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


class SlowGovernance(pb_grpc.GovernanceServiceServicer):
    """A governance API that is busy: the first ``slow`` checks answer after the deadline."""

    def __init__(self, slow: int, delay_s: float) -> None:
        self.slow, self.delay_s = slow, delay_s
        self.seen: list[str] = []
        self._lock = threading.Lock()

    def CheckBudget(self, request, context):  # noqa: N802
        with self._lock:
            self.seen.append(request.request_id)
            late = len(self.seen) <= self.slow
        if late:
            time.sleep(self.delay_s)
        return pb.CheckBudgetResponse(decision=pb.DECISION_ALLOW, decision_id="d-1")


@contextlib.contextmanager
def slow_governance(slow: int, delay_s: float = 1.0):
    servicer = SlowGovernance(slow, delay_s)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_GovernanceServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield servicer, f"127.0.0.1:{port}"
    finally:
        server.stop(0)


def test_a_check_with_a_request_id_is_retried_past_a_busy_deadline():
    with slow_governance(slow=2) as (servicer, target):
        client = GovernanceClient(target, False, timeout_s=0.3)
        try:
            answer = client.check_budget(pb.CheckBudgetRequest(request_id="same-check"))
        finally:
            client.close()
    assert answer.decision_id == "d-1"
    assert servicer.seen == ["same-check"] * 3  # two deadlines passed, the third answered


def test_a_check_without_a_request_id_is_not_retried_after_its_deadline():
    """Without an id a retry could reserve twice: the caller's fail mode decides instead."""
    with slow_governance(slow=5) as (servicer, target):
        client = GovernanceClient(target, False, timeout_s=0.3)
        try:
            with pytest.raises(GovernanceUnavailable) as unavailable:
                client.check_budget(pb.CheckBudgetRequest())
        finally:
            client.close()
    assert unavailable.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert servicer.seen == [""]

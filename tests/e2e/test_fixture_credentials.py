"""The end-to-end tests run with credentials on: the default fixture's processor refuses a
call without a token, knows the four test principals, and a client's role still binds."""

from __future__ import annotations

import grpc
import pytest

from genops.governance.v1 import governance_pb2 as pb
from genops.governance.v1 import governance_pb2_grpc as pb_grpc
from tests.helpers import TEST_PRINCIPALS, TEST_TEAMS


def test_the_default_processor_serves_each_test_principal(processor):
    assert processor.credentials is not None and processor.credentials.is_file()
    assert set(processor.tokens) == set(TEST_PRINCIPALS)
    for name in TEST_PRINCIPALS:
        assert processor.stub(name).ListRuns(pb.ListRunsRequest(), timeout=10).runs == []
    answer = processor.stub("trainer").CheckBudget(
        pb.CheckBudgetRequest(scope=pb.Scope(team=TEST_TEAMS[0]), requested_micros=1),
        timeout=10,
    )
    assert answer.decision == pb.DECISION_ALLOW


def test_the_default_processor_refuses_a_call_without_a_token(processor):
    with pytest.raises(grpc.RpcError) as refused:
        processor.stub(None).ListRuns(pb.ListRunsRequest(), timeout=10)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with processor.channel(None) as channel, pytest.raises(grpc.RpcError) as bad:
        stub = pb_grpc.GovernanceServiceStub(channel)
        stub.ListRuns(pb.ListRunsRequest(), timeout=10, metadata=[("authorization", "Bearer x")])
    assert bad.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_the_trainer_is_a_client_not_an_admin(processor):
    with pytest.raises(grpc.RpcError) as refused:
        processor.stub("trainer").SetBudget(pb.SetBudgetRequest(), timeout=10)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as foreign:
        processor.stub("trainer").CheckBudget(
            pb.CheckBudgetRequest(scope=pb.Scope(team="attacker"), requested_micros=1),
            timeout=10,
        )
    assert foreign.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_processor_started_without_credentials_is_the_loopback_default(start_processor_with):
    processor = start_processor_with(credentials=False)
    assert processor.credentials is None and processor.tokens == {}
    runs = processor.stub(None).ListRuns(pb.ListRunsRequest(), timeout=10).runs
    assert list(runs) == []

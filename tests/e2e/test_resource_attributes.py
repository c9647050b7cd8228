"""OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME, read as the SDK reads them."""

from __future__ import annotations

import threading
from concurrent import futures

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as trace_grpc

from tests.helpers import governed_env, run_training


class Sink(trace_grpc.TraceServiceServicer):
    """A bare OTLP receiver on 127.0.0.1: keeps every request it is sent."""

    def __init__(self) -> None:
        self.requests: list[trace_pb.ExportTraceServiceRequest] = []
        self.lock = threading.Lock()

    def Export(self, request, context):  # noqa: N802 - the gRPC method's name
        with self.lock:
            self.requests.append(request)
        return trace_pb.ExportTraceServiceResponse()

    def service_names(self) -> set[str]:
        with self.lock:
            return {
                kv.value.string_value
                for request in self.requests
                for resource_spans in request.resource_spans
                for kv in resource_spans.resource.attributes
                if kv.key == "service.name"
            }


@pytest.fixture
def sink():
    servicer = Sink()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_grpc.add_TraceServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    servicer.endpoint = f"127.0.0.1:{port}"
    yield servicer
    server.stop(grace=None)


def test_percent_encoded_team_is_decoded(processor, tmp_path):
    env = governed_env(
        processor.endpoint,
        TRAIN_SECONDS="0.2",
        OTEL_RESOURCE_ATTRIBUTES="genops.team=ml%20ops,genops.customer_id=acme%2Cinc",
    )
    del env["GENOPS_TEAM"], env["GENOPS_CUSTOMER_ID"]
    training = run_training("train_basic.py", tmp_path / "job", env)
    assert training.returncode == 0, training.result.stderr
    [run] = processor.runs()
    assert (run.scope.team, run.scope.customer_id) == ("ml ops", "acme,inc")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, "wandb-training"),
        ({"OTEL_SERVICE_NAME": "churn-trainer"}, "churn-trainer"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "service.name=from%20attributes"}, "from attributes"),
    ],
    ids=["default", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"],
)
def test_service_name_defaults_to_wandb_training_unless_the_user_names_it(
    sink, tmp_path, extra, expected
):
    env = governed_env(sink.endpoint, TRAIN_SECONDS="0.2", GENOPS_BUDGET_CHECK="false", **extra)
    training = run_training("train_basic.py", tmp_path / "job", env)
    assert training.returncode == 0, training.result.stderr
    assert sink.service_names() == {expected}

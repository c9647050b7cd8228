"""Admission control on a real processor: request bytes in flight are bounded per pool.

The ingest pool is set small here (``--ingest-inflight-mb 8``) so that ~6 MB requests
show the behaviour of 61 MB ones against the default 128 MiB without the memory;
``bench/admission.py`` measures the real sizes (RSS is not asserted here).
"""

from __future__ import annotations

import threading

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

from genops import attributes as attr
from genops.governance.v1 import governance_pb2 as pb
from tests import helpers

SECOND = 10**9
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _kv(key: str, value) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def request_of(team: str, runs: int, spans_per_run: int, pad: int, now_ns: int) -> bytes:
    """Finished runs of one team; each run's spans carry a ``pad``-byte metrics attribute."""
    start = now_ns - 3600 * SECOND
    spans = []
    for run in range(runs):
        trace_id = (hash((team, run)) & (2**128 - 1) | 1).to_bytes(16, "big")
        for seq in range(spans_per_run):
            final = seq == spans_per_run - 1
            as_of = start + (seq + 1) * 10 * SECOND
            spans.append(
                trace_pb2.Span(
                    trace_id=trace_id,
                    span_id=(seq + 1).to_bytes(8, "big"),
                    name=attr.SPAN_RUN if final else attr.SPAN_HEARTBEAT,
                    start_time_unix_nano=start,
                    end_time_unix_nano=as_of,
                    attributes=[
                        _kv(attr.TEAM, team),
                        _kv(attr.PROJECT, "admission"),
                        _kv(attr.WANDB_RUN_ID, f"{team}-{run}"),
                        _kv(attr.RUN_STATUS, "finished" if final else "running"),
                        _kv(attr.RUN_SEQUENCE, seq),
                        _kv(attr.RUN_COMPUTE_START_NS, start),
                        _kv(attr.USAGE_AS_OF_NS, as_of),
                        _kv(attr.HW_GPU_TYPE, "T4"),
                        _kv(attr.HW_GPU_COUNT, 1),
                        _kv(attr.METRICS_LAST, '{"pad": "' + "x" * pad + '"}'),
                    ],
                )
            )
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=spans)])]
    ).SerializeToString()


def export(endpoint: str, body: bytes) -> str:
    """Send raw request bytes; the status code's name."""
    with helpers.channel(
        endpoint, options=[("grpc.max_send_message_length", 64 * 2**20)]
    ) as channel:
        call = channel.unary_unary(
            EXPORT,
            request_serializer=lambda b: b,
            response_deserializer=trace_service_pb2.ExportTraceServiceResponse.FromString,
        )
        try:
            call(body, timeout=120)
            return "OK"
        except grpc.RpcError as error:
            return error.code().name


def teams_stored(processor) -> dict[str, int]:
    counts: dict[str, int] = {}
    for run in processor.runs():
        counts[run.scope.team] = counts.get(run.scope.team, 0) + 1
    return counts


@pytest.fixture
def small_pool(start_processor_with):
    return start_processor_with("--ingest-inflight-mb", "8")


def test_concurrent_large_requests_past_the_budget_are_refused_while_budget_checks_answer(
    small_pool,
):
    import time

    now = time.time_ns()
    bodies = {f"flood-{i}": request_of(f"flood-{i}", 10, 100, 6_000, now) for i in range(6)}
    assert all(6_000_000 < len(b) < 8 * 2**20 for b in bodies.values())
    codes: dict[str, str] = {}
    barrier = threading.Barrier(len(bodies) + 1)

    def send(team: str) -> None:
        barrier.wait()
        codes[team] = export(small_pool.endpoint, bodies[team])

    threads = [threading.Thread(target=send, args=(team,)) for team in bodies]
    for thread in threads:
        thread.start()
    barrier.wait()
    # While the flood is in flight, a budget decision has its own headroom.
    stub = small_pool.stub("trainer")
    answer = stub.CheckBudget(
        pb.CheckBudgetRequest(scope=pb.Scope(team="flood-check"), requested_micros=1),
        timeout=10,
    )
    assert answer.decision == pb.DECISION_ALLOW
    for thread in threads:
        thread.join(timeout=120)

    accepted = {team for team, code in codes.items() if code == "OK"}
    refused = {team for team, code in codes.items() if code == "RESOURCE_EXHAUSTED"}
    assert accepted and refused, codes
    assert accepted | refused == set(bodies), codes
    # What was accepted is stored in full; what was refused is not stored at all.
    stored = teams_stored(small_pool)
    assert {t: n for t, n in stored.items() if t.startswith("flood-")} == dict.fromkeys(
        accepted, 10
    )
    metrics = small_pool.metrics()
    assert metrics['genops_admission_refused_total{pool="ingest"}'] == len(refused)

    # Refused is retryable: the same requests sent again one at a time are stored.
    for team in sorted(refused):
        assert export(small_pool.endpoint, bodies[team]) == "OK"
    assert {t: n for t, n in teams_stored(small_pool).items() if t.startswith("flood-")} == (
        dict.fromkeys(bodies, 10)
    )


def test_many_small_concurrent_requests_are_all_admitted(small_pool):
    import time

    now = time.time_ns()
    bodies = {f"small-{i}": request_of(f"small-{i}", 2, 3, 100, now) for i in range(24)}
    codes: dict[str, str] = {}

    def send(team: str) -> None:
        codes[team] = export(small_pool.endpoint, bodies[team])

    threads = [threading.Thread(target=send, args=(team,)) for team in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert set(codes.values()) == {"OK"}, codes
    assert {t: n for t, n in teams_stored(small_pool).items() if t.startswith("small-")} == (
        dict.fromkeys(bodies, 2)
    )

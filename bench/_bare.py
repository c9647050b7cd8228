"""The bare baselines: a grpc.aio server with the processor's server options and no work.

One port serves the OTLP TraceService (each request is parsed by the generated handler,
then discarded: answered with an empty ExportTraceServiceResponse) and an echo of the
governance calls the benches make (``CheckBudget``, ``CheckRun``, ``ReleaseHold``: the
request is parsed and a constant answer of the right type comes back). No interceptors,
no storage: what the wire and grpc.aio cost on this machine, the floor the processor is
compared with. Prints ``listening on HOST:PORT,`` like the processor.

    .venv/bin/python bench/_bare.py [--listen 127.0.0.1:0]
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from genops.governance.v1 import governance_pb2 as pb
from genops.governance.v1 import governance_pb2_grpc as pb_grpc
from genops_processor import limits

# the processor's own server options (genops_processor.server.start)
SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", limits.MAX_MESSAGE_BYTES),
    ("grpc.so_reuseport", 0),
]


class BareTraces(trace_service_pb2_grpc.TraceServiceServicer):
    async def Export(self, request, context):  # noqa: N802 (gRPC's name)
        return trace_service_pb2.ExportTraceServiceResponse()


class Echo(pb_grpc.GovernanceServiceServicer):
    async def CheckBudget(self, request, context):  # noqa: N802
        return pb.CheckBudgetResponse(
            decision=pb.DECISION_ALLOW,
            requested_micros=request.requested_micros,
            hold_id="bare-hold",
            message="within budget",
        )

    async def CheckRun(self, request, context):  # noqa: N802
        return pb.CheckRunResponse(action=pb.RUN_ACTION_CONTINUE, message="within budget")

    async def ReleaseHold(self, request, context):  # noqa: N802
        return pb.ReleaseHoldResponse(released=True)


async def serve(listen: str) -> None:
    server = grpc.aio.server(options=SERVER_OPTIONS)
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(BareTraces(), server)
    pb_grpc.add_GovernanceServiceServicer_to_server(Echo(), server)
    port = server.add_insecure_port(listen)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"bare server listening on {listen.rpartition(':')[0]}:{port},", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop(1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:0")
    asyncio.run(serve(parser.parse_args().listen))

"""OTLP/gRPC TraceService: decode, hand to the governance service, ack after commit."""

from __future__ import annotations

import logging

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from genops_processor.ingest import decode_request
from genops_processor.service import Governance

_log = logging.getLogger(__name__)


class TraceReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, governance: Governance) -> None:
        self._governance = governance

    async def Export(self, request, context: grpc.aio.ServicerContext):  # noqa: N802 (gRPC name)
        try:
            batch = decode_request(request)
            if batch.spans or batch.ignored_spans:
                await self._governance.ingest(batch)
        except Exception as error:
            _log.exception("ingest failed; the client will retry")
            # UNAVAILABLE is retryable for OTLP exporters: nothing is lost.
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"ingest failed: {error}")
        return trace_service_pb2.ExportTraceServiceResponse()

"""OTLP/gRPC TraceService: decode, hand to the governance service, ack after commit.

Spans that can never be stored (refused by the ingest validation, or against the ledger)
are answered as OTLP *partial success*: ``rejected_spans`` and a message naming the first
reasons, with status OK, so the exporter drops them instead of retrying forever; the rest
of the request is stored. ``UNAVAILABLE`` (retryable) is kept for transient failures.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Sequence

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from genops_processor.domain import Rejection
from genops_processor.ingest import decode_request
from genops_processor.limits import MAX_REJECTION_REASONS_SHOWN
from genops_processor.service import Governance

_log = logging.getLogger(__name__)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


class TraceReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, governance: Governance) -> None:
        self._governance = governance

    async def Export(self, request, context: grpc.aio.ServicerContext):  # noqa: N802 (gRPC name)
        try:
            # Off the event loop: a large request takes seconds to decode, and budget
            # checks and admission refusals must not wait behind it.
            batch = await asyncio.to_thread(
                decode_request, request, now_ns(self._governance.clock())
            )
            rejected = list(batch.rejected)
            if batch.spans or batch.ignored_spans or batch.rejected:
                result = await self._governance.ingest(batch)
                rejected += result.rejected
        except Exception as error:
            _log.exception("ingest failed; the client will retry")
            # UNAVAILABLE is retryable for OTLP exporters: nothing is lost.
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"ingest failed: {error}")
        return partial_success(rejected)


def now_ns(now: dt.datetime) -> int:
    """Nanoseconds since the epoch, exactly (no float rounding)."""
    return (now - _EPOCH) // dt.timedelta(microseconds=1) * 1_000


def partial_success(rejected: Sequence[Rejection]) -> trace_service_pb2.ExportTraceServiceResponse:
    """The answer to a request some of whose spans were rejected (none: a plain OK)."""
    if not rejected:
        return trace_service_pb2.ExportTraceServiceResponse()
    first: dict[str, str] = {}
    for rejection in rejected:
        first.setdefault(rejection.reason, rejection.message)
    shown = list(first.items())[:MAX_REJECTION_REASONS_SHOWN]
    more = len(first) - len(shown)
    message = f"rejected {len(rejected)} span(s), not retryable: " + "; ".join(
        f"{reason}: {text}" for reason, text in shown
    )
    if more:
        message += f"; and {more} other reason(s)"
    _log.info("%s", message)
    return trace_service_pb2.ExportTraceServiceResponse(
        partial_success=trace_service_pb2.ExportTracePartialSuccess(
            rejected_spans=len(rejected), error_message=message
        )
    )

"""Admission control: bounded request bytes in flight, per pool, before any work is done.

Every RPC belongs to one pool: ``decision`` (budget checks, run checks, holds,
approvals), ``ingest`` (OTLP Export) or ``other`` (the rest of the governance API).
Each pool has its own byte budget and call cap, so an ingest flood can exhaust only
the ingest pool: budget decisions keep their headroom.

A call is refused with ``RESOURCE_EXHAUSTED`` (retryable for OTLP exporters; a
``RetryInfo`` detail says when to come back) when, on arrival, its pool already holds
its byte budget or its call cap. Such a call's message is never read: requests are
served as client-streams here (the wire format of a unary call is the same), so the
body stays in the transport until the handler asks for it. An admitted call reads
its message (at most ``ADMISSION_READERS`` bodies are read at once per pool), counts
its size, and is refused, still without deserialising it, when that size would take
the pool past its budget while other calls are in flight (one call alone is always
admitted, up to the server's message cap). A large request is deserialised off the
event loop. The bytes are given back when the handler finishes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from genops_processor import limits
from genops_processor.metrics import ProcessorMetrics

_log = logging.getLogger(__name__)

_GOVERNANCE = "/genops.governance.v1.GovernanceService/"
DECISION_METHODS = frozenset(
    _GOVERNANCE + name
    for name in (
        "CheckBudget",
        "CheckRun",
        "ReleaseHold",
        "RenewHold",
        "GetApproval",
        "DecideApproval",
    )
)
_PARSE_IN_THREAD_BYTES = 2**20  # larger requests are deserialised off the event loop
INGEST_METHODS = frozenset({"/opentelemetry.proto.collector.trace.v1.TraceService/Export"})


@dataclass
class Pool:
    """Bytes and calls in flight for one class of RPCs; touched only on the event loop."""

    name: str
    max_bytes: int
    max_calls: int
    readers: int = limits.ADMISSION_READERS
    bytes: int = 0
    calls: int = 0
    _reading: asyncio.Semaphore | None = field(default=None, repr=False)

    def reading(self) -> asyncio.Semaphore:
        if self._reading is None:  # made on the server's loop
            self._reading = asyncio.Semaphore(self.readers)
        return self._reading

    def full(self) -> str | None:
        """Why a new call cannot even be read now, or None."""
        if self.calls >= self.max_calls:
            return f"{self.calls} {self.name} calls in flight (at most {self.max_calls})"
        if self.bytes >= self.max_bytes:
            return f"{self.bytes} {self.name} request bytes in flight (at most {self.max_bytes})"
        return None

    def too_big(self, size: int) -> str | None:
        """Why a read request of ``size`` bytes cannot be served now, or None."""
        if self.bytes and self.bytes + size > self.max_bytes:
            return (
                f"a {size}-byte request with {self.bytes} {self.name} request bytes in flight "
                f"(at most {self.max_bytes})"
            )
        return None


def pools(ingest_bytes: int = limits.ADMISSION_INGEST_BYTES) -> dict[str, Pool]:
    return {
        "decision": Pool(
            "decision", limits.ADMISSION_DECISION_BYTES, limits.ADMISSION_DECISION_CALLS
        ),
        "ingest": Pool("ingest", ingest_bytes, limits.ADMISSION_INGEST_CALLS),
        "other": Pool("other", limits.ADMISSION_OTHER_BYTES, limits.ADMISSION_OTHER_CALLS),
    }


def pool_of(method: str) -> str:
    if method in DECISION_METHODS:
        return "decision"
    if method in INGEST_METHODS:
        return "ingest"
    return "other"


class _Raw:
    """A request's bytes, not yet deserialised."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


def _keep_raw(data: bytes) -> _Raw:
    return _Raw(data)


class AdmissionInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self,
        pools_by_name: dict[str, Pool] | None = None,
        metrics: ProcessorMetrics | None = None,
    ) -> None:
        self.pools = pools_by_name or pools()
        self._metrics = metrics

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_streaming:
            return handler
        pool = self.pools[pool_of(handler_call_details.method)]
        if handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(
                self._streaming(pool, handler),
                request_deserializer=_keep_raw,
                response_serializer=handler.response_serializer,
            )
        return grpc.stream_unary_rpc_method_handler(
            self._unary(pool, handler),
            request_deserializer=_keep_raw,
            response_serializer=handler.response_serializer,
        )

    def _unary(self, pool: Pool, handler: grpc.RpcMethodHandler) -> Callable:
        async def behavior(_requests, context):
            request, size = await self._admit(pool, handler, context)
            try:
                return await handler.unary_unary(request, context)
            finally:
                self._release(pool, size)

        return behavior

    def _streaming(self, pool: Pool, handler: grpc.RpcMethodHandler) -> Callable:
        async def behavior(_requests, context):
            request, size = await self._admit(pool, handler, context)
            try:
                async for response in handler.unary_stream(request, context):
                    yield response
            finally:
                self._release(pool, size)

        return behavior

    async def _admit(self, pool: Pool, handler, context) -> tuple[object, int]:
        """Read, count and deserialise the call's one request, or refuse it."""
        if why := pool.full():
            await self._refuse(pool, context, why)
        pool.calls += 1
        size = 0
        try:
            async with pool.reading():
                if pool.bytes >= pool.max_bytes:  # filled while this call waited to read
                    await self._refuse(pool, context, pool.too_big(1) or "pool full")
                raw = await asyncio.wait_for(context.read(), limits.ADMISSION_READ_TIMEOUT_S)
                if raw is grpc.aio.EOF or not isinstance(raw, _Raw):
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no request message")
                if why := pool.too_big(len(raw.data)):
                    del raw
                    await self._refuse(pool, context, why)
                size = len(raw.data)
                pool.bytes += size
            deserialize = handler.request_deserializer
            try:
                if deserialize is None:
                    request = raw.data
                elif size >= _PARSE_IN_THREAD_BYTES:  # the loop keeps serving meanwhile
                    request = await asyncio.to_thread(deserialize, raw.data)
                else:
                    request = deserialize(raw.data)
            except Exception as error:
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT, f"request cannot be parsed: {error}"
                )
            return request, size
        except BaseException:
            self._release(pool, size)
            raise

    async def _refuse(self, pool: Pool, context, why: str) -> None:
        if self._metrics is not None:
            self._metrics.admission_refused.labels(pool.name).inc()
        _log.debug("refused a %s call: %s", pool.name, why)
        await context.abort(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"processor busy: {why}; retry later",
            trailing_metadata=(("grpc-status-details-bin", _retry_status(why)),),
        )

    @staticmethod
    def _release(pool: Pool, size: int) -> None:
        pool.calls -= 1
        pool.bytes -= size


def _retry_status(why: str) -> bytes:
    """A google.rpc.Status with RetryInfo: OTLP exporters that honour it wait, then retry."""
    delay = duration_pb2.Duration(seconds=limits.ADMISSION_RETRY_AFTER_S)
    detail = status_pb2.Status(
        code=code_pb2.RESOURCE_EXHAUSTED, message=f"processor busy: {why}; retry later"
    )
    detail.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    return detail.SerializeToString()

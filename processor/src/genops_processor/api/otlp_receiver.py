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
from dataclasses import replace

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from genops_processor.api import authorization as authz
from genops_processor.domain import Batch, Rejection, Scope
from genops_processor.ingest import decode_request
from genops_processor.ingest.validation import TEAM_NOT_PERMITTED
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
            permits = _span_permits()
            batch = await asyncio.to_thread(
                decode_request, request, now_ns(self._governance.clock()), permits
            )
            if permits is not None and batch.artifacts:
                batch = await self._foreign_artifacts_rejected(batch, permits)
            # the audit events of its runs and artifacts name the sender (once per request)
            batch = replace(batch, sender=authz.principal().name)
            rejected = list(batch.rejected)
            if batch.spans or batch.ignored_spans or batch.rejected:
                result = await self._governance.ingest(batch)
                rejected += result.rejected
        except Exception as error:
            _log.exception("ingest failed; the client will retry")
            # UNAVAILABLE is retryable for OTLP exporters: nothing is lost.
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"ingest failed: {error}")
        await self._audit_refused_spans(batch.rejected, context)
        return partial_success(rejected)

    async def _foreign_artifacts_rejected(self, batch: Batch, permits) -> Batch:
        """Artifact spans name their run by key: one attached to a run of a team the
        sender may not act for is rejected like a span of that team. (A run neither in
        the batch nor stored yet cannot be told: its artifact is kept.)"""
        teams = {e.span.run_key: e.scope.team for e in batch.usage}
        unknown = sorted({a.span.run_key for a in batch.artifacts} - set(teams))
        if unknown:
            teams.update(await self._governance.run_teams(unknown))
        kept, refused = [], []
        for artifact in batch.artifacts:
            team = teams.get(artifact.span.run_key)
            reason = None if team is None else permits(team, "", "")
            if reason is None:
                kept.append(artifact)
                continue
            span = artifact.span
            refused.append(
                Rejection(span.trace_id, span.span_id, span.run_key, TEAM_NOT_PERMITTED, reason)
            )
        if not refused:
            return batch
        return replace(batch, artifacts=tuple(kept), rejected=(*batch.rejected, *refused))

    async def _audit_refused_spans(self, rejected: Sequence[Rejection], context) -> None:
        """One ``access.refused`` event per request whose spans named teams the sender
        may not act for (the count and the first reason), not one per span."""
        refused = [r for r in rejected if r.reason == TEAM_NOT_PERMITTED]
        if not refused:
            return
        kinds = len({r.message for r in refused})
        more = f" (and {kinds - 1} other scope(s))" if kinds > 1 else ""
        await self._governance.record_refusal(
            authz.principal().name,
            authz.EXPORT,
            "PERMISSION_DENIED",
            f"{len(refused)} span(s) rejected: {refused[0].message}{more}",
            str(context.peer() or ""),
        )


def _span_permits():
    """Why the sender may not send a span of a scope (None: it may); None when it may
    send any (an admin, or the local operator without credentials)."""
    who = authz.principal()
    if who.is_admin:
        return None

    def permits(team: str, project: str, customer: str) -> str | None:
        return authz.act_refusal_of(who, Scope(team=team, project=project, customer_id=customer))

    return permits


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

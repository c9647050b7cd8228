"""The audit trail over gRPC: ``ExportAuditTrail`` (pages of events with their chain
fields) and ``VerifyAuditTrail`` (the stored chain checked, a bounded job at a time).

Admins and auditors read every event; any other role only the events of its own teams
(``filtered`` is then set: those events' own hashes verify, the links between them
cannot). A mixin of :class:`GovernanceApi`."""

from __future__ import annotations

import grpc

from genops.governance.v1 import governance_pb2 as pb
from genops_processor.api import authorization as authz
from genops_processor.limits import AUDIT_EXPORT_PAGE
from genops_processor.record import audit, audit_trail


def event_to_pb(event: dict) -> pb.AuditEvent:
    return pb.AuditEvent(**{k: ("" if v is None else v) for k, v in event.items()})


class AuditApi:
    _governance: object  # set by GovernanceApi

    async def ExportAuditTrail(self, request: pb.ExportAuditTrailRequest, context):  # noqa: N802
        try:
            since = audit_trail.parse_bound(request.since, "since")
            until = audit_trail.parse_bound(request.until, "until", end=True)
        except ValueError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        if request.page_size < 0 or request.after_seq < 0:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "page_size and after_seq must be >= 0"
            )
        teams = authz.readable_teams()
        size = min(request.page_size or AUDIT_EXPORT_PAGE, AUDIT_EXPORT_PAGE)
        who = authz.principal().name
        peer = context.peer() or ""

        def job(conn, now):
            first, last = audit_trail.seq_range(conn, since, until)
            events = audit_trail.page(conn, first, last, request.after_seq, size + 1, teams)
            if request.after_seq == 0:  # an export starts: itself an event (after its range)
                shown = sorted(teams) if teams is not None else "all"
                detail = {"since": request.since, "until": request.until, "teams": shown}
                audit(conn, "audit.exported", who, detail, now, client_address=peer)
            return first, last, events

        first, last, events = await self._governance.run_job(job)
        more = len(events) > size
        events = events[:size]
        return pb.AuditEventPage(
            events=[event_to_pb(e) for e in events],
            next_after_seq=events[-1]["seq"] if events else request.after_seq,
            more=more,
            first_seq=first,
            last_seq=last,
            filtered=teams is not None,
        )

    async def VerifyAuditTrail(self, request: pb.VerifyAuditTrailRequest, context):  # noqa: N802
        state = await self._governance.run_job(
            lambda conn, now: audit_trail.start_verification(conn)
        )
        while not state.done:
            state = await self._governance.run_job(
                lambda conn, now, s=state: audit_trail.verify_step(conn, s)
            )
        verdict = state.verdict()
        return pb.AuditVerification(
            intact=verdict.intact,
            events=verdict.events,
            first_bad_seq=verdict.first_bad_seq or 0,
            reason=verdict.reason,
            head_seq=verdict.head_seq,
            head_hash=verdict.head_hash,
        )

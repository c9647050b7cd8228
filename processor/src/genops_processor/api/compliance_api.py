"""``RecordComplianceEvents``: what a client's ``genops.security.SecurityManager``
reports (access to classified data, compliance checkpoints, compliance reports),
stored as audit events of the authenticated principal. A mixin of
:class:`GovernanceApi`.

The client's words are kept as reported (its own time as ``reported_at``); who
is always the principal, and the scope is checked like a budget check's: a client
records only for its teams. Never data: the client sends classifications, function
names and verdicts, and the processor stores nothing it did not receive.
"""

from __future__ import annotations

import json

import grpc

from genops.governance.v1 import governance_pb2 as pb
from genops_processor.api import authorization as authz
from genops_processor.record import audit_many

# Client event kind -> the audit kind it is stored as.
KINDS = {
    "data_access": "compliance.data_access",
    "checkpoint": "compliance.checkpoint",
    "report": "compliance.report",
}


class ComplianceApi:
    _governance: object  # set by GovernanceApi

    async def RecordComplianceEvents(  # noqa: N802
        self, request: pb.RecordComplianceEventsRequest, context
    ):
        from genops_processor.api.convert import scope_from_pb

        scope = scope_from_pb(request.scope)
        if not scope.team:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "scope.team: required")
        await authz.require_acts_for(context, self._governance, "RecordComplianceEvents", scope)
        grouped: dict[str, list[tuple[int, dict]]] = {}
        for index, event in enumerate(request.events):
            kind = KINDS.get(event.kind)
            if kind is None:
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"events[{index}].kind: {event.kind!r}, expected one of {', '.join(KINDS)}",
                )
            try:
                detail = json.loads(event.detail_json or "{}")
            except ValueError as error:
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT, f"events[{index}].detail_json: {error}"
                )
            if not isinstance(detail, dict):
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"events[{index}].detail_json: expected a JSON object",
                )
            stored = {"reported": detail, "scope": _scope_dict(scope)}
            grouped.setdefault(kind, []).append((index, stored))
        actor = authz.principal().name
        where = {
            "team": scope.team,
            "environment": scope.environment or None,
            "client_address": _peer(context),
        }

        def job(conn, now) -> list[str]:
            ids = [""] * len(request.events)
            for kind, items in grouped.items():
                written = audit_many(conn, kind, actor, [d for _, d in items], now, **where)
                for (index, _), event_id in zip(items, written, strict=True):
                    ids[index] = event_id
            return ids

        event_ids = await self._governance.run_job(job)
        return pb.RecordComplianceEventsResponse(event_ids=event_ids)


def _scope_dict(scope) -> dict[str, str]:
    names = ("team", "project", "customer_id", "cost_center", "environment")
    return {name: getattr(scope, name) for name in names if getattr(scope, name)}


def _peer(context) -> str:
    try:
        return str(context.peer() or "")
    except Exception:  # a test double, a closed call
        return ""

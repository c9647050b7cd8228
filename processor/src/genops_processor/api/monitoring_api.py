"""The monitoring part of the gRPC API (``genops.monitoring`` clients, ``genops alerts``):
alert rules (added, listed, deleted), notifications, acknowledgements. A mixin of
:class:`GovernanceApi`."""

from __future__ import annotations

import json

import grpc

from genops.governance.v1 import governance_pb2 as pb
from genops_processor.alerts import (
    DEFAULT_ESCALATE_AFTER_MINUTES,
    Rule,
    RuleError,
    RuleLimitError,
)
from genops_processor.api import authorization as authz
from genops_processor.budgets import ClientLimits
from genops_processor.domain import Scope


class MonitoringApi:
    _governance: object  # set by GovernanceApi

    async def AddAlertRule(self, request: pb.AlertRule, context):  # noqa: N802
        from genops_processor.api.convert import client_limits_from_pb, scope_from_pb

        rule = Rule(
            kind=request.kind,
            scope=scope_from_pb(request.scope),
            client=client_limits_from_pb(request.client_limits),
            threshold=request.threshold,
            metric=request.metric,
            window_minutes=request.window_minutes or 60,
            channels=tuple(request.channels),
            violation_types=tuple(request.violation_types),
            severity=request.severity or "MEDIUM",
            escalation_chain=tuple(request.escalation_chain),
            escalate_after_minutes=request.escalate_after_minutes or DEFAULT_ESCALATE_AFTER_MINUTES,
        )
        # a rule of the caller's own teams (an admin: any); created_by is who asked
        await authz.require_acts_for(context, self._governance, "AddAlertRule", rule.scope)
        try:
            rule, missing = await self._governance.monitoring.add_rule(rule, authz.principal().name)
        except RuleLimitError as error:  # not retryable as is: delete a rule first
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(error))
        except RuleError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        return rule_to_pb(rule, missing)

    async def DeleteAlertRule(self, request, context):  # noqa: N802
        if not request.rule_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "rule_id: required")
        monitoring = self._governance.monitoring
        rule = next((r for r in monitoring.rules() if r.rule_id == request.rule_id), None)
        if rule is not None:
            await authz.require_acts_for(context, self._governance, "DeleteAlertRule", rule.scope)
        removed = await monitoring.delete_rule(
            request.rule_id, authz.principal().name, request.actor
        )
        if removed is None:
            await context.abort(
                grpc.StatusCode.NOT_FOUND, f"rule_id {request.rule_id!r}: no such alert rule"
            )
        return pb.DeleteAlertRuleResponse(rule=rule_to_pb(removed, []))

    async def ListAlertRules(self, request, context):  # noqa: N802
        from genops_processor.api.convert import scope_from_pb

        monitoring = self._governance.monitoring
        scope = scope_from_pb(request.scope) if request.HasField("scope") else None
        teams = authz.readable_teams()
        if teams is not None and scope is not None and scope.team:
            await authz.require_reads(context, self._governance, "ListAlertRules", scope.team)
        rules = [r for r in monitoring.rules(scope) if teams is None or r.scope.team in teams]
        return pb.ListAlertRulesResponse(
            rules=[
                rule_to_pb(r, monitoring.unresolved((*r.channels, *r.escalation_chain)))
                for r in rules
            ]
        )

    async def Notify(self, request: pb.NotifyRequest, context):  # noqa: N802
        try:
            body = json.loads(request.body_json) if request.body_json else {}
        except ValueError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"body_json: {error}")
        if not isinstance(body, dict):
            body = {"report": body}
        try:
            notification_id, missing = await self._governance.monitoring.notify(
                list(request.channels),
                request.subject or "GenOps notification",
                body,
                request.sender,
            )
        except RuleError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        return pb.NotifyResponse(notification_id=notification_id, unresolved=missing)

    async def AcknowledgeAlert(self, request, context):  # noqa: N802
        done = await self._governance.monitoring.acknowledge(
            request.alert_id, authz.principal().name, request.actor
        )
        return pb.AcknowledgeAlertResponse(acknowledged=done)

    async def ListAlerts(self, request, context):  # noqa: N802
        alerts = await self._governance.monitoring.history(request.limit or 50)
        return pb.ListAlertsResponse(alerts_json=json.dumps(alerts))


def rule_to_pb(rule: Rule, unresolved: list[str]) -> pb.AlertRule:
    from genops_processor.api.convert import MODE_TO_PB, scope_to_pb

    client: ClientLimits = rule.client
    scope: Scope = rule.scope
    return pb.AlertRule(
        rule_id=rule.rule_id,
        kind=rule.kind,
        scope=scope_to_pb(scope),
        client_limits=pb.ClientLimits(
            daily_limit_micros=client.daily_limit_micros,
            policy_mode=MODE_TO_PB.get(client.mode, pb.POLICY_MODE_UNSPECIFIED),
            daily_limit_mode=MODE_TO_PB.get(client.limit_mode, pb.POLICY_MODE_UNSPECIFIED),
        ),
        threshold=rule.threshold,
        metric=rule.metric,
        window_minutes=rule.window_minutes,
        channels=rule.channels,
        violation_types=rule.violation_types,
        severity=rule.severity,
        escalation_chain=rule.escalation_chain,
        escalate_after_minutes=rule.escalate_after_minutes,
        created_by=rule.created_by,
        unresolved=unresolved,
        created_at=rule.created_at.isoformat() if rule.created_at else "",
    )

"""``genops alerts``: monitoring rules (list, delete), recent alerts with their deliveries,
acknowledging."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from genops.governance.v1 import governance_pb2 as pb
from genops_processor.cli.endpoint import (
    call_api,
    endpoint_option,
    token_option,
)
from genops_processor.cli.literal import cell
from genops_processor.limits import ALERTS_LIST_MAX


def _ENDPOINT(fn: Callable) -> Callable:  # noqa: N802 (a decorator, named like a constant)
    return endpoint_option()(token_option(fn))


@click.group("alerts")
def alerts_group() -> None:
    """Monitoring rules and the alerts they raised."""


@alerts_group.command("list")
@_ENDPOINT
@click.option(
    "--limit",
    type=click.IntRange(1, ALERTS_LIST_MAX),
    default=50,
    show_default=True,
    help="newest alerts to show",
)
@click.option("--json", "as_json", is_flag=True)
def list_command(endpoint, token, limit, as_json) -> None:
    """Recent alerts (budget thresholds, monitoring rules, notifications), each with its
    channels' delivery state (pending, retrying, delivered, expired, failed)."""
    response = _call(
        endpoint, token, lambda stub: stub.ListAlerts(pb.ListAlertsRequest(limit=limit), timeout=10)
    )
    alerts = json.loads(response.alerts_json or "[]")
    if as_json:
        click.echo(json.dumps(alerts, indent=2))
        return
    if not alerts:
        click.echo("no alerts")
        return
    table = Table(title="Alerts, newest first")
    for column in ("alert", "fired at", "kind", "subject", "delivery"):
        table.add_column(column, overflow="fold")
    for alert in alerts:
        acked = f" (acknowledged by {alert['acknowledged_by']})" if alert["acknowledged_at"] else ""
        delivery = "\n".join(_state_line(state) for state in alert.get("channels", []))
        table.add_row(
            cell(alert["alert_id"]),
            cell(alert["fired_at"]),
            cell(alert.get("kind", "rule")),
            cell(f"{alert['subject']}{acked}"),
            Text("\n").join(cell(line) for line in delivery.splitlines()) if delivery else "-",
        )
    _print(table)


def _state_line(state: dict) -> str:
    tries = state["attempts"]
    line = f"{state['channel']}: {state['state']} after {tries} attempt{'s' * (tries != 1)}"
    if state.get("next_attempt_at"):
        line += f", next at {state['next_attempt_at']}"
    if state.get("last_error") and state["state"] != "delivered":
        line += f" ({state['last_error']})"
    return line


@alerts_group.command("rules")
@_ENDPOINT
@click.option("--json", "as_json", is_flag=True)
def rules_command(endpoint, token, as_json) -> None:
    """Monitoring rules registered by clients."""
    from google.protobuf import json_format

    response = _call(
        endpoint, token, lambda stub: stub.ListAlertRules(pb.ListAlertRulesRequest(), timeout=10)
    )
    rules = [json_format.MessageToDict(r, preserving_proto_field_name=True) for r in response.rules]
    if as_json:
        click.echo(json.dumps(rules, indent=2))
        return
    if not rules:
        click.echo("no rules")
        return
    table = Table(title="Monitoring rules")
    for column in ("rule", "scope", "condition", "channels"):
        table.add_column(column, overflow="fold")
    for rule in response.rules:
        what = {
            "cost": f"spend >= {rule.threshold:g}% of the limit",
            "metric": f"{rule.metric} >= {rule.threshold:g} over {rule.window_minutes} min",
            "governance": f"[{rule.severity}] {', '.join(rule.violation_types)}",
        }.get(rule.kind, rule.kind)
        scope = "/".join(x for x in (rule.scope.team, rule.scope.project) if x) or "all"
        to = ", ".join([*rule.channels, *(f"then {c}" for c in rule.escalation_chain)])
        missing = f" (no address: {', '.join(rule.unresolved)})" if rule.unresolved else ""
        table.add_row(cell(rule.rule_id), cell(scope), cell(what), cell(f"{to}{missing}"))
    _print(table)


def _print(table: Table) -> None:
    Console(width=None if Console().is_terminal else 160).print(table)


@alerts_group.command("delete-rule")
@click.argument("rule_id")
@_ENDPOINT
@click.option("--actor", help="who deletes it, for the audit log [$USER]")
def delete_rule_command(rule_id, endpoint, token, actor) -> None:
    """Delete a monitoring rule (audited); its past alerts stay."""
    request = pb.DeleteAlertRuleRequest(rule_id=rule_id, actor=actor or getpass.getuser())
    _call(endpoint, token, lambda stub: stub.DeleteAlertRule(request, timeout=10))
    click.echo(f"alert rule {rule_id} deleted")


@alerts_group.command("ack")
@click.argument("alert_id")
@_ENDPOINT
@click.option("--actor", help="who acknowledges, for the audit log [$USER]")
def ack_command(alert_id, endpoint, token, actor) -> None:
    """Acknowledge an alert: its escalation stops."""
    response = _call(
        endpoint,
        token,
        lambda stub: stub.AcknowledgeAlert(
            pb.AcknowledgeAlertRequest(alert_id=alert_id, actor=actor or getpass.getuser()),
            timeout=10,
        ),
    )
    if not response.acknowledged:
        click.echo(f"genops alerts ack: no unacknowledged alert {alert_id}", err=True)
        sys.exit(1)
    click.echo(f"alert {alert_id} acknowledged")


def _call(endpoint: str | None, token: str | None, fn: Callable[[Any], Any]) -> Any:
    return call_api("alerts", endpoint, token, fn)

"""``genops budgets`` (show, set) and the approval commands (approve, deny, approvals)."""

from __future__ import annotations

import sys

import click
import grpc
from rich.table import Table

from genops.governance.v1 import governance_pb2 as pb
from genops.governance.v1 import governance_pb2_grpc as pb_grpc
from genops.money import format_usd
from genops_processor.cli.endpoint import endpoint_error, endpoint_option, resolve, token_option
from genops_processor.cli.literal import cell, literal

APPROVAL_STATUSES = ("pending", "approved", "denied", "timed_out", "all")


def _console():
    from rich.console import Console

    return Console(width=None if Console().is_terminal else 140)


def _decide(approval_id: str, approve: bool, endpoint, token, actor, reason) -> None:
    import getpass

    where = resolve(endpoint, token)
    target = where.target
    try:
        with where.channel() as channel:
            approval = pb_grpc.GovernanceServiceStub(channel).DecideApproval(
                pb.DecideApprovalRequest(
                    approval_id=approval_id,
                    approve=approve,
                    actor=actor or getpass.getuser(),
                    reason=reason or "",
                ),
                timeout=10,
            )
    except grpc.RpcError as error:
        click.echo(f"genops: {endpoint_error(target, error)}", err=True)
        sys.exit(1)
    click.echo(literal(f"approval {approval.approval_id}: {approval.status} by {approval.actor}"))


@click.command("approve")
@click.argument("approval_id")
@endpoint_option()
@token_option
@click.option("--actor", help="who approves, for the audit log [$USER]")
@click.option("--reason", help="why, for the audit log")
def approve_command(approval_id, endpoint, token, actor, reason) -> None:
    """Let a pending run start."""
    _decide(approval_id, True, endpoint, token, actor, reason)


@click.command("deny")
@click.argument("approval_id")
@endpoint_option()
@token_option
@click.option("--actor", help="who denies, for the audit log [$USER]")
@click.option("--reason", help="why, for the audit log")
def deny_command(approval_id, endpoint, token, actor, reason) -> None:
    """Refuse a pending run: its wandb.init raises ApprovalDeniedError."""
    _decide(approval_id, False, endpoint, token, actor, reason)


@click.command("approvals")
@endpoint_option()
@token_option
@click.option(
    "--status",
    type=click.Choice(APPROVAL_STATUSES),
    default="pending",
    show_default=True,
    help="which approvals",
)
@click.option("--json", "as_json", is_flag=True, help="print them as JSON")
def approvals_command(endpoint, token, status, as_json) -> None:
    """Runs waiting for (or decided by) a person."""
    import json

    where = resolve(endpoint, token)
    target = where.target
    try:
        with where.channel() as channel:
            response = pb_grpc.GovernanceServiceStub(channel).ListApprovals(
                pb.ListApprovalsRequest(status="" if status == "all" else status), timeout=10
            )
    except grpc.RpcError as error:
        click.echo(f"genops approvals: {endpoint_error(target, error)}", err=True)
        sys.exit(1)
    rows = [
        {
            "approval_id": a.approval_id,
            "status": a.status,
            "team": a.scope.team,
            "project": a.scope.project,
            "environment": a.scope.environment,
            "run": a.wandb_run_name,
            "requested_at": a.requested_at,
            "expires_at": a.expires_at,
            "actor": a.actor,
        }
        for a in response.approvals
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no approvals" if status == "all" else f"no {status} approvals")
        return
    table = Table(title=f"Approvals ({status})")
    for column in ("approval", "status", "team", "project", "environment", "run", "expires"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            *(
                cell(row[key] or "-")
                for key in ("approval_id", "status", "team", "project", "environment", "run")
            ),
            cell(row["expires_at"]),
        )
    _console().print(table)


@click.group("budgets")
def budgets_group() -> None:
    """The budget policy in force: show it, change it (versioned and audited)."""


@budgets_group.command("show")
@endpoint_option()
@token_option
@click.option("--json", "as_json", is_flag=True)
def budgets_show(endpoint, token, as_json) -> None:
    """Budgets in force, with their spend this period."""
    import json

    where = resolve(endpoint, token)
    target = where.target
    try:
        with where.channel() as channel:
            stub = pb_grpc.GovernanceServiceStub(channel)
            policy = stub.GetPolicy(pb.GetPolicyRequest(), timeout=10)
            states = stub.GetBudgetStatus(pb.GetBudgetStatusRequest(), timeout=10).budgets
    except grpc.RpcError as error:
        click.echo(f"genops budgets: {endpoint_error(target, error)}", err=True)
        sys.exit(1)
    spent = {s.name: s for s in states}
    if as_json:
        click.echo(
            json.dumps(
                {
                    "version": policy.version,
                    "changed_at": policy.changed_at,
                    "actor": policy.actor,
                    **json.loads(policy.policy_json),
                    "spent_micros": {k: v.spent_micros for k, v in spent.items()},
                },
                indent=2,
            )
        )
        return
    title = f"Budgets, policy version {policy.version}" + (
        f", changed {policy.changed_at} by {policy.actor}" if policy.version else ""
    )
    budgets = json.loads(policy.policy_json).get("budgets", [])
    if not budgets:
        click.echo(literal(f"no budgets ({title[9:]})"))
        return
    table = Table(title=cell(title))
    for column in ("budget", "period", "limit", "spent", "left", "mode", "scope"):
        right = column in ("limit", "spent", "left")
        table.add_column(column, justify="right" if right else "left")
    for budget in budgets:
        state = spent.get(budget["name"])
        limit = budget.get("limit", budget.get("daily_limit"))
        scope = budget.get("scope") or {}
        table.add_row(
            cell(budget["name"]),
            cell(budget.get("period", "daily")),
            cell(f"${limit}"),
            format_usd(state.spent_micros) if state else "-",
            format_usd(state.limit_micros - state.spent_micros) if state else "-",
            cell(budget.get("mode", "enforced")),
            cell(", ".join(f"{k}={v}" for k, v in sorted(scope.items())) or "everything"),
        )
    _console().print(table)


@budgets_group.command("set")
@click.argument("name")
@click.option("--limit", required=True, help="USD per period")
@click.option(
    "--scope",
    "scope_pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="team=, project=, customer_id=, cost_center=, environment= (repeatable)",
)
@click.option("--period", default="daily", show_default=True)
@click.option(
    "--timezone", help="when its periods roll over, e.g. Europe/Paris [the policy's timezone]"
)
@click.option("--mode", default="enforced", show_default=True)
@click.option("--thresholds", default="50,80,100", show_default=True)
@click.option(
    "--alert",
    "alerts_",
    multiple=True,
    metavar="CHANNEL",
    help="a channel name of the policy's channels: (or log://), repeatable",
)
@endpoint_option()
@token_option
@click.option("--actor", help="who changes it, for the audit log [$USER]")
@click.option("--reason", default="", help="why, for the audit log")
def budgets_set(
    name,
    limit,
    scope_pairs,
    period,
    timezone,
    mode,
    thresholds,
    alerts_,
    endpoint,
    token,
    actor,
    reason,
) -> None:
    """Add or replace a budget; a new policy version, in force at once."""
    import getpass
    import json

    scope = {}
    for pair in scope_pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.UsageError(f"--scope {pair!r}: expected KEY=VALUE")
        scope[key] = value
    try:
        levels = [int(t) for t in thresholds.split(",") if t.strip()]
    except ValueError:
        raise click.UsageError(f"--thresholds {thresholds!r}: expected 50,80,100") from None
    budget = {
        "name": name,
        "scope": scope,
        "limit": limit,
        "period": period,
        **({"timezone": timezone} if timezone else {}),
        "mode": mode,
        "thresholds": levels,
        "alerts": list(alerts_),
    }
    where = resolve(endpoint, token)
    target = where.target
    try:
        with where.channel() as channel:
            policy = pb_grpc.GovernanceServiceStub(channel).SetBudget(
                pb.SetBudgetRequest(
                    budget_json=json.dumps(budget), actor=actor or getpass.getuser(), reason=reason
                ),
                timeout=10,
            )
    except grpc.RpcError as error:
        click.echo(f"genops budgets set: {endpoint_error(target, error)}", err=True)
        sys.exit(1)
    click.echo(f"budget {name} set: policy version {policy.version}")

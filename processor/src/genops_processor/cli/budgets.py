"""``genops budgets`` (show, set) and the approval commands (approve, deny, approvals)."""

from __future__ import annotations

import sys

import click
import grpc

from genops.governance.v1 import governance_pb2 as pb
from genops.governance.v1 import governance_pb2_grpc as pb_grpc
from genops.money import format_usd
from genops_processor.cli.endpoint import endpoint_error, endpoint_option, resolve, token_option
from genops_processor.cli.literal import literal


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
    default="pending",
    show_default=True,
    help="pending, approved, denied, timed_out, or all",
)
@click.option("--json", "as_json", is_flag=True)
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
    for row in rows:
        click.echo(
            literal(
                f"{row['approval_id']}  {row['status']:<9} {row['team']}/{row['project']} "
                f"({row['environment']}) run {row['run'] or '-'}, expires {row['expires_at']}"
            )
        )


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
    click.echo(
        literal(
            f"policy version {policy.version}"
            + (f", changed {policy.changed_at} by {policy.actor}" if policy.version else "")
        )
    )
    for budget in json.loads(policy.policy_json).get("budgets", []):
        state = spent.get(budget["name"])
        used = format_usd(state.spent_micros) if state else "-"
        limit = budget.get("limit", budget.get("daily_limit"))
        click.echo(
            literal(
                f"  {budget['name']}: {budget.get('period', 'daily')} limit ${limit} "
                f"({budget.get('mode', 'enforced')}), spent {used}, "
                f"scope {budget.get('scope', {})}"
            )
        )


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
@click.option("--timezone", default="UTC", show_default=True)
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
        "timezone": timezone,
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

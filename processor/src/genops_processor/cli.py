"""Command lines: ``genops-processor`` (the service) and ``genops`` (reports)."""

from __future__ import annotations

import asyncio
import logging
import sys

import click
import grpc

from genops.governance.v1 import governance_pb2 as pb
from genops.governance.v1 import governance_pb2_grpc as pb_grpc
from genops.money import format_usd
from genops_processor import report
from genops_processor.budgets import PolicyError
from genops_processor.cli_alerts import alerts_group
from genops_processor.pricing import CatalogError
from genops_processor.settings import ProcessorSettings, SettingsError, report_endpoint


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db", metavar="PATH", help="DuckDB file [env GENOPS_DB; genops.duckdb]")
@click.option(
    "--listen",
    metavar="HOST:PORT",
    help="OTLP + governance gRPC [env GENOPS_LISTEN; 127.0.0.1:4317]",
)
@click.option("--policy", metavar="FILE", help="budget policy YAML [env GENOPS_POLICY]")
@click.option("--catalog", metavar="FILE", help="price catalog YAML [env GENOPS_CATALOG]")
@click.option(
    "--metrics-listen",
    metavar="HOST:PORT",
    help="Prometheus /metrics [env GENOPS_METRICS_LISTEN; off]",
)
@click.option(
    "--hold-timeout",
    metavar="SECONDS",
    help="a silent run's reservation expires after this [env GENOPS_HOLD_TIMEOUT; 120]",
)
@click.option(
    "--alert-interval",
    metavar="SECONDS",
    help="how often monitoring rules are evaluated besides after each ingest "
    "[env GENOPS_ALERT_INTERVAL; 30]",
)
@click.option("--log-level", default="INFO", show_default=True)
def processor_main(
    db, listen, policy, catalog, metrics_listen, hold_timeout, alert_interval, log_level
) -> None:
    """Receive OTLP from the W&B instrumentation, price it, enforce budgets, write DuckDB."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(message)s")
    try:
        settings = ProcessorSettings.resolve(
            db=db,
            listen=listen,
            policy=policy,
            catalog=catalog,
            metrics_listen=metrics_listen,
            hold_timeout=hold_timeout,
            alert_interval=alert_interval,
        )
        from genops_processor.server import serve

        asyncio.run(serve(settings))
    except (SettingsError, PolicyError, CatalogError, OSError) as error:
        click.echo(f"genops-processor: {error}", err=True)
        sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def genops_main() -> None:
    """GenOps governance for Weights & Biases."""


@genops_main.command("report")
@click.option(
    "--db",
    "db",
    metavar="PATH",
    help="read a DuckDB file directly (only while no processor holds it)",
)
@click.option(
    "--endpoint",
    metavar="HOST:PORT",
    help="ask a running processor [env GENOPS_ENDPOINT; localhost:4317]",
)
@click.option("--json", "as_json", is_flag=True, help="print runs as JSON")
def report_command(db, endpoint, as_json) -> None:
    """Cost by run, team and project."""
    if db and endpoint:
        raise click.UsageError("give --db or --endpoint, not both")
    try:
        runs = _runs_from_db(db) if db else _runs_from_endpoint(report_endpoint(endpoint))
    except Exception as error:  # a clear one-line error, not a traceback
        click.echo(f"genops report: {error}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(report.to_json(runs))
    else:
        report.print_tables(runs)


def _runs_from_endpoint(target: str) -> list[pb.RunSummary]:
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.GovernanceServiceStub(channel)
        try:
            return list(stub.ListRuns(pb.ListRunsRequest(), timeout=10).runs)
        except grpc.RpcError as error:
            raise RuntimeError(
                f"cannot reach the processor at {target}: {error.code().name}"
            ) from None


def _runs_from_db(path: str) -> list[pb.RunSummary]:
    from genops_processor import queries, storage
    from genops_processor.api import run_to_pb

    with storage.Storage(path, read_only=True) as db:
        return [run_to_pb(r) for r in db.call(queries.list_runs)]


@genops_main.group("costs")
def costs_group() -> None:
    """Catalog versions and re-pricing of stored usage."""


@costs_group.command("reprice")
@click.option(
    "--catalog", "catalog_path", required=True, metavar="FILE", help="the new price catalog (YAML)"
)
@click.option("--since", metavar="DATE", help="only runs active since this date (YYYY-MM-DD)")
@click.option("--db", "db", metavar="PATH", help="work on a DuckDB file (no processor running)")
@click.option("--endpoint", metavar="HOST:PORT", help="ask a running processor")
@click.option("--actor", default=None, help="who asks, for the audit log [$USER]")
def reprice_command(catalog_path, since, db, endpoint, actor) -> None:
    """Price stored usage again under a new catalog version; both versions stay."""
    import getpass
    import json

    from genops_processor.pricing import Catalog

    if db and endpoint:
        raise click.UsageError("give --db or --endpoint, not both")
    try:
        catalog = Catalog.load(catalog_path)
        since_at = _since(since)
    except (CatalogError, ValueError) as error:
        raise click.UsageError(str(error)) from None
    actor = actor or getpass.getuser()
    with _progress() as (bar, task):

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            if db:
                result = _reprice_file(db, catalog, since_at, actor, progress)
            else:
                result = _reprice_remote(
                    report_endpoint(endpoint),
                    json.dumps(catalog.to_dict()),
                    since or "",
                    actor,
                    progress,
                )
        except Exception as error:
            click.echo(f"genops costs reprice: {error}", err=True)
            sys.exit(1)
    click.echo(
        f"repriced {result['runs']} run(s) under {result['catalog_version']}: "
        f"{format_usd(result['before_micros'])} -> {format_usd(result['after_micros'])} "
        f"(audit event {result['audit_event_id']})"
    )


@costs_group.command("versions")
@click.option("--db", "db", metavar="PATH", help="read a DuckDB file")
@click.option("--endpoint", metavar="HOST:PORT", help="ask a running processor")
@click.option("--json", "as_json", is_flag=True)
def versions_command(db, endpoint, as_json) -> None:
    """Totals per catalog version: which version priced what."""
    import json

    try:
        if db:
            from genops_processor import queries, storage

            with storage.Storage(db, read_only=True) as store:
                rows = [t.__dict__ for t in store.call(queries.catalog_version_totals)]
        else:
            with grpc.insecure_channel(report_endpoint(endpoint)) as channel:
                response = pb_grpc.GovernanceServiceStub(channel).ListCatalogVersions(
                    pb.ListCatalogVersionsRequest(), timeout=10
                )
            rows = [
                {
                    "version": v.version,
                    "runs": v.runs,
                    "priced_micros": v.priced_micros,
                    "unpriced_lines": v.unpriced_lines,
                    "current": v.current,
                }
                for v in response.versions
            ]
    except Exception as error:
        click.echo(f"genops costs versions: {error}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        mark = "*" if row["current"] else " "
        click.echo(
            f"{mark} {row['version']}: {row['runs']} run(s), "
            f"{format_usd(row['priced_micros'])}, {row['unpriced_lines']} unpriced line(s)"
        )


def _since(text: str | None):
    import datetime as dt

    if not text:
        return None
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _progress():
    from contextlib import contextmanager

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    @contextmanager
    def bar():
        with Progress(
            TextColumn("repricing"), BarColumn(), MofNCompleteColumn(), transient=False
        ) as progress:
            yield progress, progress.add_task("reprice", total=None)

    return bar()


def _reprice_file(path, catalog, since, actor, progress) -> dict:
    import datetime as dt

    from genops_processor import repricing, storage

    with storage.Storage(path) as store:
        result = store.call(
            lambda conn: repricing.reprice(
                conn, catalog, since, actor, dt.datetime.now(dt.timezone.utc), progress
            )
        )
    return result.__dict__


def _reprice_remote(target, catalog_json, since, actor, progress) -> dict:
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.GovernanceServiceStub(channel)
        last = None
        try:
            for update in stub.Reprice(
                pb.RepriceRequest(catalog_json=catalog_json, since=since, actor=actor), timeout=3600
            ):
                progress(update.done, update.total)
                last = update
        except grpc.RpcError as error:
            raise RuntimeError(f"{error.code().name}: {error.details()}") from None
    if last is None or not last.finished:
        raise RuntimeError("the processor ended the stream early")
    return {
        "runs": last.done,
        "catalog_version": last.catalog_version,
        "before_micros": last.before_micros,
        "after_micros": last.after_micros,
        "audit_event_id": last.audit_event_id,
    }


def _decide(approval_id: str, approve: bool, endpoint, actor, reason) -> None:
    import getpass

    try:
        with grpc.insecure_channel(report_endpoint(endpoint)) as channel:
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
        click.echo(f"genops: {error.details() or error.code().name}", err=True)
        sys.exit(1)
    click.echo(f"approval {approval.approval_id}: {approval.status} by {approval.actor}")


@genops_main.command("approve")
@click.argument("approval_id")
@click.option("--endpoint", metavar="HOST:PORT", help="the processor [env GENOPS_ENDPOINT]")
@click.option("--actor", help="who approves, for the audit log [$USER]")
@click.option("--reason", help="why, for the audit log")
def approve_command(approval_id, endpoint, actor, reason) -> None:
    """Let a pending run start."""
    _decide(approval_id, True, endpoint, actor, reason)


@genops_main.command("deny")
@click.argument("approval_id")
@click.option("--endpoint", metavar="HOST:PORT", help="the processor [env GENOPS_ENDPOINT]")
@click.option("--actor", help="who denies, for the audit log [$USER]")
@click.option("--reason", help="why, for the audit log")
def deny_command(approval_id, endpoint, actor, reason) -> None:
    """Refuse a pending run: its wandb.init raises ApprovalDeniedError."""
    _decide(approval_id, False, endpoint, actor, reason)


@genops_main.command("approvals")
@click.option("--endpoint", metavar="HOST:PORT", help="the processor [env GENOPS_ENDPOINT]")
@click.option(
    "--status",
    default="pending",
    show_default=True,
    help="pending, approved, denied, timed_out, or all",
)
@click.option("--json", "as_json", is_flag=True)
def approvals_command(endpoint, status, as_json) -> None:
    """Runs waiting for (or decided by) a person."""
    import json

    try:
        with grpc.insecure_channel(report_endpoint(endpoint)) as channel:
            response = pb_grpc.GovernanceServiceStub(channel).ListApprovals(
                pb.ListApprovalsRequest(status="" if status == "all" else status), timeout=10
            )
    except grpc.RpcError as error:
        click.echo(f"genops approvals: {error.code().name}", err=True)
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
            f"{row['approval_id']}  {row['status']:<9} {row['team']}/{row['project']} "
            f"({row['environment']}) run {row['run'] or '-'}, expires {row['expires_at']}"
        )


@genops_main.group("budgets")
def budgets_group() -> None:
    """The budget policy in force: show it, change it (versioned and audited)."""


@budgets_group.command("show")
@click.option("--endpoint", metavar="HOST:PORT", help="the processor [env GENOPS_ENDPOINT]")
@click.option("--json", "as_json", is_flag=True)
def budgets_show(endpoint, as_json) -> None:
    """Budgets in force, with their spend this period."""
    import json

    try:
        with grpc.insecure_channel(report_endpoint(endpoint)) as channel:
            stub = pb_grpc.GovernanceServiceStub(channel)
            policy = stub.GetPolicy(pb.GetPolicyRequest(), timeout=10)
            states = stub.GetBudgetStatus(pb.GetBudgetStatusRequest(), timeout=10).budgets
    except grpc.RpcError as error:
        click.echo(f"genops budgets: {error.code().name}", err=True)
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
        f"policy version {policy.version}"
        + (f", changed {policy.changed_at} by {policy.actor}" if policy.version else "")
    )
    for budget in json.loads(policy.policy_json).get("budgets", []):
        state = spent.get(budget["name"])
        used = format_usd(state.spent_micros) if state else "-"
        limit = budget.get("limit", budget.get("daily_limit"))
        click.echo(
            f"  {budget['name']}: {budget.get('period', 'daily')} limit ${limit} "
            f"({budget.get('mode', 'enforced')}), spent {used}, "
            f"scope {budget.get('scope', {})}"
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
@click.option("--alert", "alerts_", multiple=True, metavar="CHANNEL", help="repeatable")
@click.option("--endpoint", metavar="HOST:PORT", help="the processor [env GENOPS_ENDPOINT]")
@click.option("--actor", help="who changes it, for the audit log [$USER]")
@click.option("--reason", default="", help="why, for the audit log")
def budgets_set(
    name, limit, scope_pairs, period, timezone, mode, thresholds, alerts_, endpoint, actor, reason
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
    try:
        with grpc.insecure_channel(report_endpoint(endpoint)) as channel:
            policy = pb_grpc.GovernanceServiceStub(channel).SetBudget(
                pb.SetBudgetRequest(
                    budget_json=json.dumps(budget), actor=actor or getpass.getuser(), reason=reason
                ),
                timeout=10,
            )
    except grpc.RpcError as error:
        click.echo(f"genops budgets set: {error.details() or error.code().name}", err=True)
        sys.exit(1)
    click.echo(f"budget {name} set: policy version {policy.version}")


genops_main.add_command(alerts_group)

"""``genops report customers --period YYYY-MM [--csv]``: usage per customer in a billing
month, from a running processor (``GetCustomerUsage``) or a stopped ledger file (the same
query, :mod:`genops_processor.analytics.customers`); rendering in :mod:`.report`."""

from __future__ import annotations

import json
import sys

import click
import grpc

from genops.governance.v1 import governance_pb2 as pb
from genops_processor.cli import report
from genops_processor.cli.endpoint import (
    connect,
    endpoint_error,
    endpoint_option,
    one_source,
    token_option,
)


@click.command("customers")
@click.option("--period", required=True, metavar="YYYY-MM", help="billing month (UTC)")
@click.option("--customer", default="", metavar="ID", help="one customer only")
@click.option("--db", "db", metavar="PATH", help="read a stopped ledger file")
@endpoint_option("ask a running processor")
@token_option
@click.option("--csv", "as_csv", is_flag=True, help="CSV, one row per customer")
@click.option("--json", "as_json", is_flag=True, help="JSON, one object per customer")
def customers_command(period, customer, db, endpoint, token, as_csv, as_json) -> None:
    """Usage per customer in a billing month: runs, experiments, cost by project,
    team and category (a run counts in the month it was last active)."""
    one_source(db, endpoint)
    try:
        if db:
            answer = _from_db(db, period, customer)
        else:
            request = pb.CustomerUsageRequest(customer_id=customer, billing_period=period)
            with connect(endpoint, token) as (where, stub):
                try:
                    answer = stub.GetCustomerUsage(request, timeout=report.PAGE_TIMEOUT_S)
                except grpc.RpcError as error:
                    raise RuntimeError(endpoint_error(where.target, error)) from None
    except Exception as error:  # a clear one-line error, not a traceback
        click.echo(f"genops report customers: {' '.join(str(error).split())}", err=True)
        sys.exit(1)
    rows = report.customer_rows(answer)
    if as_csv:
        report.write_customers_csv(rows, sys.stdout)
    elif as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        report.print_customers(rows, period)


def _from_db(db: str, period: str, customer: str) -> pb.CustomerUsageResponse:
    from genops_processor import storage
    from genops_processor.analytics import customers

    start, end = customers.month(period)
    with storage.Storage(db, read_only=True) as ledger:
        rows = ledger.call(lambda conn: customers.customer_usage(conn, period, customer))
    return pb.CustomerUsageResponse(
        billing_period=period,
        period_start=start.isoformat(),
        period_end=end.isoformat(),
        customers=[
            pb.CustomerUsage(
                customer_id=u.customer_id, runs=u.runs, failed_runs=u.failed_runs,
                experiments=u.experiments, cost_micros=u.cost_micros,
                by_project_micros=u.by_project, by_team_micros=u.by_team,
                by_category_micros=u.by_category,
            )
            for u in rows
        ],
    )  # fmt: skip

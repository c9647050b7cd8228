"""``genops report``: cost by run, team and project as tables, JSON, CSV or an HTML page.

Sources: a running processor (``--endpoint``, ListRuns pages) or a stopped ledger file
(``--db``, the same pages read directly). Filters (``--since``, ``--until``, ``--team``,
``--project``) are applied by the ledger query, so totals are exact at any size
(:mod:`.report_query`). ``--json`` is ``--format json``; without options the output is
what it always was. The HTML page's budget burn-downs need a running processor.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

import click
import grpc

from genops.governance.v1 import governance_pb2 as pb
from genops_processor.cli import report, report_html, report_query
from genops_processor.cli.customers import customers_command
from genops_processor.cli.endpoint import (
    Endpoint,
    endpoint_error,
    endpoint_option,
    one_source,
    resolve,
    token_option,
)
from genops_processor.cli.errors import OneLineGroup
from genops_processor.cli.report_query import ReportQuery

FORMATS = ("table", "json", "csv", "html")


@dataclass
class _Source:
    pages: report.Pages
    runs: object  # Callable[[ReportQuery], Iterator[pb.RunSummary]]
    endpoint: Endpoint | None = None


@click.group("report", cls=OneLineGroup, invoke_without_command=True, no_args_is_help=False)
@click.option(
    "--db",
    "db",
    metavar="PATH",
    help="read a DuckDB file directly (only while no processor holds it)",
)
@endpoint_option("ask a running processor (default localhost:4317)")
@token_option
@click.option("--since", metavar="DATE|TIME", help="runs started at or after (YYYY-MM-DD, UTC)")
@click.option("--until", metavar="DATE|TIME", help="runs started before (a date: its end)")
@click.option("--team", metavar="TEAM", help="only this team's runs")
@click.option("--project", metavar="PROJECT", help="only this project's runs")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="table (default), json, csv, or html (a page with charts)",
)
@click.option("--json", "as_json", is_flag=True, help="print runs as JSON (= --format json)")
@click.option(
    "--output", "-o", metavar="FILE", help="write json, csv or html here (default stdout)"
)
@click.pass_context
def report_command(
    ctx, db, endpoint, token, since, until, team, project, fmt, as_json, output
) -> None:
    """Cost by run, team and project (any ledger size: tables read one page of totals
    and the newest runs; --json/csv/html stream every run a page at a time).
    ``genops report customers --period YYYY-MM [--csv]``: usage per customer."""
    if ctx.invoked_subcommand is not None:
        return
    if as_json and fmt not in (None, "json"):
        raise click.UsageError(f"--json is --format json; it cannot go with --format {fmt}")
    fmt = "json" if as_json else fmt or "table"
    if output and fmt == "table":
        raise click.UsageError("--output goes with --format json, csv or html")
    query = report_query.parse(since, until, team, project)
    one_source(db, endpoint)
    try:
        with _source(db, endpoint, token) as source:
            report_query.check_known(query, source.pages)
            with _out(output) as out:
                _write(source, query, fmt, out)
        if db:
            _unfinished_note(db)
    except click.ClickException:
        raise
    except Exception as error:  # a clear one-line error, not a traceback
        click.echo(f"genops report: {error}", err=True)
        sys.exit(1)
    if output:
        click.echo(f"genops report: wrote {fmt} to {output}", err=True)


report_command.add_command(customers_command)


def _write(source: _Source, query: ReportQuery, fmt: str, out: IO[str]) -> None:
    if fmt == "json":
        report.write_json(source.runs(query), out)
    elif fmt == "csv":
        report.write_csv(source.runs(query), out)
    elif fmt == "html":
        out.write(_html(source, query))
    else:
        totals, newest = report.overview(source.pages, query)
        report.print_tables(totals, newest, query=query)


def _html(source: _Source, query: ReportQuery) -> str:
    now = dt.datetime.now(dt.timezone.utc)
    totals, _ = report.overview(source.pages, query)
    found = report_html.collect(query, totals, source.runs(query), now)
    if source.endpoint is None:
        found.budgets_note = "budget burn-downs need a running processor (--endpoint)"
    else:
        found.burns, found.budgets_note = _burns(source.endpoint, query, now)
    return report_html.render(found)


def _burns(where: Endpoint, query: ReportQuery, now: dt.datetime):
    """Budgets in force (of the --team/--project, when given) and their forecasts."""
    with _stub(where) as stub:
        try:
            request = pb.GetBudgetStatusRequest()
            if query.team or query.project:
                request.scope.CopyFrom(pb.Scope(team=query.team, project=query.project))
            budgets = stub.GetBudgetStatus(request, timeout=report.PAGE_TIMEOUT_S).budgets

            def forecast(scope: pb.Scope, days: int, confidence: float):
                ask = pb.ForecastRequest(scope=scope, horizon_days=days, confidence=confidence)
                try:
                    return stub.GetForecast(ask, timeout=report.PAGE_TIMEOUT_S).forecast
                except grpc.RpcError as error:  # a budget over teams the caller may not read
                    if error.code() == grpc.StatusCode.PERMISSION_DENIED:
                        return None
                    raise

            return report_html.burn_downs(list(budgets), forecast, now)
        except grpc.RpcError as error:
            raise RuntimeError(endpoint_error(where.target, error)) from None


@contextmanager
def _stub(where: Endpoint):
    from genops.governance.v1 import governance_pb2_grpc as pb_grpc

    with where.channel() as channel:
        yield pb_grpc.GovernanceServiceStub(channel)


@contextmanager
def _source(db: str | None, endpoint: str | None, token: str | None) -> Iterator[_Source]:
    if db:
        from genops_processor import storage

        with storage.Storage(db, read_only=True) as ledger:
            with report.ledger_pages(ledger) as pages:
                yield _Source(pages, lambda query: report.ledger_runs(ledger, query))
        return
    where = resolve(endpoint, token)
    with report.endpoint_pages(where) as pages:
        yield _Source(pages, lambda query: report.all_runs(pages, query), where)


@contextmanager
def _out(path: str | None) -> Iterator[IO[str]]:
    """stdout, or a file written beside its final name and renamed when complete."""
    if not path:
        yield sys.stdout
        return
    partial = f"{path}.partial"
    try:
        with open(partial, "w", encoding="utf-8") as out:
            yield out
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


def _unfinished_note(db: str) -> None:
    from genops_processor import storage
    from genops_processor.cli.costs import unfinished_note
    from genops_processor.pricing import repricing

    with storage.Storage(db, read_only=True) as ledger:
        job = ledger.call(repricing.unfinished)
    if job is not None:
        click.echo(f"genops report: {unfinished_note(job, db)}", err=True)

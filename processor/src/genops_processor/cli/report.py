"""The cost report: runs as JSON, or tables by run, team and project, at any ledger size.

Both sources, a processor (``--endpoint``) and a ledger file (``--db``), answer the
same ListRuns pages (:mod:`genops_processor.api.run_pages`). The tables need one
page: the newest ``REPORT_TOP_ROWS`` runs with the totals of every run (the largest
teams and projects, the rest summed on one line). JSON streams every run, a page at
a time, so memory stays flat however many runs the ledger holds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from decimal import Decimal
from typing import IO

import grpc
from rich.console import Console
from rich.table import Table

from genops.governance.v1 import governance_pb2 as pb
from genops.governance.v1 import governance_pb2_grpc as pb_grpc
from genops.money import MICROS_PER_USD, format_usd
from genops_processor.cli.endpoint import Endpoint, endpoint_error
from genops_processor.cli.literal import cell, literal
from genops_processor.cli.report_query import EVERYTHING, ReportQuery
from genops_processor.limits import LIST_RUNS_MAX_PAGE, REPORT_TOP_ROWS

Pages = Callable[[pb.ListRunsRequest], pb.ListRunsResponse]
PAGE_TIMEOUT_S = 60.0


def run_row(run: pb.RunSummary) -> dict[str, object]:
    """One run as the JSON report prints it. cost_usd is exact to the micro-dollar."""
    return {
        "run_id": run.run_id,
        "run_key": run.run_key,
        "run_name": run.run_name,
        "wandb_project": run.wandb_project,
        "team": run.scope.team,
        "project": run.scope.project,
        "customer_id": run.scope.customer_id,
        "cost_center": run.scope.cost_center,
        "environment": run.scope.environment,
        "status": run.status,
        "exit_code": run.exit_code if run.HasField("exit_code") else None,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "duration_s": run.duration_ns / 1e9,
        "log_calls": run.log_calls,
        "artifact_bytes": run.artifact_bytes,
        "artifact_files": run.artifact_files,
        "gpu_type": run.gpu_type,
        "gpu_count": run.gpu_count,
        "cpu_count": run.cpu_count,
        "cost_usd": _json_usd(run.cost_micros),
        "cost_micros": run.cost_micros,
        "unpriced_skus": list(run.unpriced_skus),
        "violations": list(run.violations),
        "region": run.region,
        "catalog_version": run.catalog_version,
        "security_level": run.security_level,
        "residency": run.residency,
    }


# -- sources -------------------------------------------------------------------------


@contextmanager
def endpoint_pages(where: Endpoint) -> Iterator[Pages]:
    """ListRuns pages from a running processor."""
    target = where.target
    with where.channel() as channel:
        stub = pb_grpc.GovernanceServiceStub(channel)

        def page(request: pb.ListRunsRequest) -> pb.ListRunsResponse:
            try:
                return stub.ListRuns(request, timeout=PAGE_TIMEOUT_S)
            except grpc.RpcError as error:
                raise RuntimeError(endpoint_error(target, error)) from None

        yield page


@contextmanager
def ledger_pages(db) -> Iterator[Pages]:
    """The same pages, read from a ledger file (a read-only ``Storage``)."""
    from genops_processor.api import run_pages

    yield lambda request: db.call(lambda conn: run_pages.page(conn, request))


def ledger_runs(db, query: ReportQuery = EVERYTHING) -> Iterator[pb.RunSummary]:
    """Every run of a ledger file in ListRuns order, from one ordered scan."""
    from genops_processor.api import run_to_pb
    from genops_processor.domain import Scope
    from genops_processor.storage import queries

    scope = Scope(team=query.team, project=query.project)
    chunks = db.call(lambda conn: queries.run_chunks(conn, scope, LIST_RUNS_MAX_PAGE, query.window))
    while chunk := db.call(lambda conn: next(chunks, None)):
        yield from (run_to_pb(run) for run in chunk)


def all_runs(pages: Pages, query: ReportQuery = EVERYTHING) -> Iterator[pb.RunSummary]:
    """Every run, newest first, a page at a time; the next page is asked for while
    this one is written."""

    def ask(token: str) -> pb.ListRunsResponse:
        return pages(query.request(page_size=LIST_RUNS_MAX_PAGE, page_token=token))

    with ThreadPoolExecutor(1, thread_name_prefix="genops-report-page") as ahead:
        coming = ahead.submit(ask, "")
        while True:
            page = coming.result()
            if page.next_page_token:
                coming = ahead.submit(ask, page.next_page_token)
            yield from page.runs
            if not page.next_page_token:
                return


def overview(
    pages: Pages, query: ReportQuery = EVERYTHING
) -> tuple[pb.RunTotals, list[pb.RunSummary]]:
    """Totals of every run and the newest ``REPORT_TOP_ROWS`` runs (one page)."""
    page = pages(query.request(page_size=REPORT_TOP_ROWS, include_totals=True))
    return page.totals, list(page.runs)


# -- output --------------------------------------------------------------------------


def write_json(runs: Iterable[pb.RunSummary], out: IO[str]) -> None:
    """A JSON array of run rows, written as the runs come (``json.dumps(rows, indent=2)``
    for the same rows, byte for byte)."""
    first = True
    for run in runs:
        out.write(("[\n" if first else ",\n") + _element(run_row(run)))
        first = False
    out.write("[]\n" if first else "\n]\n")


def _element(row: dict[str, object]) -> str:
    """One flat row as ``json.dumps([row], indent=2)`` prints its element, a value at a
    time with the C string encoder (the indenting encoder is pure Python: minutes at
    a million runs)."""
    lines = []
    for key, value in row.items():
        if isinstance(value, list) and value:
            items = ",\n".join("      " + _scalar(item) for item in value)
            text = f"[\n{items}\n    ]"
        else:
            text = _scalar(value)
        lines.append(f"    {_encode_str(key)}: {text}")
    return "  {\n" + ",\n".join(lines) + "\n  }"


def _scalar(value: object) -> str:
    if isinstance(value, str):
        return _encode_str(value)
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float) and math.isfinite(value):
        return float.__repr__(value)
    return json.dumps(value)  # NaN and Infinity as json writes them


_encode_str = json.encoder.encode_basestring_ascii  # what json.dumps uses for a str


def write_csv(runs: Iterable[pb.RunSummary], out: IO[str]) -> None:
    """The JSON report's columns as CSV, one run per row (lists joined with "; ")."""
    import csv

    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(run_row(pb.RunSummary()).keys())
    for run in runs:
        row = run_row(run)
        writer.writerow(
            "; ".join(map(str, v)) if isinstance(v, list) else "" if v is None else v
            for v in row.values()
        )


def to_json(runs: Iterable[pb.RunSummary]) -> str:
    return json.dumps([run_row(r) for r in runs], indent=2)


def print_tables(
    totals: pb.RunTotals,
    newest: Sequence[pb.RunSummary],
    console: Console | None = None,
    query: ReportQuery = EVERYTHING,
) -> None:
    console = console or Console(width=None if Console().is_terminal else 140)
    if not totals.runs:
        empty = f"No runs of {query.describe()}." if query.filtered else "No runs recorded yet."
        console.print(cell(empty))
        return
    title = "Cost by run" + (f", {query.describe()}" if query.filtered else "")
    if totals.runs > len(newest):
        title += f" (newest {len(newest)} of {totals.runs:,}; --json for all)"
    table = Table(title=cell(title))
    for column in (
        "run",
        "team",
        "project",
        "customer",
        "status",
        "duration",
        "logs",
        "artifacts",
        "cost",
    ):
        table.add_column(
            column,
            justify="right" if column in {"duration", "logs", "artifacts", "cost"} else "left",
        )
    for run in newest:
        cost = format_usd(run.cost_micros)
        if run.unpriced_skus:
            cost += f" + unpriced {', '.join(literal(s) for s in run.unpriced_skus)}"
        table.add_row(
            cell(run.run_id or run.run_key[:12]),
            cell(run.scope.team),
            cell(run.scope.project),
            cell(run.scope.customer_id),
            cell(run.status),
            f"{run.duration_ns / 1e9:.1f}s",
            str(run.log_calls),
            f"{run.artifact_bytes} B",
            cell(cost),
        )
    console.print(table)
    console.print(_groups("Cost by team", "team", totals.by_team, totals.teams, totals))
    console.print(_groups("Cost by project", "project", totals.by_project, totals.projects, totals))
    console.print(f"Total: {format_usd(totals.cost_micros)} over {totals.runs} run(s)")
    if totals.violations:
        console.print(f"[bold red]Violations ({totals.violations})[/bold red]")
        for flagged in totals.newest_violations:
            console.print(cell(f"  {flagged.run}: {flagged.violation}"))
        if totals.violations > len(totals.newest_violations):
            console.print(f"  … and {totals.violations - len(totals.newest_violations)} more")


def _groups(
    title: str, noun: str, groups: Sequence[pb.RunGroupTotal], distinct: int, totals
) -> Table:
    table = Table(title=cell(title))
    table.add_column("name")
    table.add_column("runs", justify="right")
    table.add_column("cost", justify="right")
    for group in groups:
        table.add_row(cell(group.name or "(unset)"), str(group.runs), format_usd(group.cost_micros))
    runs = totals.runs - sum(g.runs for g in groups)
    if runs > 0:  # the smaller groups, summed
        micros = totals.cost_micros - sum(g.cost_micros for g in groups)
        others = max(distinct - len(groups), 1)
        table.add_row(f"({others:,} other {noun}s)", str(runs), format_usd(micros))
    return table


def _json_usd(micros: int) -> float:
    # Six decimals print back exactly: the JSON text is the exact decimal amount.
    return float(Decimal(micros) / MICROS_PER_USD)


# -- customer usage (genops report customers) -----------------------------------------------
CUSTOMER_COLUMNS = (
    "customer_id", "billing_period", "runs", "failed_runs", "experiments", "cost_usd",
    "cost_micros", "by_project", "by_team", "by_category",
)  # fmt: skip


def customer_rows(answer: pb.CustomerUsageResponse) -> list[dict[str, object]]:
    """One row per customer; money exact (cost_usd from integer micro-dollars)."""
    return [
        {
            "customer_id": c.customer_id,
            "billing_period": answer.billing_period,
            "runs": c.runs,
            "failed_runs": c.failed_runs,
            "experiments": c.experiments,
            "cost_usd": str(Decimal(c.cost_micros) / MICROS_PER_USD),
            "cost_micros": c.cost_micros,
            "by_project": _usd_map(c.by_project_micros),
            "by_team": _usd_map(c.by_team_micros),
            "by_category": _usd_map(c.by_category_micros),
        }
        for c in answer.customers
    ]  # fmt: skip


def _usd_map(micros: dict[str, int]) -> dict[str, str]:
    return {key: str(Decimal(value) / MICROS_PER_USD) for key, value in sorted(micros.items())}


def write_customers_csv(rows: list[dict[str, object]], out: IO[str]) -> None:
    """CSV with one row per customer; the breakdowns as JSON objects in their cells."""
    import csv

    writer = csv.DictWriter(out, fieldnames=CUSTOMER_COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: json.dumps(v, sort_keys=True) if isinstance(v, dict) else v for k, v in row.items()}
        )


def print_customers(rows: list[dict[str, object]], period: str) -> None:
    table = Table(title=f"Customer usage, {period} (UTC)")
    for column in ("customer", "runs", "experiments", "cost", "top projects"):
        table.add_column(
            column, justify="right" if column in ("runs", "experiments", "cost") else "left"
        )
    for row in rows:
        projects = sorted(row["by_project"].items(), key=lambda kv: -Decimal(kv[1]))[:3]
        table.add_row(
            cell(str(row["customer_id"]) or "(none)"),
            str(row["runs"]),
            str(row["experiments"]),
            format_usd(int(row["cost_micros"])),
            cell(", ".join(f"{k or '(none)'} ${Decimal(v):.2f}" for k, v in projects)),
        )
    Console().print(table)

"""``genops costs``: re-pricing under another catalog version, and which version priced what."""

from __future__ import annotations

import sys

import click
import grpc

from genops.governance.v1 import governance_pb2 as pb
from genops.governance.v1 import governance_pb2_grpc as pb_grpc
from genops.money import format_usd
from genops_processor.cli.endpoint import (
    endpoint_error,
    endpoint_option,
    one_source,
    resolve,
    token_option,
)
from genops_processor.cli.literal import literal
from genops_processor.pricing import CatalogError


@click.group("costs")
def costs_group() -> None:
    """Catalog versions and re-pricing of stored usage."""


@costs_group.command("reprice")
@click.option("--catalog", "catalog_path", metavar="FILE", help="the new price catalog (YAML)")
@click.option("--since", metavar="DATE", help="only runs active since this date (YYYY-MM-DD)")
@click.option("--db", "db", metavar="PATH", help="work on a DuckDB file (no processor running)")
@endpoint_option("ask a running processor")
@token_option
@click.option("--actor", default=None, help="who asks, for the audit log [$USER]")
@click.option(
    "--resume",
    is_flag=True,
    help="finish the unfinished job of a ledger file (--db), with the catalog it started with",
)
def reprice_command(catalog_path, since, db, endpoint, token, actor, resume) -> None:
    """Price stored usage again under a new catalog version; both versions stay.

    The work is a job that commits in steps: interrupted, it leaves every run wholly on
    one version, and the same command (or --resume, or starting the processor on the
    file) finishes it. Re-pricing to another version waits until it has finished."""
    import getpass
    import json

    from genops_processor.pricing import Catalog

    one_source(db, endpoint)
    if resume and (catalog_path or since):
        raise click.UsageError("--resume takes the catalog and date the job started with")
    if resume and not db:
        raise click.UsageError(
            "--resume needs --db; a processor finishes an unfinished job when it starts"
        )
    if not resume and not catalog_path:
        raise click.UsageError("give --catalog FILE (or --resume)")
    catalog = since_at = None
    if not resume:
        try:
            catalog = Catalog.load(catalog_path)
            since_at = _since(since)
        except (CatalogError, ValueError) as error:
            raise click.UsageError(str(error)) from None
    actor = actor or getpass.getuser()
    with _progress() as (bar, task):

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)
            if not bar.console.is_terminal:  # a log, not a bar
                click.echo(f"repricing: {done}/{total} run(s)", err=True)

        try:
            if db:
                result = _reprice_file(db, catalog, since_at, actor, progress)
            else:
                result = _reprice_remote(
                    resolve(endpoint, token),
                    json.dumps(catalog.to_dict()),
                    since or "",
                    actor,
                    progress,
                )
        except Exception as error:  # storage, refusals, conflicts: one line, no traceback
            click.echo(f"genops costs reprice: {error}", err=True)
            sys.exit(1)
    click.echo(
        f"repriced {result['runs']} run(s) under {result['catalog_version']}: "
        f"{format_usd(result['before_micros'])} -> {format_usd(result['after_micros'])} "
        f"(audit event {result['audit_event_id']})"
    )


@costs_group.command("versions")
@click.option("--db", "db", metavar="PATH", help="read a DuckDB file")
@endpoint_option("ask a running processor")
@token_option
@click.option("--json", "as_json", is_flag=True)
def versions_command(db, endpoint, token, as_json) -> None:
    """Totals per catalog version: which version priced what."""
    import json

    try:
        if db:
            from genops_processor import storage
            from genops_processor.pricing import repricing
            from genops_processor.storage import queries

            with storage.Storage(db, read_only=True) as store:
                rows = [t.__dict__ for t in store.call(queries.catalog_version_totals)]
                job = store.call(repricing.unfinished)
            if job is not None:
                click.echo(f"genops costs versions: {unfinished_note(job, db)}", err=True)
        else:
            where = resolve(endpoint, token)
            target = where.target
            with where.channel() as channel:
                try:
                    response = pb_grpc.GovernanceServiceStub(channel).ListCatalogVersions(
                        pb.ListCatalogVersionsRequest(), timeout=10
                    )
                except grpc.RpcError as error:
                    raise RuntimeError(endpoint_error(target, error)) from None
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
            literal(
                f"{mark} {row['version']}: {row['runs']} run(s), "
                f"{format_usd(row['priced_micros'])}, {row['unpriced_lines']} unpriced line(s)"
            )
        )


def unfinished_note(job, db: str) -> str:
    """What a report says about an unfinished re-pricing job of a ledger file."""
    return f"{job.describe()}; finish it with: genops costs reprice --resume --db {db}"


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
    """Start (or resume) the job, then one writer call per step: a kill between or in a
    step loses nothing that was committed."""
    import datetime as dt

    from genops_processor import storage
    from genops_processor.pricing import repricing

    def now() -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)

    with storage.Storage(path, create=False) as store:
        if catalog is None:
            job, catalog = store.call(lambda conn: repricing.resume(conn, actor, now()))
            resumed = True
        else:
            job, resumed = store.call(
                lambda conn: repricing.start(conn, catalog, since, actor, now())
            )
        if resumed:
            click.echo(
                f"resuming re-pricing to {job.catalog_version} at "
                f"{job.done_runs}/{job.total_runs} run(s)",
                err=True,
            )
        while not job.finished:
            job = store.call(lambda conn, job=job: repricing.step(conn, job, catalog, now()))
            if not job.finished:
                progress(job.done_runs, job.total_runs)
    return repricing.result(job).__dict__


def _reprice_remote(where, catalog_json, since, actor, progress) -> dict:
    target = where.target
    with where.channel() as channel:
        stub = pb_grpc.GovernanceServiceStub(channel)
        last = None
        try:
            for update in stub.Reprice(
                pb.RepriceRequest(catalog_json=catalog_json, since=since, actor=actor), timeout=3600
            ):
                progress(update.done, update.total)
                last = update
        except grpc.RpcError as error:
            raise RuntimeError(endpoint_error(target, error)) from None
    if last is None or not last.finished:
        raise RuntimeError("the processor ended the stream early")
    return {
        "runs": last.done,
        "catalog_version": last.catalog_version,
        "before_micros": last.before_micros,
        "after_micros": last.after_micros,
        "audit_event_id": last.audit_event_id,
    }

"""``genops audit``: verify the audit trail's hash chain, export it, prune old events.

``verify`` and ``export`` read a ledger file no processor holds (``--db``), or ask a
running processor (``--endpoint``; auditor or admin to verify, a client exports only
its teams' events); ``verify --file`` checks an exported file alone. ``prune`` works on
a stopped ledger only. Exit status: 0 intact / done, 1 broken or failed, 2 usage.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click
import grpc
from google.protobuf import json_format

from genops.governance import audit_files
from genops.governance.audit_chain import Verdict, verify_events
from genops.governance.v1 import governance_pb2 as pb
from genops_processor.cli.endpoint import (
    connect,
    endpoint_error,
    endpoint_option,
    one_source,
    token_option,
)
from genops_processor.cli.literal import one_line
from genops_processor.limits import (
    AUDIT_EXPORT_PAGE,
    DEFAULT_AUDIT_RETENTION_YEARS,
    MAX_AUDIT_RETENTION_YEARS,
)

_DB = click.option(
    "--db", "db", metavar="FILE", help="a ledger file no processor holds (read directly)"
)


def _source(fn: Callable) -> Callable:
    return _DB(endpoint_option("ask a running processor")(token_option(fn)))


@click.group("audit")
def audit_group() -> None:
    """The audit trail: verify its hash chain, export it, prune old events."""


@audit_group.command("verify")
@_source
@click.option("--file", "file", metavar="EXPORT", help="verify an exported file alone")
@click.option("--json", "as_json", is_flag=True, help="print the verdict as JSON")
def verify_command(db, endpoint, token, file, as_json) -> None:
    """Exit 0 when the chain is intact, 1 naming the first bad sequence number."""
    if sum(bool(x) for x in (db, endpoint, file)) > 1:
        raise click.UsageError("give one of --db, --endpoint, --file")
    try:
        if file:
            verdict = verify_events(audit_files.read_events(file))
        elif db:
            verdict = _verify_db(db)
        else:
            verdict = _verify_endpoint(endpoint, token)
    except _Failed as error:
        _fail("verify", str(error))
    except (ValueError, OSError) as error:
        _fail("verify", one_line(error))
    if as_json:
        import dataclasses
        import json

        click.echo(json.dumps(dataclasses.asdict(verdict), indent=2))
    if not verdict.intact:
        _fail("verify", verdict.describe())
    if not as_json:
        click.echo(verdict.describe())


@audit_group.command("export")
@_source
@click.option("--since", default="", help="from this date or RFC 3339 time (UTC)")
@click.option("--until", default="", help="up to this date (inclusive) or time (exclusive)")
@click.option(
    "--format", "fmt", type=click.Choice(audit_files.FORMATS), default="json", show_default=True
)
@click.option("--output", "-o", metavar="FILE", help="write here (json/csv: default stdout)")
def export_command(db, endpoint, token, since, until, fmt, output) -> None:
    """Events of a time range with their chain fields, in sequence order (paged)."""
    one_source(db, endpoint)
    if fmt == "parquet" and not output:
        raise click.UsageError("--format parquet needs --output FILE")
    from genops_processor.record import audit_trail

    try:
        bounds = (
            audit_trail.parse_bound(since, "--since"),
            audit_trail.parse_bound(until, "--until", end=True),
        )
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    try:
        if db:
            count = _export_db(db, bounds, fmt, output, (since, until))
        else:
            count = _export_endpoint(endpoint, token, since, until, fmt, output)
    except _Failed as error:
        _fail("export", str(error))
    except (ValueError, OSError) as error:
        _fail("export", one_line(error))
    if output:
        click.echo(f"exported {count} event(s) to {output}", err=True)


@audit_group.command("prune")
@click.option("--db", "db", required=True, metavar="FILE", help="the stopped ledger file")
@click.option("--before", required=True, help="remove events before this date (UTC)")
@click.option(
    "--retention-years",
    "--audit-retention-years",
    "retention_years",
    type=click.FloatRange(min=0, min_open=True, max=MAX_AUDIT_RETENTION_YEARS),
    default=None,
    help="keep at least this long (only lengthens the policy's audit_log_retention_years) "
    "[env GENOPS_AUDIT_RETENTION_YEARS]",
)
@click.option("--apply", "apply", is_flag=True, help="remove them (without: show the plan)")
def prune_command(db, before, retention_years, apply) -> None:
    """Remove events older than --before, leaving a checkpoint event (the last pruned
    event's seq and hash) from which the chain still verifies."""
    from genops_processor import storage as store
    from genops_processor.record import audit_trail
    from genops_processor.settings import audit_retention_years

    try:
        cut = audit_trail.parse_bound(before, "--before")
        # the processor's option (the one reader of options); the longer of it and the policy's
        retention_years = audit_retention_years(retention_years)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    now = dt.datetime.now(dt.timezone.utc)
    with store.Storage(db, create=False) as ledger:
        years = max(
            ledger.call(audit_trail.stored_retention_years) or DEFAULT_AUDIT_RETENTION_YEARS,
            retention_years or 0,
        )
        oldest_allowed = now - dt.timedelta(days=365.25 * years)
        if cut > oldest_allowed:
            _fail(
                "prune",
                f"--before {before}: events are kept {years:g} year(s) (the longer of "
                "audit_log_retention_years and --audit-retention-years); "
                f"the latest allowed is {oldest_allowed:%Y-%m-%d}",
            )
        plan = ledger.call(lambda conn: audit_trail.prune_plan(conn, cut))
        if not plan.events:
            click.echo(f"nothing to prune before {before}")
            return
        if not apply:
            click.echo(
                f"would prune {plan.events} event(s) through sequence number "
                f"{plan.through_seq}; run again with --apply"
            )
            return
        ledger.call(lambda conn: audit_trail.prune(conn, plan, "genops audit prune", now, years))
    click.echo(
        f"pruned {plan.events} event(s) through sequence number {plan.through_seq} "
        f"(checkpoint hash {plan.through_hash})"
    )


class _Failed(Exception):
    """A call failed; the message is the one line to print."""


def _fail(command: str, message: str) -> None:
    click.echo(f"genops audit {command}: {message}", err=True)
    sys.exit(1)


def _verify_db(path: str) -> Verdict:
    from genops_processor import storage as store
    from genops_processor.record import audit_trail

    with store.Storage(path, read_only=True) as ledger:
        return ledger.call(audit_trail.verify)


def _verify_endpoint(endpoint: str | None, token: str | None) -> Verdict:
    with connect(endpoint, token) as (where, stub):
        try:
            answer = stub.VerifyAuditTrail(pb.VerifyAuditTrailRequest(), timeout=600)
        except grpc.RpcError as error:
            raise _Failed(endpoint_error(where.target, error)) from None
    return Verdict(
        answer.intact,
        answer.events,
        answer.first_bad_seq or None,
        answer.reason,
        answer.head_seq,
        answer.head_hash,
    )


def _export_db(
    path: str, bounds: tuple, fmt: str, output: str | None, asked: tuple[str, str]
) -> int:
    """Write the range, then record the export in the ledger (``audit.exported``, after
    the range, as a running processor does): the ledger is opened for writing."""
    from genops_processor import storage as store
    from genops_processor.record import audit, audit_trail

    with store.Storage(path) as ledger:
        first, last = ledger.call(lambda conn: audit_trail.seq_range(conn, *bounds))

        def pages() -> Iterator[list[dict[str, Any]]]:
            after = 0
            while True:
                events = ledger.call(
                    lambda conn, after=after: audit_trail.page(
                        conn, first, last, after, AUDIT_EXPORT_PAGE
                    )
                )
                if not events:
                    return
                yield events
                after = events[-1]["seq"]

        count = _write(pages(), fmt, output)
        detail = {
            "since": asked[0] or "",
            "until": asked[1] or "",
            "teams": "all",
            "format": fmt,
            "output": output or "-",
            "events": count,
            "first_seq": first,
            "last_seq": last,
        }
        now = dt.datetime.now(dt.timezone.utc)
        ledger.call(
            lambda conn: audit(
                conn, "audit.exported", "genops audit export", detail, now, reported=_reporter()
            )
        )
        return count


def _reporter() -> dict[str, Any]:
    """Who ran the command, as the machine says (not authenticated: a local file)."""
    import getpass
    import os
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = ""
    return {"user": user, "host": socket.gethostname(), "pid": os.getpid()}


def endpoint_pages(stub: Any, target: str, since: str, until: str) -> Iterator[list[dict]]:
    """Every page of an ExportAuditTrail range, as event dicts."""
    after = 0
    while True:
        try:
            answer = stub.ExportAuditTrail(
                pb.ExportAuditTrailRequest(since=since, until=until, after_seq=after), timeout=60
            )
        except grpc.RpcError as error:
            raise _Failed(endpoint_error(target, error)) from None
        yield [
            json_format.MessageToDict(
                e, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
            )
            for e in answer.events
        ]
        if not answer.more:
            return
        after = answer.next_after_seq


def _export_endpoint(endpoint, token, since: str, until: str, fmt: str, output) -> int:
    with connect(endpoint, token) as (where, stub):
        return _write(endpoint_pages(stub, where.target, since, until), fmt, output)


def _write(pages: Iterator[list[dict]], fmt: str, output: str | None) -> int:
    if output:
        return audit_files.write_events(pages, fmt, output)
    return audit_files.write_text(pages, fmt, sys.stdout)

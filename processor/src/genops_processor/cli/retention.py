"""``genops retention plan``: artifacts and runs past their retention and the clean-up
plan. Nothing changes without ``--apply`` (admin), which is audited: one
``retention.applied`` event per item (see :mod:`genops_processor.record.retention`)."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import sys

import click
import grpc

from genops.governance.v1 import governance_pb2 as pb
from genops_processor import storage as store
from genops_processor.cli.endpoint import (
    connect,
    endpoint_error,
    endpoint_option,
    one_source,
    token_option,
)
from genops_processor.cli.literal import literal
from genops_processor.limits import RETENTION_APPLY_CHUNK
from genops_processor.record import retention

_DAYS = click.IntRange(0, 36_600)


@click.group("retention")
def retention_group() -> None:
    """Retention of artifacts and runs: the clean-up plan."""


@retention_group.command("plan")
@click.option("--db", "db", metavar="PATH", help="a stopped ledger file")
@endpoint_option("ask a running processor")
@token_option
@click.option(
    "--artifact-days",
    type=_DAYS,
    default=0,
    help="retention of an artifact without retention_period_days (0: not planned)",
)
@click.option(
    "--run-days",
    type=_DAYS,
    default=0,
    help="retention of a finished run without its own retention (0: not planned)",
)
@click.option("--apply", "apply_", is_flag=True, help="carry the plan out (audited; admin)")
@click.option("--json", "as_json", is_flag=True)
def plan_command(db, endpoint, token, artifact_days, run_days, apply_, as_json) -> None:
    """List what is past its retention and what clean-up would do; --apply does it."""
    one_source(db, endpoint)
    if db:
        items, truncated, applied = _from_db(db, artifact_days, run_days, apply_)
    else:
        request = pb.RetentionPlanRequest(
            default_artifact_days=artifact_days, default_run_days=run_days, apply=apply_
        )
        with connect(endpoint, token) as (where, stub):
            try:
                answer = stub.GetRetentionPlan(request, timeout=600)
            except grpc.RpcError as error:
                click.echo(f"genops retention: {endpoint_error(where.target, error)}", err=True)
                sys.exit(1)
        items, truncated, applied = json.loads(answer.plan_json), answer.truncated, answer.applied
    if as_json:
        click.echo(json.dumps({"items": items, "truncated": truncated, "applied": applied}))
        return
    for item in items:
        click.echo(
            literal(
                f"{item['kind']:8} {item['name']}  {item['team']}/{item['project']}  "
                f"{item['retention_days']} d ({item['source']}), expired {item['expired_at']}: "
                f"{item['action']}"
            )
        )
    click.echo(f"{len(items)} item(s) past retention" + (" (more not shown)" if truncated else ""))
    if apply_:
        click.echo(f"applied to {applied} item(s) (audited: retention.applied)")
    elif items:
        click.echo("nothing changed: run again with --apply to carry the plan out")


def _from_db(db: str, artifact_days: int, run_days: int, apply_: bool):
    now = dt.datetime.now(dt.timezone.utc)
    with store.Storage(db, read_only=not apply_, create=False) as storage:
        items, truncated = storage.call(
            lambda conn: retention.plan(conn, now, artifact_days, run_days)
        )
        applied = 0
        if apply_:
            actor = f"cli:{getpass.getuser()}"
            for start in range(0, len(items), RETENTION_APPLY_CHUNK):
                chunk = items[start : start + RETENTION_APPLY_CHUNK]
                applied += storage.call(
                    lambda conn, chunk=chunk: retention.apply(conn, chunk, now, actor)
                )
    return [i.to_dict() for i in items], truncated, applied

"""``genops backup``: consistent copies of the ledger and their restore.

``create`` takes a backup of a stopped ledger (``--db FILE --to DIR``) or asks a running
processor for one into its ``--backup-dir`` (``--endpoint``, admin); ``restore`` makes a
new ledger file from a backup and never overwrites one; ``status`` says when the newest
backup was taken and, with ``--rpo-hours``, whether it is within the recovery point
objective (exit 1 when not).
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from google.protobuf import json_format

from genops.governance.v1 import governance_pb2 as pb
from genops.money import format_usd
from genops_processor import storage as store
from genops_processor.cli.endpoint import (
    call_api,
    endpoint_option,
    one_source,
    token_option,
)
from genops_processor.limits import BACKUPS_KEPT
from genops_processor.record import backups
from genops_processor.storage import backup as storage_backup


@click.group("backup")
def backup_group() -> None:
    """Backups of the ledger: create, restore, status."""


@backup_group.command("create")
@click.option("--db", "db", metavar="PATH", help="a stopped ledger file to back up")
@click.option("--to", "to", metavar="DIR", help="where the backup goes (with --db)")
@endpoint_option("ask a running processor (into its --backup-dir)")
@token_option
@click.option("--json", "as_json", is_flag=True, help="print the manifest as JSON")
def create_command(db, to, endpoint, token, as_json) -> None:
    """Take a consistent copy of the ledger (audited: a backup.created event)."""
    one_source(db, endpoint)
    if db:
        if not to:
            raise click.UsageError("--db needs --to DIR")
        actor = f"cli:{getpass.getuser()}"
        with store.Storage(db, create=False) as storage:
            manifest = backups.take(storage, Path(to), actor)
        _echo(manifest, as_json)
        return
    if to:
        raise click.UsageError("--to goes with --db; a processor writes into its --backup-dir")
    status = _call(
        endpoint, token, lambda stub: stub.CreateBackup(pb.CreateBackupRequest(), timeout=600)
    )
    _echo(_status_dict(status), as_json)


@backup_group.command("restore")
@click.argument("backup", metavar="BACKUP")
@click.option(
    "--db", "db", required=True, metavar="NEW", help="the new ledger file (must not exist)"
)
def restore_command(backup, db) -> None:
    """Make a new ledger file NEW from BACKUP (a genops-*.duckdb file); never overwrites."""
    try:
        facts = storage_backup.restore(Path(backup), Path(db))
    except storage_backup.RestoreError as error:
        click.echo(f"genops backup restore: {error}", err=True)
        sys.exit(1)
    click.echo(
        f"restored {db} from {backup}: {facts['runs']} run(s), "
        f"{format_usd(facts['cost_micros'])} run cost, {facts['audit_events']} audit event(s) "
        f"(backup {facts['backup_id'] or '?'} taken {facts['taken_at']})"
    )


@backup_group.command("prune")
@click.option("--db", "db", required=True, metavar="PATH", help="the stopped ledger file")
@click.option(
    "--backup-dir", "directory", required=True, metavar="DIR", help="where its backups are"
)
@click.option(
    "--keep",
    type=click.IntRange(min=1, max=100_000),
    default=BACKUPS_KEPT,
    show_default=True,
    help="the newest backups kept",
)
@click.option(
    "--rpo-hours",
    type=click.FloatRange(min=0, max=876_000),
    default=0.0,
    help="also keep every backup younger than this (disaster_recovery_rpo_hours)",
)
@click.option("--apply", is_flag=True, help="remove them (without it: only show what would go)")
def prune_command(db, directory, keep, rpo_hours, apply) -> None:
    """Remove old backups: all but the newest --keep and those within --rpo-hours (the
    newest good one never); each removal is audited (backup.pruned)."""
    now = dt.datetime.now(dt.timezone.utc)
    with store.Storage(db, create=False) as storage:
        plan = storage.call(
            lambda conn: backups.prune_plan(conn, Path(directory), keep, now, rpo_hours)
        )
        for backup_id, why in plan.skipped:
            click.echo(f"genops backup prune: {backup_id} left alone: {why}", err=True)
        for backup_id, taken_at, path in plan.remove:
            verb = "removing" if apply else "would remove"
            click.echo(f"{verb} {backup_id} (taken {taken_at.isoformat()}): {path}")
        if apply and plan.remove:
            actor = f"cli:{getpass.getuser()}"
            storage.call(lambda conn: backups.prune(conn, plan, actor, now))
    shown = "removed" if apply else "to remove"
    click.echo(f"{len(plan.remove)} backup(s) {shown}, {len(plan.kept)} kept")
    if plan.remove and not apply:
        click.echo("run again with --apply to remove them")


@backup_group.command("status")
@click.option("--db", "db", metavar="PATH", help="read a stopped ledger file")
@endpoint_option("ask a running processor")
@token_option
@click.option(
    "--rpo-hours",
    type=click.FloatRange(min=0, max=876_000),
    default=0.0,
    help="disaster_recovery_rpo_hours: exit 1 when the newest backup is older",
)
@click.option("--json", "as_json", is_flag=True)
def status_command(db, endpoint, token, rpo_hours, as_json) -> None:
    """When the newest backup was taken, and its age against --rpo-hours."""
    one_source(db, endpoint)
    if db:
        now = dt.datetime.now(dt.timezone.utc)
        with store.Storage(db, read_only=True) as storage:
            state = storage.call(lambda conn: backups.status(conn, now, rpo_hours))
    else:
        request = pb.GetBackupStatusRequest(rpo_hours=rpo_hours)
        state = _status_dict(
            _call(endpoint, token, lambda stub: stub.GetBackupStatus(request, timeout=30))
        )
    if as_json:
        click.echo(json.dumps(state, indent=2, sort_keys=True, default=str))
    elif not state.get("last_backup_at"):
        click.echo("no backup taken yet")
    else:
        click.echo(
            f"last backup {state['last_backup_at']} ({state['age_s']} s ago), "
            f"{state['runs']} run(s), audit seq {state.get('audit_seq', 0)}"
            + (f", {state['path']}" if state.get("path") else "")
        )
    if rpo_hours and not state.get("within_rpo"):
        click.echo(f"genops backup status: no backup within the last {rpo_hours:g} h", err=True)
        sys.exit(1)


def _status_dict(status: pb.BackupStatus) -> dict[str, Any]:
    state = json_format.MessageToDict(
        status, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    for key in ("audit_events", "audit_seq", "runs", "cost_micros", "blocked_ms", "age_s"):
        state[key] = int(state.get(key) or 0)
    state["last_backup_at"] = state.get("last_backup_at") or None
    return state


def _echo(manifest: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(manifest, indent=2, sort_keys=True, default=str))
        return
    click.echo(
        f"backup {manifest.get('path') or manifest.get('backup_id')}: {manifest['runs']} run(s), "
        f"audit seq {manifest.get('audit_seq', 0)}, writer held {manifest['blocked_ms']} ms"
    )


def _call(endpoint: str | None, token: str | None, fn: Callable[[Any], Any]) -> Any:
    return call_api("backup", endpoint, token, fn)

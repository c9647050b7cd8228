"""``genops ledger compact``: compact a stopped ledger's raw spans and give the space back.

A running processor compacts spans past ``--raw-span-days`` by itself (DuckDB reuses the
freed space); this command does the same on a ledger file no processor holds, then
rewrites the file so that it shrinks on disk.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
from pathlib import Path

import click

from genops_processor import storage as store
from genops_processor.cli.literal import one_line


@click.group("ledger")
def ledger_group() -> None:
    """Maintenance of a ledger file (no processor running)."""


@ledger_group.command("compact")
@click.option("--db", "db", required=True, metavar="PATH", help="the DuckDB ledger file")
@click.option(
    "--keep-days",
    type=click.FloatRange(min=0, max=36_500),
    default=3.0,
    show_default=True,
    help="raw span content younger than this is kept",
)
@click.option("--no-rewrite", is_flag=True, help="compact only; do not rewrite the file")
def compact_command(db: str, keep_days: float, no_rewrite: bool) -> None:
    """Compact raw spans older than --keep-days to their ids, then rewrite the file."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    path = Path(db)
    if not path.is_file():
        click.echo(f"genops ledger compact: no ledger at {path}", err=True)
        sys.exit(1)
    before_bytes = path.stat().st_size
    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=keep_days)
    copy = path.with_name(path.name + ".compacting")
    try:
        copy.unlink(missing_ok=True)
        with store.Storage(path, create=False) as storage:
            total = storage.call(lambda conn: store.remaining(conn, before))
            with Progress(
                TextColumn("compacting"), BarColumn(), MofNCompleteColumn(), transient=False
            ) as progress:
                task = progress.add_task("compact", total=total)
                done = 0
                while (moved := storage.call(lambda conn: store.compact_step(conn, before))) > 0:
                    done += moved
                    progress.update(task, completed=done)
            if not no_rewrite:
                storage.call(lambda conn: store.copy_ledger(conn, str(copy)))
    except (store.StorageError, OSError) as error:
        cause = store.storage_cause(error, path) if isinstance(error, OSError) else None
        click.echo(f"genops ledger compact: {one_line(cause or error)}", err=True)
        with contextlib.suppress(OSError):
            copy.unlink(missing_ok=True)
        sys.exit(1)
    if not no_rewrite:
        os.replace(copy, path)  # atomic: the old file or the new one, never half of either
        path.with_name(path.name + ".wal").unlink(missing_ok=True)
    after_bytes = path.stat().st_size
    click.echo(
        f"compacted {done} span(s) received before {before:%Y-%m-%d %H:%M} UTC; "
        f"{path}: {before_bytes / 2**20:.1f} MiB -> {after_bytes / 2**20:.1f} MiB"
    )

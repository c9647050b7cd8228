"""The cost report: rows of runs, as JSON or as tables by run, team and project."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from genops.governance.v1 import governance_pb2 as pb
from genops.money import MICROS_PER_USD, format_usd


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
    }


def to_json(runs: Iterable[pb.RunSummary]) -> str:
    return json.dumps([run_row(r) for r in runs], indent=2)


def print_tables(runs: Sequence[pb.RunSummary], console: Console | None = None) -> None:
    console = console or Console(width=None if Console().is_terminal else 140)
    if not runs:
        console.print("No runs recorded yet.")
        return
    table = Table(title="Cost by run")
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
    for run in runs:
        cost = format_usd(run.cost_micros)
        if run.unpriced_skus:
            cost += f" + unpriced {', '.join(run.unpriced_skus)}"
        table.add_row(
            run.run_id or run.run_key[:12],
            run.scope.team,
            run.scope.project,
            run.scope.customer_id,
            run.status,
            f"{run.duration_ns / 1e9:.1f}s",
            str(run.log_calls),
            f"{run.artifact_bytes} B",
            cost,
        )
    console.print(table)
    for title, key in (
        ("Cost by team", lambda r: r.scope.team),
        ("Cost by project", lambda r: r.scope.project),
    ):
        console.print(_totals(title, runs, key))
    console.print(f"Total: {format_usd(sum(r.cost_micros for r in runs))} over {len(runs)} run(s)")
    flagged = [(run, v) for run in runs for v in run.violations]
    if flagged:
        console.print(f"[bold red]Violations ({len(flagged)})[/bold red]")
        for run, violation in flagged:
            console.print(f"  {run.run_id or run.run_key[:12]}: {violation}")


def _totals(title: str, runs: Sequence[pb.RunSummary], key) -> Table:
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for run in runs:
        entry = sums[key(run) or "(unset)"]
        entry[0] += 1
        entry[1] += run.cost_micros
    table = Table(title=title)
    table.add_column("name")
    table.add_column("runs", justify="right")
    table.add_column("cost", justify="right")
    for name, (count, micros) in sorted(sums.items(), key=lambda kv: -kv[1][1]):
        table.add_row(name, str(count), format_usd(micros))
    return table


def _json_usd(micros: int) -> float:
    # Six decimals print back exactly: the JSON text is the exact decimal amount.
    return float(Decimal(micros) / MICROS_PER_USD)

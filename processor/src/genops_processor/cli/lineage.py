"""``genops lineage ARTIFACT|RUN``: what an artifact came from and what used it, or a
run's inputs and outputs (its own lineage records and W&B's ``use_artifact`` links)."""

from __future__ import annotations

import json
import sys

import click

from genops.governance.v1 import governance_pb2 as pb
from genops_processor import storage as store
from genops_processor.cli.endpoint import (
    call_api,
    endpoint_option,
    one_source,
    token_option,
)
from genops_processor.cli.literal import literal
from genops_processor.record import lineage


@click.command("lineage")
@click.argument("name", metavar="ARTIFACT|RUN")
@click.option("--db", "db", metavar="PATH", help="read a stopped ledger file")
@endpoint_option("ask a running processor")
@token_option
@click.option("--json", "as_json", is_flag=True, help="print the lineage as JSON")
def lineage_command(name, db, endpoint, token, as_json) -> None:
    """Where ARTIFACT came from and which runs used it; or what RUN used and logged."""
    one_source(db, endpoint)
    if db:
        with store.Storage(db, read_only=True) as storage:
            found = storage.call(lambda conn: lineage.lineage(conn, name))
    else:
        request = pb.LineageRequest(name=name)
        answer = call_api(
            "lineage", endpoint, token, lambda stub: stub.GetLineage(request, timeout=30)
        )
        found = json.loads(answer.lineage_json)
    if as_json:
        click.echo(json.dumps(found, indent=2, sort_keys=True))
    else:
        _print(found)
    if not found["artifacts"] and not found["runs"]:
        click.echo(f"genops lineage: no artifact or run named {name!r}", err=True)
        sys.exit(1)


def _run(ref: dict | None) -> str:
    if not ref:
        return "(no run in the ledger)"
    scope = "/".join(x for x in (ref.get("team"), ref.get("project")) if x)
    return f"run {ref.get('run_id') or ref.get('run_key')} ({scope})"


def _print(found: dict) -> None:
    out = []
    for artifact in found["artifacts"]:
        out.append(f"artifact {artifact['name']} [{artifact.get('type') or '?'}]")
        out.append(f"  logged by {_run(artifact.get('logged_by'))} {artifact.get('logged_at', '')}")
        record = artifact.get("lineage")
        if isinstance(record, dict):
            for key in ("data_sources", "transformations", "compliance_approvals"):
                values = record.get(key) or []
                if values:
                    more = record.get(f"{key}_total", len(values)) - len(values)
                    tail = f" (+{more} more)" if more > 0 else ""
                    out.append(f"  {key.replace('_', ' ')}: {', '.join(map(str, values))}{tail}")
            if record.get("validation_results"):
                out.append(f"  validation: {json.dumps(record['validation_results'])}")
        users = artifact.get("used_by") or []
        out.append(f"  used by: {', '.join(_run(u) for u in users) or 'no run'}")
    for run in found["runs"]:
        out.append(f"{_run(run)} [{run.get('status') or '?'}]")
        for used in run["used"]:
            producers = ", ".join(_run(p) for p in used["logged_by"]) or "no run in the ledger"
            out.append(f"  used {used['name']} (logged by {producers})")
        for logged in run["logged"]:
            users = ", ".join(_run(u) for u in logged["used_by"]) or "no run"
            out.append(f"  logged {logged['name']} (used by {users})")
    if found.get("truncated"):
        out.append("(lists cut at LINEAGE_MAX_ITEMS)")
    for line in out:
        click.echo(literal(line))

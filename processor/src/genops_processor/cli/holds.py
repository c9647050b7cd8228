"""``genops holds``: reservations with who created them (list), and giving one back
(release) — an admin's way out when a client holds budget it does not use."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click
from google.protobuf import json_format

from genops.governance.v1 import governance_pb2 as pb
from genops.money import format_usd
from genops_processor.cli.endpoint import (
    call_api,
    endpoint_option,
    token_option,
)
from genops_processor.cli.literal import literal
from genops_processor.limits import LIST_HOLDS_MAX


def _ENDPOINT(fn: Callable) -> Callable:  # noqa: N802 (a decorator, named like a constant)
    return endpoint_option()(token_option(fn))


@click.group("holds")
def holds_group() -> None:
    """Budget reservations (holds): list them, release one (admin)."""


@holds_group.command("list")
@_ENDPOINT
@click.option("--all", "include_closed", is_flag=True, help="closed holds too")
@click.option("--team", default="", help="only this team's holds")
@click.option(
    "--limit",
    type=click.IntRange(1, LIST_HOLDS_MAX),
    default=LIST_HOLDS_MAX,
    show_default=True,
    help="oldest holds to show",
)
@click.option("--json", "as_json", is_flag=True)
def list_command(endpoint, token, include_closed, team, limit, as_json) -> None:
    """Holds, oldest first, with the principal that created each (admin, auditor)."""
    request = pb.ListHoldsRequest(include_closed=include_closed, team=team, limit=limit)
    response = _call(endpoint, token, lambda stub: stub.ListHolds(request, timeout=10))
    if as_json:
        holds = [
            json_format.MessageToDict(
                h, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
            )
            for h in response.holds
        ]
        click.echo(json.dumps({"holds": holds, "truncated": response.truncated}, indent=2))
        return
    if not response.holds:
        click.echo("no open holds" if not include_closed else "no holds")
    for h in response.holds:
        scope = "/".join(x for x in (h.scope.team, h.scope.project) if x) or "-"
        who = h.principal or "(before authentication)"
        click.echo(
            literal(
                f"{h.hold_id}  {h.status:9}  {format_usd(h.amount_micros):>14}  {scope}  "
                f"by {who}  since {h.created_at}"
            )
        )
    if response.truncated:
        click.echo(f"(more holds than --limit {limit}: not shown)", err=True)


@holds_group.command("release")
@click.argument("hold_id")
@_ENDPOINT
def release_command(hold_id, endpoint, token) -> None:
    """Give a hold back (a client: its own; an admin: any, audited)."""
    request = pb.ReleaseHoldRequest(hold_id=hold_id)
    response = _call(endpoint, token, lambda stub: stub.ReleaseHold(request, timeout=10))
    if not response.released:
        click.echo(f"genops holds release: no open hold {hold_id}", err=True)
        sys.exit(1)
    click.echo(f"hold {hold_id} released")


def _call(endpoint: str | None, token: str | None, fn: Callable[[Any], Any]) -> Any:
    return call_api("holds", endpoint, token, fn)

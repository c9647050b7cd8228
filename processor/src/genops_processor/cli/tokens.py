"""``genops tokens create|list|revoke``: the principals of a credentials file.

``create`` adds a principal with a new token and prints the token as the last line of
stdout: the only time it exists (the file keeps its SHA-256). ``list`` never shows a
hash. A running processor picks every change up within a second, no restart.
"""

from __future__ import annotations

import json
import sys

import click

from genops_processor.auth import credentials as creds
from genops_processor.auth.credentials import CredentialsError, Entry
from genops_processor.cli.literal import one_line

_CREDENTIALS = click.option(
    "--credentials",
    "path",
    envvar="GENOPS_CREDENTIALS",
    required=True,
    metavar="FILE",
    help="the credentials file [env GENOPS_CREDENTIALS]",
)


@click.group("tokens")
def tokens_group() -> None:
    """Principals and their tokens (the processor's --credentials file)."""


@tokens_group.command("create")
@_CREDENTIALS
@click.option("--name", required=True, help="the principal's name (audit log actor)")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["client", "approver", "auditor", "admin"], case_sensitive=False),
)
@click.option("--team", "teams", multiple=True, metavar="TEAM", help="a team it acts for")
@click.option("--project", "projects", multiple=True, metavar="PROJECT", help="narrows it")
@click.option("--customer", "customers", multiple=True, metavar="CUSTOMER", help="narrows it")
@click.option(
    "--mtls-subject",
    metavar="SUBJECT",
    help="identify it by this client certificate subject (mutual TLS) instead of a token",
)
def create_command(path, name, role, teams, projects, customers, mtls_subject) -> None:
    """Add a principal; its new token is the last line of stdout (shown once)."""
    token = _edit(
        "create",
        lambda: creds.create(
            path, name, role, teams, projects, customers, mtls_subject=mtls_subject
        ),
    )
    entry = creds.load(path).entry(name)
    click.echo(f"principal {name!r} ({_role(entry)}) added to {path}")
    if token is None:
        click.echo(f"it is the client certificate with subject {mtls_subject!r} (no token)")
        return
    click.echo("its token, shown only now (send it as 'authorization: Bearer <token>'):")
    click.echo(token)


@tokens_group.command("list")
@_CREDENTIALS
@click.option("--json", "as_json", is_flag=True, help="one JSON array (no token hashes)")
def list_command(path, as_json) -> None:
    """The principals: name, role, scope, how each authenticates, created, revoked."""
    entries = _edit("list", lambda: creds.load(path)).entries
    rows = [_row(e) for e in entries]
    if as_json:
        json.dump(rows, sys.stdout, indent=2)
        click.echo()
        return
    if not rows:
        click.echo(f"no principals in {path}")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "role", "teams", "projects", "customers", "auth", "created", "status")
    for r in rows:
        table.add_row(
            r["name"],
            r["role"],
            ", ".join(r["teams"]) or "-",
            ", ".join(r["projects"]) or "-",
            ", ".join(r["customers"]) or "-",
            r["authentication"],
            r["created"] or "-",
            f"revoked {r['revoked']}" if r["revoked"] else "active",
        )
    Console(width=160).print(table)


@tokens_group.command("revoke")
@_CREDENTIALS
@click.option("--name", required=True, help="the principal whose token stops working")
def revoke_command(path, name) -> None:
    """Revoke a principal: its token (or certificate subject) is refused from now on."""
    entry = _edit("revoke", lambda: creds.revoke(path, name))
    if entry.revoked:
        click.echo(f"principal {name!r} was already revoked ({entry.revoked})")
    else:
        click.echo(f"principal {name!r} revoked; a running processor refuses it within a second")


def _edit(command: str, action):
    try:
        return action()
    except CredentialsError as error:
        click.echo(f"genops tokens {command}: {one_line(error)}", err=True)
        sys.exit(1)


def _role(entry: Entry | None) -> str:
    if entry is None:
        return "?"
    if entry.teams:
        return f"{entry.role.value} of {', '.join(entry.teams)}"
    return entry.role.value


def _row(entry: Entry) -> dict:
    methods = [m for m, v in (("token", entry.token_sha256), ("mtls", entry.mtls_subject)) if v]
    return {
        "name": entry.name,
        "role": entry.role.value,
        "teams": list(entry.teams),
        "projects": list(entry.projects),
        "customers": list(entry.customers),
        "authentication": "+".join(methods) or "none",
        "mtls_subject": entry.mtls_subject,
        "created": entry.created,
        "revoked": entry.revoked,
    }

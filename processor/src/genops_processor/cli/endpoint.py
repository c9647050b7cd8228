"""How a ``genops`` command reaches a running processor, and what it says when that fails.

Every command that takes ``--endpoint`` also takes ``--token`` and connects through
:func:`connect`: ``host:port`` or ``http://`` is plain text, ``https://`` is TLS
(roots from ``GENOPS_CA``, else the system's; a client certificate from
``GENOPS_CLIENT_CERT``/``GENOPS_CLIENT_KEY`` for mutual TLS), and every call carries
``authorization: Bearer <token>`` (``--token``, else ``GENOPS_TOKEN``). Prefer
``GENOPS_TOKEN``: a ``--token`` on the command line shows in ``ps``.

:func:`endpoint_error` is the one line a failed call prints: it tells nothing
listening ("cannot reach") from something that answers but is not the governance
API (an OpenTelemetry collector at the OTLP address), a refused token or right,
and otherwise the processor's own reason.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import click
import grpc

from genops.governance.v1 import governance_pb2_grpc as pb_grpc
from genops.transport import ChannelSecurity, TransportError, open_channel, parse_target
from genops_processor.settings import DEFAULT_ENDPOINT

_UNREACHABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def endpoint_option(help_text: str = "the processor") -> Callable:
    return click.option(
        "--endpoint",
        metavar="HOST:PORT|URL",
        help=f"{help_text}: host:port, http:// or https:// URL [env GENOPS_ENDPOINT]",
    )


token_option = click.option(
    "--token",
    metavar="TOKEN",
    default=None,
    help="bearer token for the processor [env GENOPS_TOKEN, preferred: not shown in ps]",
)


@dataclass(frozen=True)
class Endpoint:
    """Where a command connects, and with what credentials."""

    target: str  # host:port
    secure: bool
    security: ChannelSecurity

    def channel(self) -> grpc.Channel:
        return open_channel(self.target, self.secure, self.security)


def resolve(
    endpoint: str | None, token: str | None = None, environ: Mapping[str, str] | None = None
) -> Endpoint:
    """--endpoint, else GENOPS_ENDPOINT, else localhost:4317; --token, else GENOPS_TOKEN.
    A bad value is a :class:`click.UsageError` naming the option or variable."""
    env = os.environ if environ is None else environ
    key = "--endpoint" if endpoint else "GENOPS_ENDPOINT"
    value = (endpoint or env.get("GENOPS_ENDPOINT") or DEFAULT_ENDPOINT).strip()
    try:
        target, secure = parse_target(value, key)
        security = ChannelSecurity.from_env(env).with_token(token, "--token")
    except TransportError as error:
        raise click.UsageError(str(error)) from None
    return Endpoint(target, secure, security)


@contextmanager
def connect(endpoint: str | None, token: str | None = None) -> Iterator[tuple[Endpoint, Any]]:
    """(the endpoint, a GovernanceService stub) for one command; the channel is closed after."""
    where = resolve(endpoint, token)
    channel = where.channel()
    try:
        yield where, pb_grpc.GovernanceServiceStub(channel)
    finally:
        channel.close()


def call_api(command: str, endpoint: str | None, token: str | None, fn: Callable[[Any], Any]):
    """``fn(stub)`` against the processor; a refused or failed call is one line on stderr
    ("genops COMMAND: ...") and exit status 1."""
    with connect(endpoint, token) as (where, stub):
        try:
            return fn(stub)
        except grpc.RpcError as error:
            click.echo(f"genops {command}: {endpoint_error(where.target, error)}", err=True)
            sys.exit(1)


def one_source(db: str | None, endpoint: str | None) -> None:
    """A command that reads a ledger file or asks a processor takes one of the two."""
    if db and endpoint:
        raise click.UsageError("give --db or --endpoint, not both")


def endpoint_error(target: str, error: grpc.RpcError) -> str:
    code = error.code() if hasattr(error, "code") else None
    details = error.details() if hasattr(error, "details") else None
    if code in _UNREACHABLE:
        return f"cannot reach the processor at {target}: {code.name}"
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return (
            f"{target} answers but does not implement the governance API (UNIMPLEMENTED): "
            "an OpenTelemetry collector? Point --endpoint or GENOPS_ENDPOINT at "
            "genops-processor's host:port"
        )
    text = " ".join((details or (code.name if code is not None else str(error))).split())
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return (
            f"{target} refused the credentials (UNAUTHENTICATED: {text}); "
            "pass --token or set GENOPS_TOKEN"
        )
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return f"{target} refused (PERMISSION_DENIED: {text})"
    return text

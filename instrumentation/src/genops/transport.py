"""How every client of the processor connects: one place that builds a gRPC channel.

==================================================  =====================================
variable                                            meaning
==================================================  =====================================
GENOPS_TOKEN                                        sent as ``authorization: Bearer <token>``
                                                    on every call (OTLP export, governance
                                                    RPCs, setup checks, the ``genops`` CLI)
GENOPS_CA, else OTEL_EXPORTER_OTLP_CERTIFICATE      PEM roots that verify an ``https://``
                                                    endpoint (default: the system's roots)
GENOPS_CLIENT_CERT / GENOPS_CLIENT_KEY, else        PEM certificate and key presented for
OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE / _KEY        mutual TLS (both or neither)
OTEL_EXPORTER_OTLP_TRACES_HEADERS, else             extra metadata of the OTLP export, read
OTEL_EXPORTER_OTLP_HEADERS                          only when its endpoint came from an
                                                    ``OTEL_EXPORTER_OTLP_*`` variable
==================================================  =====================================

An ``http://`` or bare ``host:port`` endpoint is plain text; ``https://`` is TLS.
``GENOPS_TOKEN`` wins over an ``authorization`` header in the OTEL headers. The
token is attached by a client interceptor, so it rides on plain-text channels
too (a loopback processor); sending it in plain text to another host is warned
about once. Files are read when the settings are parsed, so a missing or
unreadable file is a :class:`ConfigError` naming its variable, never a failure
in the middle of a training loop.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

_log = logging.getLogger(__name__)
_warned_plaintext: set[str] = set()
_warn_lock = threading.Lock()

_CA_VARIABLES = (
    "GENOPS_CA",
    "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CERTIFICATE",
)
_CERT_VARIABLES = (
    "GENOPS_CLIENT_CERT",
    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
)
_KEY_VARIABLES = (
    "GENOPS_CLIENT_KEY",
    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
    "OTEL_EXPORTER_OTLP_CLIENT_KEY",
)
_HEADER_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS")
# Endpoint variables after which the OTEL headers apply (the user's collector set-up).
OTEL_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
REFUSED = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


class TransportError(ValueError):
    """A transport setting is wrong: ``key`` names the variable (or option)."""

    def __init__(self, key: str, value: str, reason: str) -> None:
        super().__init__(f"{key}={value!r}: {reason}")
        self.key, self.value, self.reason = key, value, reason


@dataclass(frozen=True)
class ChannelSecurity:
    """What a client presents: a bearer token, TLS roots, a client certificate, headers.

    PEM contents, not paths: read once when parsed. Nothing here prints a secret.
    """

    token: str | None = field(default=None, repr=False)
    root_certificates: bytes | None = field(default=None, repr=False)
    client_certificate: bytes | None = field(default=None, repr=False)
    client_key: bytes | None = field(default=None, repr=False)
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    # Where each came from, for messages ("GENOPS_TOKEN", "--token", "GENOPS_CA" ...).
    token_source: str = ""
    ca_source: str = ""

    @property
    def has_token(self) -> bool:
        return bool(self.token) or any(k == "authorization" for k, _ in self.headers)

    @property
    def mutual_tls(self) -> bool:
        return self.client_certificate is not None

    def with_token(self, token: str | None, source: str) -> ChannelSecurity:
        """The same with ``token`` (None or empty: unchanged)."""
        if not token:
            return self
        return _replace(self, token=_clean_token(token, source), token_source=source)

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The call metadata: the headers, with ``authorization`` from the token first."""
        pairs = [(k, v) for k, v in self.headers if not (self.token and k == "authorization")]
        if self.token:
            pairs.insert(0, ("authorization", f"Bearer {self.token}"))
        return tuple(pairs)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, otel_headers: bool = False
    ) -> ChannelSecurity:
        """Read the variables of the module docstring; ``otel_headers``: the OTLP export
        whose endpoint came from ``OTEL_EXPORTER_OTLP_*``."""
        env = os.environ if environ is None else environ
        token = (env.get("GENOPS_TOKEN") or "").strip() or None
        ca_key = _first(env, _CA_VARIABLES)
        cert_key = _first(env, _CERT_VARIABLES)
        key_key = _first(env, _KEY_VARIABLES)
        if (cert_key is None) != (key_key is None):
            given = cert_key or key_key or ""
            raise TransportError(
                given,
                env[given],
                "a client certificate needs its key and the key its certificate "
                "(set GENOPS_CLIENT_CERT and GENOPS_CLIENT_KEY)",
            )
        headers: tuple[tuple[str, str], ...] = ()
        if otel_headers:
            header_key = _first(env, _HEADER_VARIABLES)
            if header_key is not None:
                headers = _parse_headers(header_key, env[header_key])
        return cls(
            token=_clean_token(token, "GENOPS_TOKEN") if token else None,
            root_certificates=_read(env, ca_key),
            client_certificate=_read(env, cert_key),
            client_key=_read(env, key_key),
            headers=headers,
            token_source="GENOPS_TOKEN" if token else "",
            ca_source=ca_key or "",
        )


def open_channel(
    target: str,
    secure: bool,
    security: ChannelSecurity | None = None,
    *,
    options: Sequence[tuple[str, Any]] = (),
    compression: grpc.Compression | None = None,
) -> grpc.Channel:
    """A channel to ``target`` (``host:port``): TLS when ``secure``; every call carries
    the token and headers of ``security``."""
    security = security or ChannelSecurity()
    if secure:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=security.root_certificates,
            private_key=security.client_key,
            certificate_chain=security.client_certificate,
        )
        channel = grpc.secure_channel(target, credentials, list(options), compression)
    else:
        channel = grpc.insecure_channel(target, list(options), compression)
    metadata = security.metadata()
    if not metadata:
        return channel
    if not secure and security.token and not is_loopback(target):
        _warn_plaintext(target)
    return _ClosingChannel(grpc.intercept_channel(channel, _Metadata(metadata)), channel)


def parse_target(endpoint: str, key: str = "GENOPS_ENDPOINT") -> tuple[str, bool]:
    """``https://host:4317`` / ``http://host:4317`` / ``host:4317`` -> (``host:4317``,
    TLS?). ``key`` names where the value came from, for the error."""
    from urllib.parse import urlparse

    if "://" not in endpoint:
        return endpoint.rstrip("/"), False
    parsed = urlparse(endpoint)
    try:
        port = parsed.port or 4317
    except ValueError as error:
        raise TransportError(key, endpoint, f"bad port: {error}") from None
    if not parsed.hostname:
        raise TransportError(key, endpoint, "no host in the URL")
    host = f"[{parsed.hostname}]" if ":" in parsed.hostname else parsed.hostname
    return f"{host}:{port}", parsed.scheme == "https"


def is_loopback(target: str) -> bool:
    host = target.rsplit(":", 1)[0].strip("[]") if ":" in target else target
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refused(error: BaseException) -> bool:
    """The processor answered: missing/bad credentials or no right (not a budget denial)."""
    code = error.code() if isinstance(error, grpc.RpcError) and hasattr(error, "code") else None
    return code in REFUSED


def refusal_hint(security: ChannelSecurity | None, code: grpc.StatusCode | None) -> str:
    """What to do about a refusal, in a few words."""
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return "the token's principal lacks this right: ask an admin for a token that has it"
    if security is not None and security.has_token:
        source = security.token_source or "the authorization header"
        return f"the token from {source} was not accepted: check or renew it"
    return "set GENOPS_TOKEN to a token from `genops tokens create`"


# -- internals ------------------------------------------------------------------------


class _Metadata(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self._metadata = metadata
        self._keys = {key for key, _ in metadata}

    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        given = [(k, v) for k, v in (details.metadata or ()) if k not in self._keys]
        return _CallDetails(
            details.method,
            details.timeout,
            [*self._metadata, *given],
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation, details, requests):
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation, details, requests):
        return continuation(self._details(details), requests)


class _CallDetails(grpc.ClientCallDetails):
    def __init__(self, method, timeout, metadata, credentials, wait_for_ready, compression):
        self.method = method
        self.timeout = timeout
        self.metadata = metadata
        self.credentials = credentials
        self.wait_for_ready = wait_for_ready
        self.compression = compression


class _ClosingChannel(grpc.Channel):
    """An intercepted channel that closes (and works as a context manager) like the raw one."""

    def __init__(self, intercepted: grpc.Channel, raw: grpc.Channel) -> None:
        self._intercepted = intercepted
        self._raw = raw

    def subscribe(self, callback, try_to_connect=False):
        self._raw.subscribe(callback, try_to_connect)

    def unsubscribe(self, callback):
        self._raw.unsubscribe(callback)

    def unary_unary(self, method, *args, **kwargs):
        return self._intercepted.unary_unary(method, *args, **kwargs)

    def unary_stream(self, method, *args, **kwargs):
        return self._intercepted.unary_stream(method, *args, **kwargs)

    def stream_unary(self, method, *args, **kwargs):
        return self._intercepted.stream_unary(method, *args, **kwargs)

    def stream_stream(self, method, *args, **kwargs):
        return self._intercepted.stream_stream(method, *args, **kwargs)

    def close(self):
        self._raw.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _warn_plaintext(target: str) -> None:
    with _warn_lock:
        if target in _warned_plaintext:
            return
        _warned_plaintext.add(target)
    _log.warning(
        "genops: the bearer token goes to %s in plain text; use an https:// endpoint "
        "(the processor's --tls-cert) off this machine",
        target,
    )


def _first(env: Mapping[str, str], names: Sequence[str]) -> str | None:
    for name in names:
        if (env.get(name) or "").strip():
            return name
    return None


def _read(env: Mapping[str, str], key: str | None) -> bytes | None:
    if key is None:
        return None
    value = env[key].strip()
    try:
        data = Path(value).expanduser().read_bytes()
    except OSError as error:
        raise TransportError(key, value, f"cannot read: {error.strerror or error}") from None
    if b"-----BEGIN" not in data:
        raise TransportError(key, value, "not a PEM file (no -----BEGIN line)")
    return data


def _parse_headers(key: str, value: str) -> tuple[tuple[str, str], ...]:
    from opentelemetry.util.re import parse_env_headers

    parsed = parse_env_headers(value, liberal=True)
    if value.strip() and not parsed:
        raise TransportError(key, value, "expected key=value pairs separated by commas")
    return tuple((k.strip().lower(), v.strip()) for k, v in parsed.items())


def _clean_token(token: str, source: str) -> str:
    token = token.strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    if not token or any(c.isspace() or not c.isprintable() for c in token):
        raise TransportError(source, "***", "a token is one word of printable characters")
    return token


def _replace(security: ChannelSecurity, **changes: Any) -> ChannelSecurity:
    from dataclasses import replace

    return replace(security, **changes)

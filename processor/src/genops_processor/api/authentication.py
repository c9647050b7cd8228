"""Authentication of every call, then the role check, before any handler runs.

Each RPC (OTLP Export and every governance RPC) is authenticated from its metadata:
``authorization: Bearer <token>`` with an opaque ``genops_…`` token (the credentials
file) or a JWT (three dot-separated parts; ``--jwks`` or the file's ``jwt:`` section);
without that header, a verified client certificate's subject (mutual TLS) names the
principal. A bearer header that is present but bad is refused: it never falls back to
the certificate. With nothing configured every call is the local operator (admin), and
the processor then serves only on loopback (see ``server.py``).

The principal is bound (:mod:`genops_processor.auth.context`) inside the handler's own
task, so handlers read it with ``context.current()``. Then the authorisation hook
(``authorize(method, principal) -> reason | None``) decides whether the role may call
the method at all. Every refusal is ``UNAUTHENTICATED`` or ``PERMISSION_DENIED`` with a
one-line reason and exactly one ``access.refused`` audit event. A refused call's request
body is never read (this interceptor runs before admission control).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import grpc

from genops_processor.auth import context as auth_context
from genops_processor.auth.credentials import CredentialsSource, JwtSettings
from genops_processor.auth.jwt_tokens import JwtError, JwtVerifier, looks_like_jwt
from genops_processor.auth.principals import ANONYMOUS, LOCAL_OPERATOR, Principal
from genops_processor.limits import MAX_BEARER_TOKEN_CHARS

Authorize = Callable[[str, Principal], "str | None"]
RecordRefusal = Callable[[str, str, str, str, str], Awaitable[None]]

MISSING = "missing credentials: send 'authorization: Bearer <token>'"


def allow_all(method: str, principal: Principal) -> str | None:
    return None


class Unauthenticated(Exception):
    """Who is calling cannot be established; the message says why (never the secret)."""


@dataclass(frozen=True)
class Authenticator:
    """Turns a call's metadata and peer certificate into a principal.

    ``credentials``: the credentials file (tokens, mTLS subjects, its ``jwt:`` section);
    ``jwt``: JWT settings from the command line, which take precedence over the file's;
    ``mtls``: client certificates are verified (``--tls-client-ca``)."""

    credentials: CredentialsSource | None = None
    jwt: JwtSettings | None = None
    mtls: bool = False
    verifier: JwtVerifier | None = None

    @property
    def open(self) -> bool:
        """Nothing configured: every call is the local operator."""
        return self.credentials is None and self.jwt is None and not self.mtls

    def authenticate(
        self,
        metadata: Iterable[tuple[str, object]],
        subject: str | None | Callable[[], str | None],
    ):
        """``subject``: the verified certificate's subject, or how to read it (read only
        for a call without a bearer token: most calls carry one)."""
        if self.open:
            return LOCAL_OPERATOR
        token = _bearer(metadata)
        if token is None:
            if callable(subject):
                subject = subject()
            if subject is not None:
                return self._by_subject(subject)
            raise Unauthenticated(MISSING)
        if looks_like_jwt(token):
            return self._by_jwt(token)
        creds = self.credentials.current() if self.credentials is not None else None
        principal = creds.by_token(token) if creds is not None else None
        if principal is None:
            raise Unauthenticated("unknown or revoked token")
        return principal

    def _by_subject(self, subject: str) -> Principal:
        creds = self.credentials.current() if self.credentials is not None else None
        principal = creds.by_subject(subject) if creds is not None else None
        if principal is None:
            raise Unauthenticated(f"client certificate subject {subject!r} is not a principal")
        return principal

    def _by_jwt(self, token: str) -> Principal:
        settings = self.jwt
        if settings is None and self.credentials is not None:
            settings = self.credentials.current().jwt
        if settings is None or self.verifier is None:
            raise Unauthenticated("JWTs are not accepted here (no --jwks configured)")
        try:
            return self.verifier.verify(token, settings)
        except JwtError as error:
            raise Unauthenticated(str(error)) from None


def _bearer(metadata: Iterable[tuple[str, object]]) -> str | None:
    values = [v for k, v in metadata if k.lower() == "authorization"]
    if not values:
        return None
    if len(values) > 1:
        raise Unauthenticated("more than one authorization header")
    value = values[0]
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    scheme, _, token = str(value).strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("authorization metadata must be 'Bearer <token>'")
    if len(token) > MAX_BEARER_TOKEN_CHARS:
        raise Unauthenticated(f"bearer token longer than {MAX_BEARER_TOKEN_CHARS} characters")
    return token


def peer_subject(context) -> str | None:
    """The verified client certificate's subject (mutual TLS), or None."""
    try:
        auth = context.auth_context()
    except Exception:
        return None
    values = auth.get("x509_subject") or []
    if not values:
        return None
    value = values[0]
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class AuthenticationInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self,
        authenticator: Authenticator,
        record_refusal: RecordRefusal,
        authorize: Authorize = allow_all,
    ) -> None:
        self.authenticator = authenticator
        self._record = record_refusal
        self._authorize = authorize

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:  # unknown method: gRPC answers UNIMPLEMENTED
            return handler
        method = handler_call_details.method
        if handler.request_streaming and handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(
                self._streaming(method, handler.stream_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.request_streaming:
            return grpc.stream_unary_rpc_method_handler(
                self._unary(method, handler.stream_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(
                self._streaming(method, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.unary_unary_rpc_method_handler(
            self._unary(method, handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _unary(self, method: str, behaviour: Callable) -> Callable:
        async def authenticated(request, context):
            token = auth_context.bind(await self._admit(method, context))
            try:
                return await behaviour(request, context)
            finally:
                auth_context.unbind(token)

        return authenticated

    def _streaming(self, method: str, behaviour: Callable) -> Callable:
        async def authenticated(request, context):
            auth_context.bind(await self._admit(method, context))
            # The binding lives in this call's own task and ends with it; an async
            # generator may be closed from another context, where a reset would fail.
            async for response in behaviour(request, context):
                yield response

        return authenticated

    async def _admit(self, method: str, context) -> Principal:
        """The call's principal, or an abort (recorded) when it is refused."""
        try:
            principal = self.authenticator.authenticate(
                context.invocation_metadata() or (), lambda: peer_subject(context)
            )
        except Unauthenticated as refused:
            await self._refuse(context, ANONYMOUS, method, grpc.StatusCode.UNAUTHENTICATED, refused)
        reason = self._authorize(method, principal)
        if reason:
            await self._refuse(
                context, principal.name, method, grpc.StatusCode.PERMISSION_DENIED, reason
            )
        return principal

    async def _refuse(self, context, actor, method, code, reason) -> None:
        reason = str(reason)
        await self._record(actor, method, code.name, reason, context.peer() or "")
        await context.abort(code, reason)

"""Identities from JWTs signed by keys in a local JWKS file (works offline).

A token is accepted when its signature verifies against a key of the JWKS (asymmetric
algorithms only: an ``HS*`` or ``none`` token is refused, so a public key can never be
used as an HMAC secret), it carries ``exp``, is not expired nor before its ``nbf``, and
its ``iss`` and ``aud`` are the configured ones. Its claims become the principal: the
name claim (``sub``), the role claim (``genops_role``), the teams claim
(``genops_teams``: a list, or a space- or comma-separated string), optional
``genops_projects`` / ``genops_customers``, and ``amr`` (RFC 8176) as the factors.

The JWKS file is re-read when it changes (checked at most once a second), so keys rotate
without a restart; a file that becomes unreadable keeps the last good keys in force.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genops_processor.auth.credentials import JwtSettings, scope_names
from genops_processor.auth.principals import Principal, Role
from genops_processor.auth.watched_file import WatchedFile
from genops_processor.limits import JWT_LEEWAY_S

if TYPE_CHECKING:  # PyJWT (and the cryptography it loads: ~9 MiB of a started processor)
    import jwt  # is imported when a JWKS is first read: without --jwks, never

ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)  # fmt: skip


class JwtError(ValueError):
    """A JWT is not accepted; the message says why (never the token)."""


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


class JwksSource(WatchedFile["jwt.PyJWKSet"]):
    """The keys of one JWKS file, re-read when the file changes."""

    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__(path, _load_jwks, (JwtError,))

    def keys(self) -> jwt.PyJWKSet:
        return self.current()


def _load_jwks(path: Path) -> jwt.PyJWKSet:
    import jwt

    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise JwtError(f"JWKS file {path} does not exist") from None
    except (OSError, ValueError) as error:
        raise JwtError(f"JWKS file {path} cannot be read as JSON: {error}") from None
    try:
        keys = jwt.PyJWKSet.from_dict(data)
    except jwt.PyJWTError as error:
        raise JwtError(f"JWKS file {path}: {error}") from None
    return keys


class JwtVerifier:
    """Verifies tokens against the JWKS named by the settings in force."""

    def __init__(self) -> None:
        self._sources: dict[str, JwksSource] = {}
        self._lock = threading.Lock()

    def source(self, path: str) -> JwksSource:
        with self._lock:
            source = self._sources.get(path)
            if source is None:
                source = self._sources[path] = JwksSource(path)
            return source

    def verify(self, token: str, settings: JwtSettings) -> Principal:
        try:
            keys = self.source(settings.jwks_path).keys()
        except JwtError as error:
            raise JwtError(f"JWT cannot be verified: {error}") from None
        claims = _decode(token, keys, settings)
        return principal_from_claims(claims, settings)


def _decode(token: str, keys: jwt.PyJWKSet, settings: JwtSettings) -> dict[str, Any]:
    import jwt  # loaded already: the keys come from _load_jwks

    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise JwtError("malformed JWT") from None
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise JwtError(f"JWT algorithm {alg!r} is not accepted (asymmetric signatures only)")
    key = _key_for(keys, header.get("kid"))
    try:
        return jwt.decode(
            token,
            key=key.key,
            algorithms=[alg],
            audience=settings.audience,
            issuer=settings.issuer,
            leeway=JWT_LEEWAY_S,
            options={"require": ["exp", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise JwtError("JWT expired") from None
    except jwt.ImmatureSignatureError:
        raise JwtError("JWT not yet valid (nbf/iat in the future)") from None
    except jwt.InvalidAudienceError:
        raise JwtError(f"JWT audience is not {settings.audience!r}") from None
    except jwt.InvalidIssuerError:
        raise JwtError(f"JWT issuer is not {settings.issuer!r}") from None
    except jwt.MissingRequiredClaimError as error:
        raise JwtError(f"JWT has no {error.claim!r} claim") from None
    except jwt.InvalidSignatureError:
        raise JwtError("JWT signature does not verify against the JWKS") from None
    except jwt.PyJWTError as error:
        raise JwtError(f"JWT not accepted: {error}") from None


def _key_for(keys: jwt.PyJWKSet, kid: str | None) -> jwt.PyJWK:
    if kid is not None:
        for key in keys.keys:
            if key.key_id == kid:
                return key
        raise JwtError(f"JWT key id {kid!r} is not in the JWKS")
    if len(keys.keys) == 1:
        return keys.keys[0]
    raise JwtError("JWT has no key id (kid) and the JWKS holds several keys")


def principal_from_claims(claims: dict[str, Any], settings: JwtSettings) -> Principal:
    name = claims.get(settings.name_claim)
    if not isinstance(name, str) or not name.strip():
        raise JwtError(f"JWT has no {settings.name_claim!r} claim naming the principal")
    raw_role = claims.get(settings.role_claim)
    if raw_role is None:
        raise JwtError(f"JWT has no {settings.role_claim!r} claim (the genops role)")
    try:
        role = Role.parse(raw_role)
    except ValueError as error:
        raise JwtError(f"JWT claim {settings.role_claim!r}: {error}") from None
    try:
        teams = scope_names(_names(claims.get(settings.teams_claim)), settings.teams_claim)
        projects = scope_names(_names(claims.get("genops_projects")), "genops_projects")
        customers = scope_names(_names(claims.get("genops_customers")), "genops_customers")
    except ValueError as error:
        raise JwtError(f"JWT claim {error}") from None
    amr = claims.get("amr") or []
    if isinstance(amr, str):
        amr = [amr]
    factors = (
        frozenset(str(a).lower() for a in amr if isinstance(a, str))
        if isinstance(amr, list)
        else frozenset()
    )
    return Principal(
        name=name.strip()[:256],
        role=role,
        teams=frozenset(teams),
        projects=frozenset(projects),
        customers=frozenset(customers),
        method="jwt",
        factors=factors,
    )


def _names(value: Any) -> list | None:
    """A claim given as a list, or as one space- or comma-separated string."""
    if isinstance(value, str):
        return [v for v in value.replace(",", " ").split() if v]
    return value

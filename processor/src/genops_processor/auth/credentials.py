"""The credentials file: principals, how each proves who it is, and the JWT settings.

A YAML file (mode 0600) the operator owns; ``genops tokens create|list|revoke`` edit it
and a running processor picks the change up within a second. Tokens are never stored:
only their SHA-256 (a token is 32 random bytes, so a fast hash is enough).

.. code-block:: yaml

    version: 1
    principals:
      - name: trainer-a
        role: client            # client | approver | auditor | admin
        teams: [team-a]
        projects: []            # optional narrowing
        customers: []
        token_sha256: 9f86d0…   # or, instead of a token:
        # mtls_subject: "CN=trainer-a,O=example"   (a client certificate's subject)
        created: "2026-12-03T22:00:00+00:00"
        revoked: null           # the time it was revoked
    jwt:                        # optional: identities from JWTs signed by keys in a local JWKS
      jwks: /etc/genops/jwks.json
      issuer: https://idp.example.com
      audience: genops
      claims: {name: sub, role: genops_role, teams: genops_teams}
    require_mfa_for_admin: false   # admin calls need a JWT whose amr shows a second factor
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import hmac
import os
import re
import secrets
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from genops_processor.auth.principals import Principal, Role
from genops_processor.auth.watched_file import WatchedFile

TOKEN_PREFIX = "genops_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
_SCOPE_NAME_MAX = 256


class CredentialsError(ValueError):
    """The credentials file or an edit of it is invalid; the message names the field."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Entry:
    """One principal as stored (no secret in it)."""

    name: str
    role: Role
    teams: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    customers: tuple[str, ...] = ()
    token_sha256: str | None = None
    mtls_subject: str | None = None
    created: str | None = None
    revoked: str | None = None

    def principal(self, method: str) -> Principal:
        return Principal(
            name=self.name,
            role=self.role,
            teams=frozenset(self.teams),
            projects=frozenset(self.projects),
            customers=frozenset(self.customers),
            method=method,
        )

    def to_yaml(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "role": self.role.value,
            "teams": list(self.teams),
        }
        if self.projects:
            out["projects"] = list(self.projects)
        if self.customers:
            out["customers"] = list(self.customers)
        if self.token_sha256:
            out["token_sha256"] = self.token_sha256
        if self.mtls_subject:
            out["mtls_subject"] = self.mtls_subject
        out["created"] = self.created
        out["revoked"] = self.revoked
        return out


@dataclass(frozen=True)
class JwtSettings:
    jwks_path: str
    issuer: str
    audience: str
    name_claim: str = "sub"
    role_claim: str = "genops_role"
    teams_claim: str = "genops_teams"


@dataclass(frozen=True)
class Credentials:
    entries: tuple[Entry, ...] = ()
    jwt: JwtSettings | None = None
    require_mfa_for_admin: bool = False
    _by_hash: dict[str, Entry] = field(default_factory=dict, compare=False, repr=False)
    _by_subject: dict[str, Entry] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, entries: Iterable[Entry], jwt: JwtSettings | None = None, mfa: bool = False):
        entries = tuple(entries)
        live = [e for e in entries if not e.revoked]
        return cls(
            entries,
            jwt,
            mfa,
            {e.token_sha256: e for e in live if e.token_sha256},
            {_canonical_subject(e.mtls_subject): e for e in live if e.mtls_subject},
        )

    def by_token(self, token: str) -> Principal | None:
        digest = hash_token(token)
        entry = self._by_hash.get(digest)
        # the dict lookup picks the candidate; the constant-time compare confirms it
        if entry is None or not hmac.compare_digest(entry.token_sha256 or "", digest):
            return None
        return entry.principal("token")

    def by_subject(self, subject: str) -> Principal | None:
        entry = self._by_subject.get(_canonical_subject(subject))
        return None if entry is None else entry.principal("mtls")

    def entry(self, name: str) -> Entry | None:
        return next((e for e in self.entries if e.name == name), None)


def _canonical_subject(subject: str) -> str:
    """``CN=a, O=b``, ``CN = a,O = b`` and ``O=b,CN=a`` name the same subject: OpenSSL
    shows a certificate's attributes in their order, gRPC in reverse (RFC 2253), so the
    comparison ignores order (attribute types compared case-insensitively)."""
    parts = []
    for part in re.split(r"(?<!\\),", subject or ""):
        kind, sep, value = part.partition("=")
        if sep and kind.strip():
            parts.append(f"{kind.strip().upper()}={value.strip()}")
    return ",".join(sorted(parts))


# -- reading -----------------------------------------------------------------------------
def load(path: str | os.PathLike) -> Credentials:
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise CredentialsError(f"credentials file {p} does not exist") from None
    except OSError as error:
        raise CredentialsError(f"cannot read credentials file {p}: {error.strerror}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise CredentialsError(f"credentials file {p} is not valid YAML: {error}") from None
    return parse(data, str(p))


def parse(data: Any, where: str = "credentials") -> Credentials:
    if not isinstance(data, dict):
        raise CredentialsError(f"{where}: expected a mapping at the top")
    unknown = set(data) - {"version", "principals", "jwt", "require_mfa_for_admin"}
    if unknown:
        raise CredentialsError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    raw = data.get("principals") or []
    if not isinstance(raw, list):
        raise CredentialsError(f"{where}: principals must be a list")
    entries = [_entry(item, f"{where}: principals[{i}]") for i, item in enumerate(raw)]
    names = [e.name for e in entries]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise CredentialsError(f"{where}: principal name(s) used twice: {', '.join(dup)}")
    jwt = _jwt(data.get("jwt"), f"{where}: jwt") if data.get("jwt") else None
    mfa = data.get("require_mfa_for_admin", False)
    if not isinstance(mfa, bool):
        raise CredentialsError(f"{where}: require_mfa_for_admin must be true or false")
    return Credentials.of(entries, jwt, mfa)


def _entry(item: Any, where: str) -> Entry:
    if not isinstance(item, dict):
        raise CredentialsError(f"{where}: expected a mapping")
    allowed = {
        "name", "role", "teams", "projects", "customers",
        "token_sha256", "mtls_subject", "created", "revoked",
    }  # fmt: skip
    unknown = set(item) - allowed
    if unknown:
        raise CredentialsError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    name = check_name(item.get("name"), f"{where}.name")
    try:
        role = Role.parse(item.get("role", ""))
    except ValueError as error:
        raise CredentialsError(f"{where}.role: {error}") from None
    token_hash = item.get("token_sha256")
    if token_hash is not None and not re.fullmatch(r"[0-9a-f]{64}", str(token_hash)):
        raise CredentialsError(f"{where}.token_sha256: expected 64 lowercase hex digits")
    subject = item.get("mtls_subject")
    if subject is not None and (not isinstance(subject, str) or not subject.strip()):
        raise CredentialsError(f"{where}.mtls_subject: expected a certificate subject")
    revoked = item.get("revoked")
    return Entry(
        name=name,
        role=role,
        teams=scope_names(item.get("teams"), f"{where}.teams"),
        projects=scope_names(item.get("projects"), f"{where}.projects"),
        customers=scope_names(item.get("customers"), f"{where}.customers"),
        token_sha256=token_hash,
        mtls_subject=subject,
        created=None if item.get("created") is None else str(item.get("created")),
        revoked=None if revoked in (None, False) else str(revoked),
    )


def _jwt(raw: Any, where: str) -> JwtSettings:
    if not isinstance(raw, dict):
        raise CredentialsError(f"{where}: expected a mapping")
    for key in ("jwks", "issuer", "audience"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise CredentialsError(f"{where}.{key}: required")
    claims = raw.get("claims") or {}
    if not isinstance(claims, dict):
        raise CredentialsError(f"{where}.claims: expected a mapping")
    return JwtSettings(
        jwks_path=raw["jwks"],
        issuer=raw["issuer"],
        audience=raw["audience"],
        name_claim=str(claims.get("name", "sub")),
        role_claim=str(claims.get("role", "genops_role")),
        teams_claim=str(claims.get("teams", "genops_teams")),
    )


def check_name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise CredentialsError(
            f"{where}: expected 1-128 letters, digits, '.', '_', '@' or '-' (got {value!r})"
        )
    return value


def scope_names(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, list):
        raise CredentialsError(f"{where}: expected a list of names")
    out = []
    for v in value:
        if not isinstance(v, str) or not v.strip() or len(v) > _SCOPE_NAME_MAX:
            raise CredentialsError(f"{where}: {v!r} is not a name (1-{_SCOPE_NAME_MAX} chars)")
        out.append(v.strip())
    return tuple(dict.fromkeys(out))


# -- editing (genops tokens) ---------------------------------------------------------------
def create(
    path: str | os.PathLike,
    name: str,
    role: str,
    teams: Iterable[str] = (),
    projects: Iterable[str] = (),
    customers: Iterable[str] = (),
    now: dt.datetime | None = None,
    mtls_subject: str | None = None,
) -> str | None:
    """Add a principal with a new token; returns the token (the only time it exists).

    With ``mtls_subject`` the principal is a client certificate's subject instead: no
    token is made (returns None)."""
    check_name(name, "name")
    if mtls_subject is not None and not _canonical_subject(mtls_subject):
        raise CredentialsError(f"mtls subject {mtls_subject!r}: expected e.g. 'CN=name,O=org'")
    try:
        parsed_role = Role.parse(role)
    except ValueError as error:
        raise CredentialsError(str(error)) from None
    teams_t = scope_names(list(teams), "team")
    if parsed_role in (Role.CLIENT, Role.APPROVER) and not teams_t:
        raise CredentialsError(f"a {parsed_role.value} needs at least one --team")
    token = new_token() if mtls_subject is None else None
    entry = Entry(
        name=name,
        role=parsed_role,
        teams=teams_t,
        projects=scope_names(list(projects), "project"),
        customers=scope_names(list(customers), "customer"),
        token_sha256=hash_token(token) if token is not None else None,
        mtls_subject=mtls_subject.strip() if mtls_subject is not None else None,
        created=(now or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds"),
    )

    def edit(data: dict[str, Any]) -> None:
        current = parse(data, str(path))
        if current.entry(name) is not None:
            raise CredentialsError(
                f"a principal named {name!r} exists (names are never reused, even when "
                "revoked: pick another)"
            )
        data.setdefault("principals", []).append(entry.to_yaml())

    _edit(path, edit, create_missing=True)
    return token


def revoke(path: str | os.PathLike, name: str, now: dt.datetime | None = None) -> Entry:
    when = (now or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds")
    found: list[Entry] = []

    def edit(data: dict[str, Any]) -> None:
        current = parse(data, str(path))
        entry = current.entry(name)
        if entry is None:
            raise CredentialsError(f"no principal named {name!r} in {path}")
        for item in data.get("principals") or []:
            if item.get("name") == name and not item.get("revoked"):
                item["revoked"] = when
        found.append(entry)

    _edit(path, edit, create_missing=False)
    return found[0]


def _edit(path: str | os.PathLike, edit, create_missing: bool) -> None:
    """Read, edit and atomically replace the file under an exclusive lock (mode 0600)."""
    p = Path(path)
    if not p.exists() and not create_missing:
        raise CredentialsError(f"credentials file {p} does not exist")
    p.parent.mkdir(parents=True, exist_ok=True)
    lock_path = p.with_name(p.name + ".lock")
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            data = yaml.safe_load(p.read_text()) if p.exists() else None
        except yaml.YAMLError as error:
            raise CredentialsError(f"credentials file {p} is not valid YAML: {error}") from None
        data = data or {"version": 1, "principals": []}
        edit(data)
        fd, tmp = tempfile.mkstemp(prefix=p.name + ".", dir=p.parent)
        try:
            with os.fdopen(fd, "w") as out:
                out.write("# genops credentials: edit with `genops tokens create|list|revoke`\n")
                yaml.safe_dump(data, out, sort_keys=False)
            os.chmod(tmp, 0o600)
            os.replace(tmp, p)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class CredentialsSource(WatchedFile[Credentials]):
    """The file's current contents for a running processor: re-read when it changes
    (:mod:`genops_processor.auth.watched_file`)."""

    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__(path, load, (CredentialsError,))

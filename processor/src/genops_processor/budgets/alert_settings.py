"""What a policy file may say about alerting: thresholds, channels, the SMTP server, and
the secrets they need. Parsed with the policy; delivery lives in :mod:`genops_processor.alerts`.

Channel addresses:

* ``webhook+http://host/path`` (or https): a JSON POST of the alert;
* ``slack+https://hooks.slack.com/...``: a Slack-compatible ``{"text": ...}``;
* ``email://ops@example.com``: a mail through the policy's ``smtp`` server;
* ``teams+https://...``: a Microsoft Teams workflow URL (Apprise's ``workflows``;
  Microsoft retired the Office 365 connector webhooks);
* ``pagerduty://INTEGRATION_KEY@API_KEY``: a PagerDuty event (Apprise's syntax);
* ``apprise+SCHEME://...``: any Apprise URL (https://appriseit.com/services/);
* ``alertmanager://host:port`` (``alertmanagers://`` for https): an alert posted to a
  Prometheus Alertmanager's ``/api/v2/alerts``, labelled like the budget;
* ``log://``: a line in the processor's log.

Slack, Teams, PagerDuty, e-mail and ``apprise+`` addresses are sent by Apprise
(:mod:`genops_processor.alerts.channels` maps each onto an Apprise URL).

Secrets (a webhook's token, an address that carries credentials in its URL, the SMTP
password) are given literally, as a whole-value reference ``${env:NAME}`` (read from the
processor's environment when the policy is loaded), or through a ``<key>_file: PATH`` key
(the file's content, trailing newline removed). Every answer, log line, error and the
ledger show them as :data:`REDACTED`; references and file paths are shown as written.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from genops_processor.limits import MAX_SECRET_FILE_BYTES

DEFAULT_THRESHOLDS = (50, 80, 100)
REDACTED = "***"
LOG_CHANNEL = "log://"

SCHEMES = (
    "webhook+http://",
    "webhook+https://",
    "slack+http://",
    "slack+https://",
    "email://",
    "teams+https://",
    "pagerduty://",
    "apprise+",
    "alertmanager://",
    "alertmanagers://",
    "log://",
)
# Addresses whose every part after the scheme may be a secret (keys in user, host, path).
_OPAQUE = ("pagerduty://", "apprise+")
_PLAIN = re.compile(r"[A-Za-z_.@:/-]{1,64}")  # no digits, short: a name, not a token
_REFERENCE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")


class AlertConfigError(ValueError):
    pass


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "localhost"
    port: int = 25
    sender: str = "genops@localhost"
    username: str = ""
    password: str = field(default="", repr=False)  # a secret
    starttls: bool = True
    unavailable: str = ""  # why mail cannot be sent (a secret the ledger did not keep)

    def secrets(self) -> tuple[str, ...]:
        return (self.password,) if self.password else ()


@dataclass(frozen=True)
class Channel:
    """A delivery target: ``name`` is what rules, notifications and the outbox use;
    ``address`` and ``token`` may hold secrets and are never shown (``shown`` is)."""

    name: str
    address: str = field(default="", repr=False)
    shown: str = ""
    token: str = field(default="", repr=False)
    unavailable: str = ""  # why it cannot deliver (a secret the ledger did not keep)

    def secrets(self) -> tuple[str, ...]:
        """Every string a message about this channel must not contain."""
        found = [self.token] if self.token else []
        if self.address != self.shown:
            found.append(self.address)
            target = self.address.partition("+")[2] or self.address
            parts = urllib.parse.urlsplit(target)
            found += [target, parts.path, parts.query, parts.password or ""]
            if "@" in parts.netloc:
                found.append(parts.netloc)
            if self.address.startswith(_OPAQUE):
                after = self.address.partition("://")[2]
                pieces = re.split(r"[/@?&=:,]", urllib.parse.unquote(after))
                found += [after, *(p for p in pieces if not p.isdigit())]
            found.append(parts.path + ("?" + parts.query if parts.query else ""))
        return tuple(s for s in found if len(s) >= 4 and s not in ("http://", "https://"))


def is_address(channel: str) -> bool:
    return channel == LOG_CHANNEL or channel.startswith(SCHEMES)


def is_reference(value: object) -> bool:
    return isinstance(value, str) and _REFERENCE.fullmatch(value) is not None


def check_channel(address: str, where: str) -> str:
    if is_address(address):
        return address
    raise AlertConfigError(
        f"{where}: {shown_address(address)!r} is not a channel "
        f"(expected one of {', '.join(SCHEMES)})"
    )


def shown_address(address: str) -> str:
    """An address as answers show it: a reference as written; a URL as its scheme and
    host, with ``***`` for credentials, path and query (they may hold a token)."""
    if is_reference(address) or address == LOG_CHANNEL or address.startswith("email://"):
        return address
    if address.startswith(_OPAQUE):  # keys anywhere: only the service is shown
        return f"{address.partition('://')[0]}://{REDACTED}"
    if address.startswith(("alertmanager://", "alertmanagers://")):
        scheme, _, rest = address.partition("://")
        parts = urllib.parse.urlsplit(f"http://{rest}")
        netloc = parts.netloc
        if "@" in netloc:
            netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
        tail = f"/{REDACTED}" if parts.path not in ("", "/") or parts.query else ""
        return f"{scheme}://{netloc}{tail}"
    kind, plus, target = address.partition("+")
    if not plus or not target.startswith(("http://", "https://")):
        # not an address: a misspelt name is shown, anything else may be a secret
        return address if _PLAIN.fullmatch(address) else REDACTED
    parts = urllib.parse.urlsplit(target)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
    rest = f"/{REDACTED}" if parts.path not in ("", "/") or parts.query or parts.fragment else ""
    return f"{kind}+{parts.scheme}://{netloc}{rest}"


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of these secrets replaced by ``***``."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def secret_value(
    raw: Mapping[str, object],
    key: str,
    where: str,
    environ: Mapping[str, str] | None = None,
) -> tuple[str, str]:
    """The value of ``key`` (literal, ``${env:NAME}``) or ``<key>_file`` in ``raw``;
    returns (value, why it is unavailable). A value the ledger kept as ``***`` is
    unavailable, not an error: the policy still loads, that channel cannot deliver."""
    environ = os.environ if environ is None else environ
    file_key = f"{key}_file"
    if key in raw and file_key in raw:
        raise AlertConfigError(f"{where}: give {key} or {file_key}, not both")
    if file_key in raw:
        return _read_secret_file(raw[file_key], f"{where}.{file_key}"), ""
    if key not in raw or raw[key] is None:
        return "", ""
    value = raw[key]
    if not isinstance(value, str):
        raise AlertConfigError(f"{where}.{key}: expected a string")
    return resolve(value, f"{where}.{key}", environ)


def resolve(value: str, where: str, environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """A literal or a whole-value ``${env:NAME}``: (value, why it is unavailable)."""
    environ = os.environ if environ is None else environ
    match = _REFERENCE.fullmatch(value)
    if match:
        name = match.group(1)
        if name not in environ:
            raise AlertConfigError(f"{where}: environment variable {name} is not set")
        return environ[name], ""
    if "${" in value:
        raise AlertConfigError(
            f"{where}: a reference must be the whole value, e.g. '${{env:NAME}}' "
            "(put the whole secret in the variable)"
        )
    if REDACTED in value:
        return "", (
            f"{where} was given literally and the ledger keeps no secret: restart with the "
            "policy file, or give it as ${env:NAME} or a *_file key"
        )
    return value, ""


def _read_secret_file(path: object, where: str) -> str:
    if not isinstance(path, str) or not path:
        raise AlertConfigError(f"{where}: expected a file path")
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_SECRET_FILE_BYTES + 1)
    except OSError as error:
        raise AlertConfigError(f"{where}: cannot read {path}: {error.strerror}") from None
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise AlertConfigError(f"{where}: {path} is over {MAX_SECRET_FILE_BYTES} bytes")
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise AlertConfigError(f"{where}: {path} is not UTF-8 text") from None
    return text.rstrip("\r\n")


def redacted_policy(body: Mapping[str, object]) -> dict:
    """The policy as answers show it and as the ledger keeps it: every literal secret
    replaced by ``***`` (a URL keeps its scheme and host); references and ``*_file``
    paths as written, so a restart without the policy file can resolve them again."""
    result = dict(body)
    smtp = body.get("smtp")
    if isinstance(smtp, Mapping):
        result["smtp"] = _redact_keys(smtp, ("password",))
    channels = body.get("channels")
    if isinstance(channels, Mapping):
        result["channels"] = {
            name: (
                _redact_keys(value, ("token",), ("address",))
                if isinstance(value, Mapping)
                else _redact_address(value)
            )
            for name, value in channels.items()
        }
    budgets = body.get("budgets")
    if isinstance(budgets, list):
        result["budgets"] = [
            {**b, "alerts": [_redact_address(a) for a in b["alerts"]]}
            if isinstance(b, Mapping) and isinstance(b.get("alerts"), list)
            else b
            for b in budgets
        ]
    return result


def _redact_keys(
    raw: Mapping[str, object], secrets: tuple[str, ...], addresses: tuple[str, ...] = ()
) -> dict:
    result = dict(raw)
    for key in secrets:
        if key in result and result[key] is not None and not is_reference(result[key]):
            result[key] = REDACTED
    for key in addresses:
        if key in result:
            result[key] = _redact_address(result[key])
    return result


def _redact_address(value: object) -> object:
    """An address redacted; a channel name (not an address) as written."""
    return shown_address(value) if isinstance(value, str) and is_address(value) else value

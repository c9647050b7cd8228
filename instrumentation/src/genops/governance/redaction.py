"""Secrets taken out of free text before it is recorded.

An exception's message is the user's text: it can quote an API key, a password or a
URL with credentials. It becomes a span attribute (``genops.run.error``), a ledger
column, an audit detail or a report line only through :func:`redact_text` (or
:func:`error_text`, which formats an exception with it). Both sides use this module:
the instrumentation on what it sends, the processor again on what it stores (a span
from an older client or another sender).

What is replaced by ``***``:

- every value the process knows to be secret (``known``, and what :func:`remember`
  was given: the instrumentation passes ``WANDB_API_KEY``, ``GENOPS_TOKEN`` and the
  adapter's ``wandb_api_key``);
- the value of a ``name=value`` or ``name: value`` pair whose name ends in a word that
  says secret (``api_key``, ``token``, ``secret``, ``password``, ``passwd``, ``pwd``,
  ``credential``, ``authorization``, ``private_key``, ``access_key``, ``cookie``):
  ``db_password=``, ``WANDB_API_KEY=``, but not ``max_tokens=``;
- ``Bearer X`` / ``Basic X``, and the password of ``scheme://user:password@host``;
- text shaped like a well-known credential: W&B API keys (40 hex digits, optionally
  ``local-``), ``sk-``/``ghp_``/``github_pat_``/``xox?-`` tokens, AWS access key ids,
  JWTs (three base64url parts starting ``eyJ``). A 40-digit git commit hash in an
  error message is redacted too: a lost hash costs less than a leaked key.

The exception's type is kept: it says what kind of failure the run had.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

REDACTED = "***"
# A known secret shorter than this is not searched for (it would redact ordinary words).
MIN_KNOWN_SECRET = 8

_NAMES = (
    r"api[_-]?key|apikey|token|secret|passw(?:or)?d|pwd|passphrase|credentials?"
    r"|authorization|private[_-]?key|access[_-]?key|cookie"
)
_PAIR = re.compile(rf"(?i)(\b[\w.-]*?(?:{_NAMES})['\"]?\s*[=:]\s*['\"]?)([^\s'\",;&)}}\]]+)")
_SCHEME = re.compile(r"(?i)\b(bearer|basic)(\s+)([A-Za-z0-9._~+/=-]{6,})")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*:)([^/\s@]+)(@)")
_SHAPES = re.compile(
    r"\b(?:local-)?[0-9a-fA-F]{40}\b"
    r"|\bsk-[A-Za-z0-9_-]{16,}"
    r"|\b(?:ghp|gho|ghs|ghu)_[A-Za-z0-9]{20,}|\bgithub_pat_[A-Za-z0-9_]{20,}"
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}"
    r"|\bAKIA[0-9A-Z]{16}\b"
    r"|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
)

_remembered: set[str] = set()
_lock = threading.Lock()


def remember(*secrets: str | None) -> None:
    """Secrets this process was handed (e.g. the adapter's ``wandb_api_key``): every
    later :func:`redact_text` in the process takes them out."""
    with _lock:
        _remembered.update(s for s in secrets if s and len(s) >= MIN_KNOWN_SECRET)


def redact_text(text: str, known: Iterable[str | None] = ()) -> str:
    """``text`` with every secret it shows replaced by ``***`` (see the module)."""
    if not text:
        return text
    with _lock:
        values = set(_remembered)
    values.update(s for s in known if s and len(s) >= MIN_KNOWN_SECRET)
    for value in sorted(values, key=len, reverse=True):  # a longer one may hold another
        text = text.replace(value, REDACTED)
    text = _USERINFO.sub(rf"\g<1>{REDACTED}\g<3>", text)
    text = _SCHEME.sub(rf"\g<1>\g<2>{REDACTED}", text)
    text = _PAIR.sub(lambda m: m.group(1) + REDACTED, text)
    return _SHAPES.sub(REDACTED, text)


def error_text(error: BaseException, known: Iterable[str | None] = ()) -> str:
    """``Type: message`` of an exception, the message redacted."""
    return f"{type(error).__name__}: {redact_text(str(error), known)}"

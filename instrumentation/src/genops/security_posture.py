"""The adapter's security keywords, checked when the adapter is made.

* ``enable_encryption_in_transit=True``: every endpoint the adapter talks to (the
  governance API and where governance spans go) must be ``https://``; a plain-text
  one is refused before anything is sent.
* ``require_mfa=True``: the processor must require a second factor (a JWT whose
  ``amr`` claim shows one) for admin actions.
* ``enable_encryption_at_rest=True``: the processor must say its ledger is
  encrypted at rest.

The last two ask the processor (``GetSecurityPosture``). When it cannot be asked,
the budget fail mode decides: ``open`` warns and goes on, ``closed`` refuses.
A requirement not met raises :class:`genops.errors.SecurityRequirementError`
naming the keyword and the processor's reason. ``security_level`` only classifies
(a span attribute on runs and artifacts); it requires nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from genops.adapter_options import AdapterOptions
from genops.errors import SecurityRequirementError
from genops.governance.v1 import governance_pb2 as pb

_log = logging.getLogger(__name__)


def plaintext_endpoints(endpoints: Sequence[tuple[str, str, bool]]) -> list[str]:
    """``(what, target, secure)`` -> the descriptions of the plain-text ones."""
    return [f"{what} {target}" for what, target, secure in endpoints if not secure]


def check_transport(options: AdapterOptions, endpoints: Sequence[tuple[str, str, bool]]) -> None:
    if not options.enable_encryption_in_transit:
        return
    plain = plaintext_endpoints(endpoints)
    if plain:
        raise SecurityRequirementError(
            f"enable_encryption_in_transit=True, but {' and '.join(plain)} "
            f"{'is' if len(plain) == 1 else 'are'} plain text: use https:// endpoints "
            "(GENOPS_ENDPOINT=https://host:port, GENOPS_CA for a private CA; the processor "
            "serves TLS with --tls-cert/--tls-key)"
        )


def asks_processor(options: AdapterOptions) -> bool:
    return options.require_mfa or options.enable_encryption_at_rest


def unmet(options: AdapterOptions, posture: pb.SecurityPosture) -> list[str]:
    """One line per requirement the processor's posture does not meet."""
    missing = []
    if options.require_mfa and not posture.mfa_required_for_admin:
        missing.append(
            "require_mfa=True, but the processor does not require a second factor for admin "
            "actions (set require_mfa_for_admin: true in its --credentials file and give "
            "admins JWTs with an amr claim)"
        )
    if options.enable_encryption_at_rest and not posture.ledger_encrypted_at_rest:
        why = next((r for r in posture.reasons if "ledger" in r), "no reason given")
        missing.append(
            f"enable_encryption_at_rest=True, but the processor's ledger is not encrypted "
            f"at rest: {why}"
        )
    return missing


def check_posture(options: AdapterOptions, ask) -> None:
    """``ask()`` returns the processor's SecurityPosture or raises GovernanceUnavailable."""
    from genops.governance_client import GovernanceUnavailable

    if not asks_processor(options):
        return
    try:
        posture = ask()
    except GovernanceUnavailable as error:
        wanted = [k for k in ("require_mfa", "enable_encryption_at_rest") if getattr(options, k)]
        text = f"cannot verify {', '.join(wanted)}: {error}"
        if options.budget_fail_mode == "closed":
            raise SecurityRequirementError(f"{text}; refused (budget fail mode closed)") from None
        _log.warning("genops: %s; fail mode open, going on unverified", text)
        return
    missing = unmet(options, posture)
    if missing:
        raise SecurityRequirementError("; ".join(missing))

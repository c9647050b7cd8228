"""What the running processor does to protect its callers and its ledger: transport
security and authentication, as configured at start (``GetSecurityPosture`` reports it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

LEDGER_DETECTED = "detected"
LEDGER_ATTESTED = "attested by the operator"


def _never() -> bool:
    return False


@dataclass(frozen=True)
class SecurityFacts:
    # the gRPC port speaks TLS (--tls-cert/--tls-key)
    tls: bool = False
    # client certificates signed by --tls-client-ca are required (mutual TLS)
    mutual_tls: bool = False
    # how callers may prove who they are: any of "token", "jwt", "mtls"; empty: nobody
    # is authenticated and every call is the local operator (loopback, or --insecure)
    methods: tuple[str, ...] = ()
    # started with --insecure (a non-loopback address without credentials allowed)
    insecure: bool = False
    # /metrics requires a bearer token (--metrics-token)
    metrics_token: bool = False
    # how the ledger is known to be encrypted at rest: LEDGER_DETECTED (its file is on a
    # dm-crypt device, storage.encrypted_device), LEDGER_ATTESTED (the operator said so,
    # --ledger-on-encrypted-volume), or "" (not encrypted as far as the processor knows)
    ledger_encryption: str = ""
    # the finding behind it: the device found, or the attestation
    ledger_encryption_detail: str = ""
    # the credentials file's require_mfa_for_admin, read live (the file reloads)
    _mfa: Callable[[], bool] = _never

    @property
    def authentication(self) -> str:
        """One word for the strongest method in force: mtls, jwt, token or none."""
        for method in ("mtls", "jwt", "token"):
            if method in self.methods:
                return method
        return "none"

    @property
    def mfa_required_for_admin(self) -> bool:
        return self._mfa()

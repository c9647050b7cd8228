"""``GetSecurityPosture``: what this processor enforces on its connections and its
ledger, so that a client can refuse to run against less than it requires (the
adapter's ``enable_encryption_at_rest`` and ``require_mfa`` keywords).

The processor does not encrypt the ledger itself: DuckDB here can read encrypted files
but writes them only with the OpenSSL-backed module of ``httpfs``, which cannot be
installed offline, and its mbedTLS fallback is unsafe by its own name. Disk encryption
under the processor is the way: the ledger is reported encrypted when its file is on a
dm-crypt/LUKS device (detected, ``storage.encrypted_device``) or when the operator
attests it (``--ledger-on-encrypted-volume``); ``ledger_encryption`` says which.
"""

from __future__ import annotations

from genops.governance.v1 import governance_pb2 as pb

LEDGER_NOT_ENCRYPTED = (
    "the DuckDB ledger is not encrypted by the processor (DuckDB writes encrypted files "
    "only with its OpenSSL-backed httpfs module, not installable here): put the ledger on "
    "an encrypted volume (dm-crypt/LUKS is detected; otherwise attest it with "
    "--ledger-on-encrypted-volume)"
)


class SecurityApi:
    """Mixin of the governance API; ``self._security`` is the server's SecurityFacts."""

    async def GetSecurityPosture(self, request: pb.GetSecurityPostureRequest, context):  # noqa: N802
        facts = self._security
        encrypted = bool(facts.ledger_encryption)
        reasons = [
            f"the ledger is encrypted at rest ({facts.ledger_encryption}: "
            f"{facts.ledger_encryption_detail})"
            if encrypted
            else LEDGER_NOT_ENCRYPTED
        ]
        if not facts.tls:
            reasons.append("the gRPC port serves plain text (no --tls-cert)")
        if facts.authentication == "none":
            reasons.append("no credentials configured: every caller is the local operator")
        mfa = facts.mfa_required_for_admin
        if not mfa:
            reasons.append("admin actions do not require a second factor (require_mfa_for_admin)")
        return pb.SecurityPosture(
            tls=facts.tls,
            mutual_tls=facts.mutual_tls,
            authentication=facts.authentication,
            mfa_required_for_admin=mfa,
            ledger_encrypted_at_rest=encrypted,
            ledger_encryption=facts.ledger_encryption,
            reasons=reasons,
        )

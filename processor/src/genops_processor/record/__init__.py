"""The governance record: the audit log of everything that changes money or policy.
The audit log is a hash chain (``audit_log`` writes it, ``audit_trail`` reads,
exports, verifies and prunes it)."""

from genops_processor.record import audit_trail
from genops_processor.record.audit_log import (
    audit,
    audit_events,
    audit_many,
    credentials_audit,
)

__all__ = ["audit", "audit_events", "audit_many", "audit_trail", "credentials_audit"]

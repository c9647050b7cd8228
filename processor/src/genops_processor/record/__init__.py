"""The governance record: the audit log of everything that changes money or policy.
(The hash chain, compliance, residency, retention, lineage and backups will live here.)"""

from genops_processor.record.audit_log import audit, audit_events, audit_many

__all__ = ["audit", "audit_events", "audit_many"]

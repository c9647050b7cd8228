"""Alerts: budget thresholds and the monitoring rules clients register, their evaluation
against the ledger, and delivery to channels through a durable outbox with every attempt
recorded."""

from genops_processor.alerts.monitoring import Monitoring, RuleLimitError
from genops_processor.alerts.rules import DEFAULT_ESCALATE_AFTER_MINUTES, Rule, RuleError

__all__ = ["DEFAULT_ESCALATE_AFTER_MINUTES", "Monitoring", "Rule", "RuleError", "RuleLimitError"]

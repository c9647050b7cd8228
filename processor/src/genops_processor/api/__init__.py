"""The gRPC surface: the OTLP TraceService receiver and the governance API
(``genops.governance.v1``: budgets, runs, costs, analytics, monitoring), thin adapters
over :class:`genops_processor.service.Governance`; proto <-> domain conversions."""

from genops_processor.api.convert import run_to_pb
from genops_processor.api.governance_api import GovernanceApi
from genops_processor.api.otlp_receiver import TraceReceiver

__all__ = ["GovernanceApi", "TraceReceiver", "run_to_pb"]

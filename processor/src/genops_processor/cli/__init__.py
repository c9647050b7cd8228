"""The command lines: ``genops-processor`` (the service) and ``genops`` (reports, costs,
budgets, approvals, alerts), and the report's rendering."""

from genops_processor.cli.main import genops_main, processor_main

__all__ = ["genops_main", "processor_main"]

"""Budgets: the policy (budgets, periods, alert settings, approval rules) and its versions,
decisions and their log, reservations (holds) and the experiment holds that fund runs
(funding), approvals, spend derived from the ledger (spend) and kept as running state (running)."""

from genops_processor.budgets.approvals import ApprovalError
from genops_processor.budgets.burn import linear_forecast_micros, period_end
from genops_processor.budgets.policy import (
    Budget,
    BudgetState,
    ClientLimits,
    Decision,
    Policy,
    PolicyError,
    decide,
    period_start,
)
from genops_processor.budgets.spend import budget_states, spend_query

__all__ = [
    "ApprovalError",
    "Budget",
    "BudgetState",
    "ClientLimits",
    "Decision",
    "Policy",
    "PolicyError",
    "budget_states",
    "decide",
    "linear_forecast_micros",
    "period_end",
    "period_start",
    "spend_query",
]

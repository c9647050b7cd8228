"""Where a budget's period ends and where its spend is heading by then (a straight line
from the period's start through now: the figure /metrics shows beside spent and limit)."""

from __future__ import annotations

import datetime as dt

from genops_processor.budgets.policy import BudgetState, period_start

# A moment surely inside the next period, counted from a period's start.
_INTO_NEXT = {
    "daily": dt.timedelta(hours=36),
    "weekly": dt.timedelta(days=8),
    "monthly": dt.timedelta(days=32),
}


def period_end(state: BudgetState) -> dt.datetime | None:
    """The start of the next period (None: a "total" budget never ends)."""
    step = _INTO_NEXT.get(state.budget.period)
    if step is None:
        return None
    return period_start(state.period_start + step, state.budget.period, state.budget.timezone)


def linear_forecast_micros(state: BudgetState, now: dt.datetime) -> int:
    """Spend at the period's end if it goes on at the period's average rate so far."""
    end = period_end(state)
    elapsed = (now - state.period_start).total_seconds()
    if end is None or elapsed <= 0:
        return state.spent_micros
    length = (end - state.period_start).total_seconds()
    return int(state.spent_micros * max(length / elapsed, 1.0))

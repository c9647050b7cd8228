"""A budget's period end and its straight-line forecast (the /metrics forecast gauge)."""

from __future__ import annotations

import datetime as dt

from genops_processor.budgets import Budget, BudgetState, linear_forecast_micros, period_end
from genops_processor.domain import Scope

UTC = dt.timezone.utc


def state(period: str, start: dt.datetime, spent: int, timezone: str = "UTC") -> BudgetState:
    budget = Budget("b", Scope(team="t"), 100, "enforced", period=period, timezone=timezone)
    return BudgetState(budget, spent, start, False)


def test_half_a_day_gone_half_the_money_spent_forecasts_all_of_it_by_midnight():
    day = dt.datetime(2026, 12, 4, tzinfo=UTC)
    now = day + dt.timedelta(hours=12)
    assert period_end(state("daily", day, 10)) == day + dt.timedelta(days=1)
    assert linear_forecast_micros(state("daily", day, 10), now) == 20


def test_periods_end_at_the_next_periods_start_in_the_budgets_zone():
    month = dt.datetime(2026, 2, 1, tzinfo=UTC)
    assert period_end(state("monthly", month, 0)) == dt.datetime(2026, 3, 1, tzinfo=UTC)
    monday = dt.datetime(2026, 11, 30, tzinfo=UTC)
    assert period_end(state("weekly", monday, 0)) == monday + dt.timedelta(days=7)
    total = state("total", dt.datetime(1970, 1, 1, tzinfo=UTC), 42)
    assert period_end(total) is None
    assert linear_forecast_micros(total, month) == 42  # a total budget never ends


def test_a_forecast_is_never_below_what_is_spent():
    day = dt.datetime(2026, 12, 4, tzinfo=UTC)
    assert linear_forecast_micros(state("daily", day, 10), day) == 10  # no time elapsed
    assert linear_forecast_micros(state("daily", day, 10), day + dt.timedelta(days=2)) == 10

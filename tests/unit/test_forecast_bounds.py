"""The forecast's work is bounded by documented caps, not by the request or the data."""

from __future__ import annotations

import datetime as dt

import pytest

from genops_processor.analytics.forecast import forecast_daily
from genops_processor.limits import MAX_FORECAST_HISTORY_DAYS, MAX_FORECAST_HORIZON_DAYS

USD = 1_000_000


def test_a_horizon_past_the_cap_raises_naming_it():
    with pytest.raises(ValueError, match="horizon_days 2000000: at most"):
        forecast_daily([(dt.date(2026, 1, 1), USD)], horizon_days=2_000_000)


def test_the_horizon_at_the_cap_is_forecast():
    history = [(dt.date(2026, 1, 1) + dt.timedelta(days=i), USD) for i in range(30)]
    forecast = forecast_daily(history, horizon_days=MAX_FORECAST_HORIZON_DAYS)
    assert len(forecast.days) == MAX_FORECAST_HORIZON_DAYS
    assert forecast.point_micros == MAX_FORECAST_HORIZON_DAYS * USD


def test_history_older_than_the_cap_is_left_out():
    recent = [(dt.date(2026, 1, 1) + dt.timedelta(days=i), USD) for i in range(30)]
    ancient = [(dt.date(1, 1, 1), 10**12)]  # one absurd day would span 740,000 days
    forecast = forecast_daily(ancient + recent, horizon_days=7)
    assert forecast.history_days == MAX_FORECAST_HISTORY_DAYS
    assert forecast.point_micros < 7 * 2 * USD

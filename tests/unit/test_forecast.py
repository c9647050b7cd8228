"""Unit tests for the daily cost forecast (pure logic, constructed series)."""

from __future__ import annotations

import datetime as dt
import math
import random

import pytest

from genops_processor.analytics.forecast import DailyForecast, Forecast, _quantile, forecast_daily

START = dt.date(2026, 1, 5)  # a Monday
USD = 1_000_000


def series(values: list[int], start: dt.date = START) -> list[tuple[dt.date, int]]:
    return [(start + dt.timedelta(days=i), v) for i, v in enumerate(values)]


def noisy(days: int, seed: int, level: int = 10 * USD, sd: float = 1 * USD) -> list[int]:
    rng = random.Random(seed)
    return [max(0, round(level + rng.gauss(0, sd))) for _ in range(days)]


def width(f: Forecast | DailyForecast) -> int:
    return f.upper_micros - f.lower_micros


# --------------------------------------------------------------------------- point forecasts


def test_pure_linear_trend_is_extrapolated():
    history = series([USD + 20_000 * i for i in range(56)])
    forecast = forecast_daily(history, horizon_days=30)
    true_total = sum(USD + 20_000 * i for i in range(56, 86))
    assert forecast.method == "trend+weekly"
    assert abs(forecast.point_micros - true_total) <= 0.01 * true_total
    for h, day in enumerate(forecast.days):
        assert abs(day.point_micros - (USD + 20_000 * (56 + h))) <= 2


def test_pure_weekly_pattern_is_reproduced_day_by_day():
    pattern = [5 * USD, 6 * USD, 6 * USD, 5 * USD, 4 * USD, USD, 500_000]  # Monday first
    history = series([pattern[(START + dt.timedelta(days=i)).weekday()] for i in range(56)])
    forecast = forecast_daily(history, horizon_days=14)
    assert [d.day for d in forecast.days] == [START + dt.timedelta(days=56 + h) for h in range(14)]
    for day in forecast.days:
        assert abs(day.point_micros - pattern[day.day.weekday()]) <= 2
        assert width(day) <= 4
    assert abs(forecast.point_micros - 2 * sum(pattern)) <= 30


def test_falling_trend_is_clipped_at_zero():
    history = series([10 * USD - 400_000 * i for i in range(21)])  # reaches 0 on day 25
    forecast = forecast_daily(history, horizon_days=30)
    assert all(d.lower_micros >= 0 and d.point_micros >= 0 for d in forecast.days)
    assert forecast.days[-1].point_micros == 0
    assert forecast.days[0].point_micros == pytest.approx(10 * USD - 400_000 * 21, abs=2)
    assert forecast.lower_micros >= 0


# --------------------------------------------------------------------------- intervals


def test_interval_contains_point_and_widens_with_confidence():
    history = series(noisy(60, seed=7))
    narrow = forecast_daily(history, horizon_days=30, confidence=0.5)
    wide = forecast_daily(history, horizon_days=30, confidence=0.95)
    for f in (narrow, wide):
        assert f.lower_micros <= f.point_micros <= f.upper_micros
        assert all(d.lower_micros <= d.point_micros <= d.upper_micros for d in f.days)
    assert narrow.point_micros == wide.point_micros
    assert wide.lower_micros < narrow.lower_micros and narrow.upper_micros < wide.upper_micros
    for n, w in zip(narrow.days, wide.days, strict=True):
        assert w.lower_micros < n.lower_micros and n.upper_micros < w.upper_micros


def test_total_interval_is_for_the_sum_not_the_sum_of_daily_intervals():
    forecast = forecast_daily(series(noisy(90, seed=3)), horizon_days=30)
    daily_widths = sum(width(d) for d in forecast.days)
    # independent noise: the sum's spread grows like sqrt(30), not 30
    assert width(forecast) < daily_widths / 3
    assert width(forecast) > daily_widths / 30


def test_daily_interval_widens_with_the_horizon():
    # the extrapolated trend's uncertainty grows with the distance from the history
    for history in (series(noisy(12, seed=11)), series(noisy(28, seed=11))):
        widths = [width(d) for d in forecast_daily(history, horizon_days=60).days]
        assert widths[-1] > 1.2 * widths[0]


def test_noise_that_grows_with_the_level_widens_later_intervals():
    rng = random.Random(5)
    levels = [USD + 50_000 * i for i in range(90)]
    additive = series([round(v + rng.gauss(0, 200_000)) for v in levels])
    multiplicative = series([round(v * math.exp(rng.gauss(0, 0.1))) for v in levels])
    growth = {}
    for name, history in (("additive", additive), ("multiplicative", multiplicative)):
        days = forecast_daily(history, horizon_days=30).days
        growth[name] = width(days[-1]) / width(days[0])
    assert growth["multiplicative"] > growth["additive"] * 1.05


def test_daily_80_percent_interval_is_calibrated_on_white_noise():
    hits = total = 0
    for seed in range(150):
        values = noisy(120, seed=seed)
        forecast = forecast_daily(series(values[:90]), horizon_days=30, confidence=0.8)
        for day, actual in zip(forecast.days, values[90:], strict=True):
            hits += day.lower_micros <= actual <= day.upper_micros
            total += 1
    assert 0.75 <= hits / total <= 0.85


@pytest.mark.parametrize(
    ("confidence", "df", "expected"),
    [(0.8, 1, 3.078), (0.9, 2, 2.920), (0.95, 10, 2.228), (0.8, 30, 1.310), (0.8, 0, 1.2816)],
)
def test_student_t_quantiles_match_the_tables(confidence, df, expected):
    assert _quantile(confidence, df) == pytest.approx(expected, abs=2e-3)


# --------------------------------------------------------------------------- short histories


def test_empty_history_forecasts_zero():
    forecast = forecast_daily([], horizon_days=7)
    assert forecast.method == "no-history"
    assert forecast.history_days == 0
    assert (forecast.point_micros, forecast.lower_micros, forecast.upper_micros) == (0, 0, 0)
    assert len(forecast.days) == 7
    assert all((d.point_micros, d.lower_micros, d.upper_micros) == (0, 0, 0) for d in forecast.days)
    gaps = [(b.day - a.day).days for a, b in zip(forecast.days, forecast.days[1:], strict=False)]
    assert gaps == [1] * 6


def test_under_14_days_has_no_seasonality():
    pattern = [5 * USD, 5 * USD, 5 * USD, 5 * USD, 5 * USD, USD, USD]
    history = series([pattern[i % 7] for i in range(13)])
    forecast = forecast_daily(history, horizon_days=7)
    assert forecast.method == "trend-no-seasonality"
    assert "weekly" not in forecast.method
    points = [d.point_micros for d in forecast.days]
    assert max(points) - min(points) < 2 * USD  # the 4 USD weekend dip is not reproduced
    assert forecast_daily(series(pattern * 2), horizon_days=7).method == "trend+weekly"


def test_under_7_days_uses_the_mean_level():
    forecast = forecast_daily(series([USD, 2 * USD, 3 * USD]), horizon_days=4)
    assert forecast.method == "level-no-seasonality"
    assert forecast.history_days == 3
    assert [d.point_micros for d in forecast.days] == [2 * USD] * 4
    assert forecast.point_micros == 8 * USD
    assert all(d.lower_micros < d.point_micros < d.upper_micros for d in forecast.days)


def test_single_day_gives_a_wide_finite_interval():
    forecast = forecast_daily(series([3 * USD]), horizon_days=2)
    assert forecast.method == "level-no-seasonality"
    assert forecast.point_micros == 6 * USD
    assert forecast.days[0].lower_micros == 0
    assert 3 * USD < forecast.days[0].upper_micros < 30 * USD


def test_constant_history_has_a_zero_width_interval():
    forecast = forecast_daily(series([2 * USD] * 60), horizon_days=30, confidence=0.95)
    for day in forecast.days:
        assert abs(day.point_micros - 2 * USD) <= 1
        assert width(day) <= 2
    assert abs(forecast.point_micros - 60 * USD) <= 30
    assert width(forecast) <= 4


# --------------------------------------------------------------------------- input handling


def test_gaps_are_zero_filled():
    values = [4 * USD if i % 7 == 0 else 0 for i in range(56)]  # only Mondays have costs
    explicit = forecast_daily(series(values), horizon_days=14)
    sparse = [(d, v) for d, v in series(values) if v]
    with_gaps = forecast_daily(sparse, horizon_days=14)
    assert with_gaps.history_days == 50  # first to last Monday, inclusive
    assert with_gaps.days[0].day == START + dt.timedelta(days=50)
    for day in with_gaps.days:
        expected = 4 * USD if day.day.weekday() == 0 else 0
        assert abs(day.point_micros - expected) <= 2
    assert with_gaps.point_micros == pytest.approx(explicit.point_micros, abs=30)


def test_unsorted_input_and_repeated_days():
    values = noisy(30, seed=2)
    ordered = forecast_daily(series(values))
    assert forecast_daily(list(reversed(series(values)))) == ordered
    halves = [(d, v // 2) for d, v in series(values)] + [(d, v - v // 2) for d, v in series(values)]
    assert forecast_daily(halves) == ordered


@pytest.mark.parametrize("horizon", [0, -1, 1.5, True, "30"])
def test_bad_horizon_raises_naming_it(horizon):
    with pytest.raises(ValueError, match="horizon_days"):
        forecast_daily(series([USD] * 20), horizon_days=horizon)


@pytest.mark.parametrize("confidence", [0, 1, 1.2, -0.1, float("nan"), "0.8"])
def test_bad_confidence_raises_naming_it(confidence):
    with pytest.raises(ValueError, match="confidence"):
        forecast_daily(series([USD] * 20), confidence=confidence)


def test_arguments_are_checked_even_without_history():
    with pytest.raises(ValueError, match="horizon_days"):
        forecast_daily([], horizon_days=0)


def test_deterministic():
    history = series(noisy(75, seed=9))
    first = forecast_daily(history, horizon_days=30, confidence=0.8)
    second = forecast_daily(list(history), horizon_days=30, confidence=0.8)
    assert first == second
    assert first.horizon_days == 30 and first.confidence == 0.8 and first.history_days == 75
    assert isinstance(first.point_micros, int) and isinstance(first.days[0].upper_micros, int)

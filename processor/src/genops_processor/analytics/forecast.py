"""Daily cost forecasts with prediction intervals. Pure logic, no I/O.

The model is ordinary least squares on the daily history (missing days count
as zero): ``cost(t) = trend * t + weekday_level[day_of_week(t)] + noise``,
i.e. a linear trend plus one level per day of the week. With fewer than 14
days the weekday levels are not identifiable from two weeks of data, so a
single level replaces them ("trend-no-seasonality"); with fewer than 7 days
the trend is dropped too ("level-no-seasonality"); with none, everything is
zero ("no-history"). The fit is a small normal-equations solve (at most 8
parameters) in plain Python, and is deterministic.

Intervals come from the residuals. A day's interval is the point forecast
plus or minus a Student-t quantile (residual degrees of freedom) times the
residual standard error, inflated by the parameter uncertainty at that day
(the OLS prediction interval: an extrapolated trend's leverage grows with the
horizon). Costs tend to be noisier when they are higher, so the noise may
grow with the level: ``sd = sigma * (level / reference) ** gamma``, where
gamma in [0, 1] is the slope of log|residual| on log(fitted level) (0 for
additive noise, 1 for multiplicative), and sigma is estimated from the
rescaled residuals. The total's interval is an interval for the sum, not the
sum of daily intervals: its variance adds the horizon's noise, inflated for
positive lag-1 autocorrelation of the residuals (runs of high days), to the
variance of the fitted sum. Costs are never negative: every bound is clipped
at zero and rounded to integer micro-dollars.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from genops_processor.limits import MAX_FORECAST_HISTORY_DAYS, MAX_FORECAST_HORIZON_DAYS

SEASONAL_MIN_DAYS = 14
TREND_MIN_DAYS = 7
MAX_AUTOCORRELATION = 0.9


@dataclass(frozen=True)
class DailyForecast:
    day: dt.date
    point_micros: int
    lower_micros: int
    upper_micros: int


@dataclass(frozen=True)
class Forecast:
    """Totals over the horizon; ``days`` holds the per-day forecasts."""

    horizon_days: int
    confidence: float
    point_micros: int
    lower_micros: int
    upper_micros: int
    days: tuple[DailyForecast, ...]
    method: str
    history_days: int


@dataclass(frozen=True)
class _Fit:
    method: str
    beta: list[float]
    inverse: list[list[float]]  # (X'X)^-1
    sigma: float  # residual standard error at the reference level
    df: int  # residual degrees of freedom (0: sigma is a guess, use the normal)
    rho: float  # lag-1 autocorrelation of the residuals, clamped to [0, MAX]
    gamma: float  # noise grows as level**gamma (0: constant, 1: proportional)
    level: float  # reference level: the noise at this level is sigma
    floor: float  # levels below this count as this (keeps the scale finite near zero)
    start: dt.date
    t_mean: float


def forecast_daily(
    history: Sequence[tuple[dt.date, int]],
    horizon_days: int = 30,
    confidence: float = 0.8,
) -> Forecast:
    """Forecast the next ``horizon_days`` days (at most ``MAX_FORECAST_HORIZON_DAYS``)
    after the last day of ``history``."""
    _validate(horizon_days, confidence)
    start, values = _fill_gaps(history)
    if not values:
        return _no_history(horizon_days, confidence)
    fit = _fit(start, values)
    first = start + dt.timedelta(days=len(values))
    dates = [first + dt.timedelta(days=h) for h in range(horizon_days)]
    rows = [_features(fit.method, d, fit.start, fit.t_mean) for d in dates]
    q = _quantile(confidence, fit.df)
    days = tuple(_daily(fit, d, x, q) for d, x in zip(dates, rows, strict=True))
    point = sum(d.point_micros for d in days)
    spread = q * fit.sigma * math.sqrt(_total_variance_factor(fit, rows))
    return Forecast(
        horizon_days=horizon_days,
        confidence=confidence,
        point_micros=point,
        lower_micros=min(point, _micros(point - spread)),
        upper_micros=max(point, _micros(point + spread)),
        days=days,
        method=fit.method,
        history_days=len(values),
    )


def _validate(horizon_days: int, confidence: float) -> None:
    if isinstance(horizon_days, bool) or not isinstance(horizon_days, int) or horizon_days < 1:
        raise ValueError(f"horizon_days must be an integer >= 1, got {horizon_days!r}")
    if horizon_days > MAX_FORECAST_HORIZON_DAYS:
        raise ValueError(f"horizon_days {horizon_days}: at most {MAX_FORECAST_HORIZON_DAYS}")
    if not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")


def _fill_gaps(history: Sequence[tuple[dt.date, int]]) -> tuple[dt.date, list[int]]:
    """Daily values from the first to the last day (at most ``MAX_FORECAST_HISTORY_DAYS``);
    missing days are 0, repeated days add up."""
    by_day: dict[dt.date, int] = {}
    for day, micros in history:
        by_day[day] = by_day.get(day, 0) + int(micros)
    if not by_day:
        return dt.date.min, []
    end = max(by_day)
    # The work is bounded by the cap, not by the data: older days are left out.
    start = max(min(by_day), end - dt.timedelta(days=MAX_FORECAST_HISTORY_DAYS - 1))
    span = (end - start).days + 1
    return start, [by_day.get(start + dt.timedelta(days=i), 0) for i in range(span)]


def _no_history(horizon_days: int, confidence: float) -> Forecast:
    """All zeros; with no last day to follow, the days start tomorrow (UTC)."""
    today = dt.datetime.now(dt.timezone.utc).date()
    days = tuple(
        DailyForecast(today + dt.timedelta(days=h + 1), 0, 0, 0) for h in range(horizon_days)
    )
    return Forecast(horizon_days, confidence, 0, 0, 0, days, "no-history", 0)


def _method(n: int) -> str:
    if n >= SEASONAL_MIN_DAYS:
        return "trend+weekly"
    return "trend-no-seasonality" if n >= TREND_MIN_DAYS else "level-no-seasonality"


def _features(method: str, day: dt.date, start: dt.date, t_mean: float) -> list[float]:
    """One design-matrix row: centred trend (unless level-only), then weekday or level dummies."""
    if method == "level-no-seasonality":
        return [1.0]
    t = (day - start).days - t_mean
    if method == "trend-no-seasonality":
        return [t, 1.0]
    return [t] + [1.0 if day.weekday() == w else 0.0 for w in range(7)]


def _fit(start: dt.date, values: list[int]) -> _Fit:
    n = len(values)
    method = _method(n)
    t_mean = (n - 1) / 2
    days = [start + dt.timedelta(days=i) for i in range(n)]
    x = [_features(method, d, start, t_mean) for d in days]
    p = len(x[0])
    xtx = [[sum(r[i] * r[j] for r in x) for j in range(p)] for i in range(p)]
    xty = [sum(r[i] * y for r, y in zip(x, values, strict=True)) for i in range(p)]
    inverse = _invert(xtx)
    beta = [sum(inverse[i][j] * xty[j] for j in range(p)) for i in range(p)]
    fitted = [_dot(beta, r) for r in x]
    resid = [y - f for f, y in zip(fitted, values, strict=True)]
    gamma, level, floor = _heteroscedasticity(fitted, resid)
    weights = [_scale(gamma, level, floor, f) for f in fitted]
    df = n - p
    if df > 0:
        sigma = math.sqrt(sum((e / w) ** 2 for e, w in zip(resid, weights, strict=True)) / df)
    else:  # one day: no spread to measure; assume a coefficient of variation of 1
        sigma = abs(values[0])
    rho = _autocorrelation(resid)
    return _Fit(method, beta, inverse, sigma, df, rho, gamma, level, floor, start, t_mean)


def _heteroscedasticity(fitted: list[float], resid: list[float]) -> tuple[float, float, float]:
    """How the noise scales with the level: the slope of log|residual| on log(fitted level).

    Multiplicative noise on a trending series gives a slope near 1, additive noise near 0;
    the slope is clamped to [0, 1]. Returns (gamma, reference level, level floor).
    """
    floor = max(0.1 * statistics.fmean(abs(f) for f in fitted), 1.0)
    pairs = [
        (math.log(max(f, floor)), math.log(abs(e))) for f, e in zip(fitted, resid, strict=True) if e
    ]
    if len(pairs) < SEASONAL_MIN_DAYS:
        return 0.0, floor, floor
    xs = [a for a, _ in pairs]
    x_mean = statistics.fmean(xs)
    sxx = sum((v - x_mean) ** 2 for v in xs)
    level = math.exp(x_mean)
    if sxx == 0:
        return 0.0, level, floor
    slope = sum((a - x_mean) * b for a, b in pairs) / sxx
    return min(max(slope, 0.0), 1.0), level, floor


def _scale(gamma: float, level: float, floor: float, mean: float) -> float:
    """The noise's standard deviation at this level, relative to sigma."""
    return (max(mean, floor) / level) ** gamma if gamma else 1.0


def _invert(matrix: list[list[float]]) -> list[list[float]]:
    """Gauss-Jordan inverse with partial pivoting (the matrix is small and well conditioned)."""
    p = len(matrix)
    a = [row[:] + [1.0 if i == j else 0.0 for j in range(p)] for i, row in enumerate(matrix)]
    for col in range(p):
        pivot = max(range(col, p), key=lambda r: abs(a[r][col]))
        a[col], a[pivot] = a[pivot], a[col]
        scale = a[col][col]
        a[col] = [v / scale for v in a[col]]
        for r in range(p):
            if r != col and a[r][col] != 0.0:
                factor = a[r][col]
                a[r] = [v - factor * w for v, w in zip(a[r], a[col], strict=True)]
    return [row[p:] for row in a]


def _dot(u: Sequence[float], v: Sequence[float]) -> float:
    return sum(a * b for a, b in zip(u, v, strict=True))


def _quadratic(inverse: list[list[float]], x: Sequence[float]) -> float:
    """x' (X'X)^-1 x: the parameter uncertainty at x, in units of sigma squared."""
    return _dot(x, [_dot(row, x) for row in inverse])


def _autocorrelation(resid: list[float]) -> float:
    denominator = sum(e * e for e in resid)
    if len(resid) < 3 or denominator == 0:
        return 0.0
    rho = sum(a * b for a, b in zip(resid, resid[1:], strict=False)) / denominator
    return min(max(rho, 0.0), MAX_AUTOCORRELATION)


def _quantile(confidence: float, df: int) -> float:
    """Two-sided Student-t quantile (exact for df 1 and 2, Cornish-Fisher beyond; normal if 0)."""
    p = (1 + confidence) / 2
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2 * p - 1) * math.sqrt(2 / (4 * p * (1 - p)))
    z = NormalDist().inv_cdf(p)
    if df <= 0:
        return z
    z3, z5, z7 = z**3, z**5, z**7
    return (
        z
        + (z3 + z) / (4 * df)
        + (5 * z5 + 16 * z3 + 3 * z) / (96 * df**2)
        + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * df**3)
    )


def _daily(fit: _Fit, day: dt.date, x: list[float], q: float) -> DailyForecast:
    mean = _dot(fit.beta, x)
    scale = _scale(fit.gamma, fit.level, fit.floor, mean)
    spread = q * fit.sigma * math.sqrt(scale**2 + _quadratic(fit.inverse, x))
    point = _micros(mean)
    return DailyForecast(
        day=day,
        point_micros=point,
        lower_micros=min(point, _micros(mean - spread)),
        upper_micros=max(point, _micros(mean + spread)),
    )


def _total_variance_factor(fit: _Fit, rows: list[list[float]]) -> float:
    """Var(sum of the horizon) / sigma^2: AR(1)-inflated noise plus the fitted sum's variance."""
    horizon = len(rows)
    rho = fit.rho
    noise = horizon * (1 + rho) / (1 - rho) - 2 * rho * (1 - rho**horizon) / (1 - rho) ** 2
    scales = [_scale(fit.gamma, fit.level, fit.floor, _dot(fit.beta, x)) for x in rows]
    noise *= statistics.fmean(s * s for s in scales)
    total_x = [sum(col) for col in zip(*rows, strict=True)]
    return noise + _quadratic(fit.inverse, total_x)


def _micros(value: float) -> int:
    return max(0, round(value))

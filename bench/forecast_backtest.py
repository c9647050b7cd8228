"""Backtest of the cost forecast's prediction intervals on synthetic daily histories.

Each series is 120 days of daily cost: a base level, a linear trend, a weekly
pattern with a random amplitude (multiplicative on the trend level) and noise
that is either additive (normal) or multiplicative (log-normal). The forecast
is fitted on the first 90 days and judged on the 30 held-out days: the share of
held-out days whose actual cost lies in the day's interval (50%, 80%, 95%), and
the share of series whose 30-day total lies in the total's interval.

    .venv/bin/python bench/forecast_backtest.py [--series N] [--seed S] [--output FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path

from genops_processor.analytics.forecast import forecast_daily

FIT_DAYS = 90
HOLDOUT_DAYS = 30
CONFIDENCES = (0.5, 0.8, 0.95)
MICROS_PER_USD = 1_000_000
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "forecast_backtest.json"


def synthetic_series(rng: random.Random) -> tuple[list[tuple[dt.date, int]], dict[str, object]]:
    """120 days of (date, micro-dollars) and the parameters that made them."""
    start = dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(365))
    base = 10 ** rng.uniform(0, 3) * MICROS_PER_USD  # $1 to $1000 a day
    slope = rng.uniform(-0.004, 0.01) * base  # -48% to +120% over 120 days
    amplitude = rng.uniform(0.0, 0.5)
    profile = [rng.gauss(0, 1) for _ in range(7)]
    spread = statistics.pstdev(profile) or 1.0
    mean = statistics.fmean(profile)
    weekly = [1 + amplitude * (p - mean) / spread / 2 for p in profile]
    noise_kind = rng.choice(("additive", "multiplicative"))
    cv = rng.uniform(0.05, 0.4)
    history = []
    for i in range(FIT_DAYS + HOLDOUT_DAYS):
        day = start + dt.timedelta(days=i)
        level = max(0.0, base + slope * i) * max(0.0, weekly[day.weekday()])
        if noise_kind == "additive":
            value = level + rng.gauss(0, cv * base)
        else:
            value = level * math.exp(rng.gauss(0, cv) - cv * cv / 2)
        history.append((day, max(0, round(value))))
    params = {"noise": noise_kind, "cv": cv, "amplitude": amplitude}
    return history, params


def backtest_series(history: list[tuple[dt.date, int]]) -> dict[str, object]:
    fit, held_out = history[:FIT_DAYS], history[FIT_DAYS:]
    actual_total = sum(v for _, v in held_out)
    result: dict[str, object] = {}
    for confidence in CONFIDENCES:
        forecast = forecast_daily(fit, horizon_days=HOLDOUT_DAYS, confidence=confidence)
        hits = sum(
            d.lower_micros <= v <= d.upper_micros
            for d, (_, v) in zip(forecast.days, held_out, strict=True)
        )
        result[f"daily_{confidence}"] = hits / HOLDOUT_DAYS
        inside = forecast.lower_micros <= actual_total <= forecast.upper_micros
        result[f"total_{confidence}"] = 1.0 if inside else 0.0
        if confidence == 0.8:
            error = abs(forecast.point_micros - actual_total) / max(actual_total, 1)
            result["total_abs_pct_error"] = 100 * error
    return result


def run(series: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    started = time.perf_counter()
    rows = []
    for _ in range(series):
        history, params = synthetic_series(rng)
        rows.append({**params, **backtest_series(history)})
    coverage = {}
    for confidence in CONFIDENCES:
        daily = [r[f"daily_{confidence}"] for r in rows]
        coverage[str(confidence)] = {
            "daily_overall": statistics.fmean(daily),
            "daily_median_per_series": statistics.median(daily),
            "total_overall": statistics.fmean(r[f"total_{confidence}"] for r in rows),
        }
    by_noise = {
        kind: statistics.fmean(r["daily_0.8"] for r in rows if r["noise"] == kind)
        for kind in ("additive", "multiplicative")
        if any(r["noise"] == kind for r in rows)
    }
    return {
        "benchmark": "forecast_backtest",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "seed": seed,
        "series": series,
        "fit_days": FIT_DAYS,
        "holdout_days": HOLDOUT_DAYS,
        "coverage": coverage,
        "daily_80_coverage_by_noise": by_noise,
        "total_abs_pct_error_median": statistics.median(r["total_abs_pct_error"] for r in rows),
        "seconds": round(time.perf_counter() - started, 2),
    }


def print_table(results: dict[str, object]) -> None:
    print(
        f"forecast backtest: {results['series']} series, seed {results['seed']}, "
        f"fit {FIT_DAYS} days, hold out {HOLDOUT_DAYS} ({results['seconds']} s)"
    )
    print(f"{'interval':>9} {'daily overall':>14} {'daily median':>13} {'30-day total':>13}")
    for confidence, c in results["coverage"].items():
        print(
            f"{float(confidence):>9.0%} {c['daily_overall']:>14.1%} "
            f"{c['daily_median_per_series']:>13.1%} {c['total_overall']:>13.1%}"
        )
    noise = ", ".join(f"{k} {v:.1%}" for k, v in results["daily_80_coverage_by_noise"].items())
    print(f"daily 80% coverage by noise: {noise}")
    print(f"median |error| of the 30-day total: {results['total_abs_pct_error_median']:.1f}%")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=2000, help="synthetic series (2000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON results file")
    args = parser.parse_args(argv)
    if args.series < 1:
        parser.error("--series must be at least 1")
    results = run(args.series, args.seed)
    print_table(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.output}")
    daily_80 = results["coverage"]["0.8"]["daily_overall"]
    return 0 if 0.75 <= daily_80 <= 0.85 else 1


if __name__ == "__main__":
    sys.exit(main())

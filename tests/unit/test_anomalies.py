"""Unit tests for cost-anomaly detection (median and MAD per team and experiment type)."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from genops_processor.analytics.anomalies import MAD_SCALE, MEAN_AD_SCALE, Anomaly, detect
from genops_processor.analytics.history import RunFacts

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 3, 5, 12, tzinfo=UTC)
USD = 1_000_000


def run(
    key: str,
    cost_usd: float,
    *,
    team: str = "nlp",
    kind: str = "fine-tune",
    days_ago: float = 1.0,
    name: str | None = None,
) -> RunFacts:
    return RunFacts(
        run_key=key,
        run_id=f"id-{key}",
        team=team,
        project="proj",
        experiment_type=kind,
        experiment_name=key if name is None else name,
        status="finished",
        started_at=NOW - dt.timedelta(days=days_ago),
        duration_s=3600.0,
        cost_micros=round(cost_usd * USD),
        gpu_type="A100-80GB",
        gpu_count=1,
        gpu_util_mean=None,
        gpu_mem_peak_gb=None,
        config_hash="",
        capacity_type="",
    )


def group(costs_usd, prefix: str = "r", **kw) -> list[RunFacts]:
    return [run(f"{prefix}{i}", c, **kw) for i, c in enumerate(costs_usd)]


def keys(found: list[Anomaly]) -> list[str]:
    return [a.run_key for a in found]


# --------------------------------------------------------------------------- the known answer


def test_one_outlier_is_flagged_with_the_median_as_expected_cost():
    # costs 10, 11, 12, 13, 14, 100: median 12.5; |c - m| = 2.5 1.5 .5 .5 1.5 87.5 -> MAD 1.5
    runs = group([10, 11, 12, 13, 14, 100])
    found = detect(runs, sensitivity=0.95, now=NOW)
    assert keys(found) == ["r5"]
    (a,) = found
    assert a.cost_micros == 100 * USD
    assert a.expected_cost_micros == 12_500_000
    assert a.score == pytest.approx(87.5 / (MAD_SCALE * 1.5))
    assert (a.team, a.experiment_type, a.experiment) == ("nlp", "fine-tune", "r5")
    # the runs 2.5 away from the median score 1.12 < 1.96: not anomalies
    assert a.as_dict() == {
        "experiment": "r5",
        "cost": 100.0,
        "expected_cost": 12.5,
        "team": "nlp",
        "experiment_type": "fine-tune",
        "score": round(87.5 / (MAD_SCALE * 1.5), 3),
    }


def test_cheap_outlier_counts_too_and_results_are_sorted_by_score():
    # median 12, MAD 1 (deviations 2 1 0 1 2 ... ); 0.5 is 11.5 away, 40 is 28 away
    runs = group([10, 11, 12, 13, 14, 12, 11, 13, 40, 0.5])
    found = detect(runs, now=NOW)
    assert keys(found) == ["r8", "r9"]
    assert found[0].score > found[1].score
    assert {a.expected_cost_micros for a in found} == {12 * USD}


def test_experiment_falls_back_to_run_id_without_a_name():
    runs = [*group([10, 11, 12, 13, 14]), run("odd", 500, name="")]
    (a,) = detect(runs, now=NOW)
    assert a.experiment == "id-odd"


# --------------------------------------------------------------------------- sensitivity


def test_higher_sensitivity_flags_fewer():
    # median 104, MAD 3 (scale 4.4478): 112 scores 1.80, 120 scores 3.60, 100 and 108 score 0.90
    runs = group([100, 101, 102, 103, 104, 106, 108, 112, 120])
    at_80 = detect(runs, sensitivity=0.8, now=NOW)  # cut 1.28
    at_99 = detect(runs, sensitivity=0.99, now=NOW)  # cut 2.58
    assert keys(at_80) == ["r8", "r7"]
    assert keys(at_99) == ["r8"]
    assert len(at_99) < len(at_80)
    assert at_80[1].score == pytest.approx(8 / (MAD_SCALE * 3))


# --------------------------------------------------------------------------- groups


def test_groups_are_separate():
    cheap = group([1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 1.0], prefix="cheap", team="cheap")
    rich = group([100, 110, 90, 105, 95], prefix="rich", team="rich")
    assert detect(cheap + rich, now=NOW) == []
    # the same runs as one team: the expensive ones would be anomalies of the cheap ones
    pooled = cheap + group([100, 110, 90, 105, 95], prefix="rich", team="cheap")
    assert set(keys(detect(pooled, now=NOW))) == {f"rich{i}" for i in range(5)}


def test_experiment_types_are_separate_groups():
    train = group([100, 110, 90, 105, 95], prefix="train", kind="pretrain")
    tune = group([1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 1.0], prefix="tune", kind="fine-tune")
    assert detect(train + tune, now=NOW) == []


def test_small_groups_are_skipped():
    assert detect(group([10, 11, 12, 1000]), now=NOW) == []
    assert keys(detect(group([10, 11, 12, 13, 1000]), now=NOW)) == ["r4"]
    assert detect(group([10, 11, 12, 13, 1000]), now=NOW, min_runs=6) == []


# --------------------------------------------------------------------------- lookback


def test_lookback_excludes_old_runs():
    recent = group([10, 11, 12, 13, 14], days_ago=3)
    old_outlier = run("old", 1000, days_ago=40)
    assert detect([*recent, old_outlier], lookback_days=30, now=NOW) == []
    assert keys(detect([*recent, old_outlier], lookback_days=60, now=NOW)) == ["old"]


def test_old_runs_do_not_make_a_group_big_enough():
    recent = group([10, 11, 12, 1000], days_ago=2)
    old = group([10, 11, 12, 13, 14, 15], prefix="old", days_ago=45)
    assert detect(recent + old, lookback_days=30, now=NOW) == []
    assert keys(detect(recent + old, lookback_days=50, now=NOW)) == ["r3"]


def test_runs_after_now_are_outside_the_window():
    runs = [*group([10, 11, 12, 13, 14]), run("future", 1000, days_ago=-1)]
    assert detect(runs, now=NOW) == []


# --------------------------------------------------------------------------- MAD == 0


def test_zero_mad_falls_back_to_mean_absolute_deviation():
    # five runs at exactly 10, one at 50: MAD = 0, meanAD = 40 / 6
    runs = group([10, 10, 10, 10, 10, 50])
    (a,) = detect(runs, now=NOW)
    assert a.run_key == "r5"
    assert a.expected_cost_micros == 10 * USD
    assert a.score == pytest.approx(40 / (MEAN_AD_SCALE * 40 / 6))
    assert math.isfinite(a.score)


def test_zero_mad_ignores_differences_within_tolerance():
    identical = group([10, 10, 10, 10, 10, 10])
    assert detect(identical, now=NOW) == []
    one_micro_off = [*identical, run("rounding", 10.000001)]
    assert detect(one_micro_off, now=NOW) == []


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize("sensitivity", [0, 1, 1.5, -0.1, True, "0.9"])
def test_sensitivity_is_validated(sensitivity):
    with pytest.raises(ValueError, match="sensitivity"):
        detect([], sensitivity=sensitivity, now=NOW)


@pytest.mark.parametrize("lookback", [0, -3, 1.5, True])
def test_lookback_is_validated(lookback):
    with pytest.raises(ValueError, match="lookback_days"):
        detect([], lookback_days=lookback, now=NOW)


def test_empty_history_has_no_anomalies():
    assert detect([], now=NOW) == []

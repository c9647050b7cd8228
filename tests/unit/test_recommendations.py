"""Unit tests for the recommendation rules: constructed histories with known answers."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest

from genops_processor.analytics.history import ArtifactFacts, RunFacts
from genops_processor.analytics.recommendations import (
    GPU_MEMORY_GB,
    Recommendation,
    combined_savings,
    duplicate_configs,
    failed_early,
    generate,
    idle_gpu,
    smaller_gpu,
    spot,
    unused_artifacts,
)

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 3, 5, 12, tzinfo=UTC)
T0 = NOW - dt.timedelta(days=60)
USD = 1_000_000
HOUR = 3600.0

PRICES = {
    "T4": Decimal("0.35"),
    "L4": Decimal("0.80"),
    "A10G": Decimal("1.00"),
    "A100-40GB": Decimal("3.00"),
    "A100-80GB": Decimal("4.00"),
    "H100": Decimal("8.00"),
}


def run(key: str, **kw) -> RunFacts:
    fields = {
        "run_key": key,
        "run_id": f"id-{key}",
        "team": "nlp",
        "project": "proj",
        "experiment_type": "fine-tune",
        "experiment_name": key,
        "status": "finished",
        "started_at": T0,
        "duration_s": HOUR,
        "cost_micros": 1 * USD,
        "gpu_type": "A100-80GB",
        "gpu_count": 1,
        "gpu_util_mean": None,
        "gpu_mem_peak_gb": None,
        "config_hash": "",
        "capacity_type": "",
        "artifacts": (),
    }
    fields.update(kw)
    return RunFacts(**fields)


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def flagged(rec: Recommendation) -> set[str]:
    return {key for key, _ in rec.run_savings}


def only(recs: list[Recommendation]) -> Recommendation:
    assert len(recs) == 1, recs
    return recs[0]


def assert_confidence_in_range(rec: Recommendation) -> None:
    assert 0 < rec.confidence <= 100


# --------------------------------------------------------------------------- a. failed early


def failed_early_history(n_finished: int = 5, n_early: int = 2) -> list[RunFacts]:
    # finished durations 1 h .. n h: median known; failures at 10 and 20 minutes are early
    runs = [run(f"ok{i}", duration_s=(i + 1) * HOUR, started_at=at(i)) for i in range(n_finished)]
    runs += [
        run(
            f"early{i}",
            status="failed",
            duration_s=600.0 * (i + 1),
            cost_micros=(2 + i) * USD,
            started_at=at(100 + i),
        )
        for i in range(n_early)
    ]
    return runs


def test_failed_early_flags_failures_before_a_quarter_of_the_median():
    # median of 1..5 h is 3 h; cutoff 0.25 * 3 h = 45 min
    runs = failed_early_history()
    runs.append(run("late", status="failed", duration_s=1.5 * HOUR, cost_micros=9 * USD))
    # another team: only two finished runs, no baseline, its quick failure is not judged
    runs += [run(f"cv{i}", team="cv", duration_s=HOUR) for i in range(2)]
    runs.append(run("cv-fail", team="cv", status="failed", duration_s=60.0))
    rec = only(failed_early(runs, PRICES))
    assert rec.category == "failed_early"
    assert flagged(rec) == {"early0", "early1"}
    assert rec.estimated_savings_micros == 2 * USD + 3 * USD
    # grow(5 finished, 5) * grow(2 early, 1) = 0.5 * 0.75
    assert rec.confidence == pytest.approx(100 * 0.5 * 0.75)
    assert "'nlp'" in rec.recommendation and "pre-flight" in rec.recommendation


def test_failed_early_catch_rate_scales_savings():
    rec = only(failed_early(failed_early_history(), PRICES, catch_rate=0.5))
    assert rec.estimated_savings_micros == 1_000_000 + 1_500_000


def test_failed_early_is_silent_without_early_failures():
    runs = [run(f"ok{i}", duration_s=HOUR) for i in range(5)]
    runs.append(run("late", status="failed", duration_s=0.5 * HOUR))  # 50% of the median
    assert failed_early(runs, PRICES) == []
    # quick failures but no finished baseline of their kind
    assert failed_early([run("f", status="failed", duration_s=1.0)], PRICES) == []


def test_failed_early_confidence_grows_with_evidence():
    weak = only(failed_early(failed_early_history(n_finished=3, n_early=1), PRICES))
    strong = only(failed_early(failed_early_history(n_finished=10, n_early=3), PRICES))
    assert_confidence_in_range(weak)
    assert_confidence_in_range(strong)
    assert strong.confidence > weak.confidence


# --------------------------------------------------------------------------- b. idle GPU


def test_idle_gpu_savings_follow_utilisation():
    runs = [
        run("i1", gpu_util_mean=0.2, cost_micros=8 * USD),  # saves 8 * (1 - 0.2/0.8) = 6
        run("i2", gpu_util_mean=0.1, cost_micros=4 * USD),  # saves 4 * (1 - 0.1/0.8) = 3.5
        run("busy", gpu_util_mean=0.5, cost_micros=4 * USD),
        run("unknown", gpu_util_mean=None, cost_micros=4 * USD),
        run("cpu", gpu_count=0, gpu_util_mean=0.0, cost_micros=4 * USD),
    ]
    rec = only(idle_gpu(runs, PRICES))
    assert rec.category == "idle_gpu"
    assert flagged(rec) == {"i1", "i2"}
    assert rec.estimated_savings_micros == 6_000_000 + 3_500_000
    # grow(2, 2) * (0.5 + 0.5 * mean(0.2/0.4, 0.3/0.4))
    assert rec.confidence == pytest.approx(100 * 0.5 * (0.5 + 0.5 * 0.625))


def test_idle_gpu_leaves_storage_out_of_the_savings():
    art = ArtifactFacts("ckpt", 10**9, storage_cost_micros=2 * USD, used=True)
    runs = [run("i", gpu_util_mean=0.2, cost_micros=10 * USD, artifacts=(art,))]
    assert only(idle_gpu(runs, PRICES)).estimated_savings_micros == (10 - 2) * USD * 3 // 4


def test_idle_gpu_is_silent_when_gpus_are_busy():
    runs = [run(f"r{i}", gpu_util_mean=u) for i, u in enumerate([0.4, 0.55, 0.9])]
    assert idle_gpu(runs, PRICES) == []


def test_idle_gpu_confidence_grows_with_runs_and_depth():
    shallow = only(idle_gpu([run("a", gpu_util_mean=0.35)], PRICES))
    deep = only(idle_gpu([run("a", gpu_util_mean=0.05)], PRICES))
    many = only(idle_gpu([run(f"r{i}", gpu_util_mean=0.35) for i in range(6)], PRICES))
    for rec in (shallow, deep, many):
        assert_confidence_in_range(rec)
    assert deep.confidence > shallow.confidence
    assert many.confidence > shallow.confidence


# --------------------------------------------------------------------------- c. duplicates


def test_duplicate_configs_flags_repeats_of_an_earlier_finished_run():
    runs = [
        run("d1", config_hash="aaa", started_at=at(0)),
        run("d2", config_hash="aaa", started_at=at(1), status="failed", cost_micros=1_500_000),
        run("d3", config_hash="aaa", started_at=at(2), cost_micros=2_000_000),
        # the first "bbb" failed: the second is no repeat and becomes the original
        run("d4", config_hash="bbb", started_at=at(0), status="failed"),
        run("d5", config_hash="bbb", started_at=at(1), cost_micros=3_000_000),
        run("d6", config_hash="bbb", started_at=at(2), cost_micros=700_000),
        # unknown configs are never duplicates
        run("d7", config_hash="", started_at=at(3)),
        run("d8", config_hash="", started_at=at(4)),
        # same hash in another project is not a repeat
        run("q1", project="other", config_hash="aaa", started_at=at(5)),
    ]
    rec = only(duplicate_configs(runs, PRICES))
    assert rec.category == "duplicate_configs"
    assert flagged(rec) == {"d2", "d3", "d6"}
    assert rec.estimated_savings_micros == 1_500_000 + 2_000_000 + 700_000
    assert rec.confidence == pytest.approx(100 * (1 - 2**-3))


def test_duplicate_configs_is_silent_for_distinct_configs():
    runs = [run(f"r{i}", config_hash=f"h{i}", started_at=at(i)) for i in range(5)]
    assert duplicate_configs(runs, PRICES) == []


def test_duplicate_configs_confidence_grows_with_repeats():
    def history(repeats: int) -> list[RunFacts]:
        return [run(f"r{i}", config_hash="same", started_at=at(i)) for i in range(repeats + 1)]

    one = only(duplicate_configs(history(1), PRICES))
    three = only(duplicate_configs(history(3), PRICES))
    assert one.confidence == pytest.approx(50.0)
    assert_confidence_in_range(three)
    assert three.confidence > one.confidence


# --------------------------------------------------------------------------- d. unused artifacts


def ended(days_ago: float, key: str, *artifacts: ArtifactFacts) -> RunFacts:
    return run(
        key,
        started_at=NOW - dt.timedelta(days=days_ago) - dt.timedelta(seconds=HOUR),
        duration_s=HOUR,
        artifacts=artifacts,
    )


def test_unused_artifacts_savings_are_their_storage_cost():
    runs = [
        ended(
            30,
            "u1",
            ArtifactFacts("model-a", 4 * 10**9, 400_000, used=False),
            ArtifactFacts("model-b", 9 * 10**9, 900_000, used=True),
        ),
        ended(7, "u2", ArtifactFacts("ckpt-c", 10**9, 100_000, used=False)),
        ended(2 / 24, "u3", ArtifactFacts("fresh-d", 10**9, 50_000, used=False)),  # too young
        ended(30, "u4", ArtifactFacts("free-e", 10, 0, used=False)),  # costs nothing
    ]
    rec = only(unused_artifacts(runs, PRICES, now=NOW))
    assert rec.category == "unused_artifacts"
    assert dict(rec.run_savings) == {"u1": 400_000, "u2": 100_000}
    assert rec.estimated_savings_micros == 400_000 + 100_000
    expected = 100 * (400_000 * (1 - 2 ** (-30 / 7)) + 100_000 * 0.5) / 500_000
    assert rec.confidence == pytest.approx(expected)


def test_unused_artifacts_is_silent_when_all_are_used():
    runs = [ended(30, "u", ArtifactFacts("m", 10**9, 400_000, used=True))]
    assert unused_artifacts(runs, PRICES, now=NOW) == []


def test_unused_artifacts_confidence_grows_with_age():
    art = ArtifactFacts("m", 10**9, 400_000, used=False)
    young = only(unused_artifacts([ended(2, "u", art)], PRICES, now=NOW))
    old = only(unused_artifacts([ended(60, "u", art)], PRICES, now=NOW))
    assert_confidence_in_range(young)
    assert_confidence_in_range(old)
    assert old.confidence > young.confidence


# --------------------------------------------------------------------------- e. spot


CKPT = ArtifactFacts("ckpt", 10**9, 100_000, used=True)
FREE_CKPT = ArtifactFacts("ckpt", 10**9, 0, used=True)


def test_spot_flags_short_checkpointed_on_demand_runs():
    runs = [
        # compute cost 10.1 - 0.1 storage = 10: saves 10 * 0.65
        run(
            "s1",
            capacity_type="on-demand",
            duration_s=2 * HOUR,
            cost_micros=10_100_000,
            artifacts=(CKPT,),
        ),
        run(
            "s2",
            capacity_type="on-demand",
            duration_s=HOUR,
            cost_micros=3 * USD,
            artifacts=(FREE_CKPT,),
        ),
        run("long", capacity_type="on-demand", duration_s=6 * HOUR, artifacts=(CKPT,)),
        run("no-ckpt", capacity_type="on-demand", duration_s=HOUR, cost_micros=2 * USD),
        run("already", capacity_type="spot", duration_s=HOUR, artifacts=(CKPT,)),
        run("unknown", capacity_type="", duration_s=HOUR, artifacts=(CKPT,)),
    ]
    rec = only(spot(runs, PRICES))
    assert rec.category == "spot"
    assert flagged(rec) == {"s1", "s2"}
    assert rec.estimated_savings_micros == 6_500_000 + 1_950_000
    # 2 candidates of 4 on-demand runs: share 0.5 * grow(2, 2)
    assert rec.confidence == pytest.approx(100 * 0.5 * 0.5)

    assert only(spot(runs, PRICES, spot_discount=0.7)).estimated_savings_micros == (
        7_000_000 + 2_100_000
    )
    loose = only(spot(runs, PRICES, require_checkpoints=False))
    assert flagged(loose) == {"s1", "s2", "no-ckpt"}
    assert loose.estimated_savings_micros == 6_500_000 + 1_950_000 + 1_300_000


def test_spot_is_silent_for_long_or_spot_runs():
    runs = [
        run("long", capacity_type="on-demand", duration_s=12 * HOUR, artifacts=(CKPT,)),
        run("spot", capacity_type="spot", duration_s=HOUR, artifacts=(CKPT,)),
    ]
    assert spot(runs, PRICES) == []


def test_spot_confidence_grows_with_the_share_of_short_runs():
    short = [
        run(f"s{i}", capacity_type="on-demand", duration_s=HOUR, artifacts=(CKPT,))
        for i in range(3)
    ]
    long = [run(f"l{i}", capacity_type="on-demand", duration_s=9 * HOUR) for i in range(3)]
    mixed = only(spot(short + long, PRICES))
    pure = only(spot(short, PRICES))
    assert_confidence_in_range(mixed)
    assert_confidence_in_range(pure)
    assert pure.confidence > mixed.confidence
    assert pure.estimated_savings_micros == mixed.estimated_savings_micros


def test_spot_discount_is_validated():
    with pytest.raises(ValueError, match="spot_discount"):
        spot([], PRICES, spot_discount=1.5)


# --------------------------------------------------------------------------- f. smaller GPU


def test_smaller_gpu_moves_runs_to_the_cheapest_gpu_that_fits():
    runs = [
        # need 15 * 1.2 = 18 GB: L4 (24 GB, $0.80) is the cheapest fit; cost 2 h * $4
        run("g1", gpu_mem_peak_gb=15.0, duration_s=2 * HOUR, cost_micros=8 * USD),
        # need 36 GB: A100-40GB ($3); GPU part 2 GPUs * 1 h * $4 = $8, plus $0.50 of CPU
        run("g2", gpu_mem_peak_gb=30.0, gpu_count=2, duration_s=HOUR, cost_micros=8_500_000),
        # need 84 GB: nothing cheaper fits
        run("g3", gpu_mem_peak_gb=70.0, cost_micros=4 * USD),
        run("g4", gpu_mem_peak_gb=None, cost_micros=4 * USD),  # unknown peak
        run("g5", gpu_type="V100", gpu_mem_peak_gb=4.0),  # no price for V100
        run("g6", gpu_type="T4", gpu_mem_peak_gb=5.0),  # already the cheapest
    ]
    recs = {
        rec.recommendation.split(" they fit a ")[1].split(" ")[0]: rec
        for rec in smaller_gpu(runs, PRICES)
    }
    assert set(recs) == {"L4", "A100-40GB"}
    to_l4, to_40 = recs["L4"], recs["A100-40GB"]
    assert flagged(to_l4) == {"g1"}
    assert to_l4.estimated_savings_micros == 6_400_000  # $8 * (1 - 0.80 / 4.00)
    assert flagged(to_40) == {"g2"}
    assert to_40.estimated_savings_micros == 2_000_000  # $8 * (1 - 3 / 4), CPU not counted
    # grow(1, 2) * (1 of 3 known A100-80GB runs) * (0.5 + 0.5 * spare share)
    grow_one = 1 - 2**-0.5
    assert to_l4.confidence == pytest.approx(100 * grow_one / 3 * (0.5 + 0.5 * (24 - 18) / 24))
    assert to_40.confidence == pytest.approx(100 * grow_one / 3 * (0.5 + 0.5 * (40 - 36) / 40))
    assert {rec.category for rec in recs.values()} == {"smaller_gpu"}


def test_smaller_gpu_is_silent_when_memory_is_needed():
    runs = [
        run("big", gpu_mem_peak_gb=75.0),
        run("h100", gpu_type="H100", gpu_mem_peak_gb=70.0),
        run("unknown", gpu_mem_peak_gb=None),
    ]
    assert smaller_gpu(runs, PRICES) == []


def test_smaller_gpu_confidence_grows_with_fitting_runs_and_margin():
    weak = [
        run("fit", gpu_mem_peak_gb=19.0),
        run("big1", gpu_mem_peak_gb=75.0),
        run("big2", gpu_mem_peak_gb=75.0),
    ]
    strong = [run(f"fit{i}", gpu_mem_peak_gb=8.0) for i in range(4)]
    weak_rec = only(smaller_gpu(weak, PRICES))
    strong_rec = only(smaller_gpu(strong, PRICES))
    assert_confidence_in_range(weak_rec)
    assert_confidence_in_range(strong_rec)
    assert strong_rec.confidence > weak_rec.confidence


def test_gpu_memory_table():
    assert GPU_MEMORY_GB["T4"] == 16 and GPU_MEMORY_GB["H200"] == 141
    assert GPU_MEMORY_GB["A100-40GB"] == 40 and GPU_MEMORY_GB["A100-80GB"] == 80


# --------------------------------------------------------------------------- generate


def mixed_history() -> list[RunFacts]:
    return [
        *failed_early_history(),
        run("idle", gpu_util_mean=0.1, cost_micros=4 * USD, started_at=at(200)),
        run("dup0", config_hash="x", started_at=at(300)),
        run("dup1", config_hash="x", started_at=at(301), cost_micros=3 * USD),
        ended(30, "art", ArtifactFacts("old", 10**9, 200_000, used=False)),
        run(
            "od",
            capacity_type="on-demand",
            artifacts=(FREE_CKPT,),
            cost_micros=2 * USD,
            started_at=at(400),
        ),
        run(
            "small", gpu_mem_peak_gb=10.0, duration_s=HOUR, cost_micros=4 * USD, started_at=at(500)
        ),
    ]


def test_generate_runs_every_rule_sorted_by_savings():
    recs = generate(mixed_history(), PRICES, now=NOW)
    assert {r.category for r in recs} == {
        "failed_early",
        "idle_gpu",
        "duplicate_configs",
        "unused_artifacts",
        "spot",
        "smaller_gpu",
    }
    savings = [r.estimated_savings_micros for r in recs]
    assert savings == sorted(savings, reverse=True)
    assert all(s > 0 for s in savings)
    for rec in recs:
        assert_confidence_in_range(rec)


def test_generate_is_empty_for_a_clean_history():
    runs = [
        run(
            f"r{i}",
            gpu_util_mean=0.9,
            gpu_mem_peak_gb=70.0,
            config_hash=f"h{i}",
            capacity_type="spot",
            started_at=at(i),
        )
        for i in range(5)
    ]
    assert generate(runs, PRICES, target_savings_percentage=10, now=NOW) == []


def test_generate_annotates_whether_the_target_is_reached():
    # spend $2; the repeat saves $1 = 50%
    runs = [
        run("a", config_hash="x", started_at=at(0)),
        run("b", config_hash="x", started_at=at(1)),
    ]
    reached = only(generate(runs, PRICES, target_savings_percentage=40, now=NOW))
    missed = only(generate(runs, PRICES, target_savings_percentage=60, now=NOW))
    assert reached.evidence[-1].endswith("(50.0%), target reached")
    assert missed.evidence[-1].endswith("(50.0%), target not reached")
    assert generate(runs, PRICES, now=NOW)[0].evidence == reached.evidence[:-1]


def test_rules_on_the_same_run_are_counted_once_together():
    # one $8 run: idle saves 8 * 0.75 = 6, spot saves 8 * 0.65 = 5.2; together
    # the run keeps 8 * 0.25 * 0.35 = 0.7 and saves 7.3, not 11.2
    runs = [
        run(
            "r",
            gpu_util_mean=0.2,
            capacity_type="on-demand",
            cost_micros=8 * USD,
            artifacts=(FREE_CKPT,),
        )
    ]
    recs = generate(runs, PRICES, now=NOW)
    assert [r.estimated_savings_micros for r in recs] == [6_000_000, 5_200_000]
    assert combined_savings(runs, recs) == 7_300_000
    over = generate(runs, PRICES, target_savings_percentage=90, now=NOW)
    under = generate(runs, PRICES, target_savings_percentage=95, now=NOW)
    assert all(r.evidence[-1].endswith("(91.2%), target reached") for r in over)
    assert all(r.evidence[-1].endswith("target not reached") for r in under)


def test_whole_run_savings_cap_the_combination():
    # a repeat that was also idle: the whole run was avoidable, no more
    runs = [
        run("a", config_hash="x", started_at=at(0)),
        run("b", config_hash="x", started_at=at(1), gpu_util_mean=0.2, cost_micros=4 * USD),
    ]
    recs = generate(runs, PRICES, now=NOW)
    assert sum(r.estimated_savings_micros for r in recs) == 4 * USD + 3 * USD
    assert combined_savings(runs, recs) == 4 * USD


@pytest.mark.parametrize("target", [0, -5, 101])
def test_generate_validates_the_target(target):
    with pytest.raises(ValueError, match="target_savings_percentage"):
        generate([], PRICES, target_savings_percentage=target, now=NOW)


def test_as_dict_has_the_guide_shape():
    rec = only(
        duplicate_configs(
            [
                run("a", config_hash="x"),
                run("b", config_hash="x", started_at=at(1), cost_micros=1_250_000),
            ],
            PRICES,
        )
    )
    d = rec.as_dict()
    assert d == {
        "category": "duplicate_configs",
        "recommendation": rec.recommendation,
        "estimated_savings": 1.25,
        "confidence": 50.0,
        "evidence": list(rec.evidence),
    }
    assert math.isfinite(d["confidence"])

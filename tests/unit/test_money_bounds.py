"""Money cannot overflow or go negative: pricing bounds, limits and prices (pure logic)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from genops.catalog import Catalog, CatalogError
from genops.money import INT64_MAX, dollars_to_micros, parse_usd_micros, saturate_int64
from genops_processor.budgets import Policy, PolicyError
from genops_processor.domain import HardwareUse, RunLabels, RunState, RunUsage, Scope
from genops_processor.limits import (
    MAX_BUDGET_LIMIT_MICROS,
    MAX_LINE_MICROS,
    MAX_RUN_MICROS,
    MAX_UNIT_PRICE_USD,
)
from genops_processor.pricing.cost_lines import CatalogSource, price

HOUR_NS = 3_600 * 10**9
START_NS = 1_764_000_000_000_000_000


def catalog(price_t4: str = "36") -> Catalog:
    row = {"category": "compute", "unit": "gpu-hour", "source": "test", "date": "2026-12-01"}
    storage = {"category": "storage", "unit": "gib-month", "source": "test", "date": "2026-12-01"}
    return Catalog.from_dict(
        {
            "version": "bounds-1",
            "default_region": "test",
            "rows": [
                {**row, "sku": "T4", "unit_price": price_t4, "region": "test"},
                {**row, "sku": "vcpu", "unit_price": "3.6", "region": "test"},
                {**storage, "sku": "storage-standard", "unit_price": "0.02", "region": "test"},
            ],
        },
        "test",
    )


def run(gpus=1, cpus=0, start=START_NS, hours=1.0, as_of=None, **usage) -> RunState:
    labels = usage.pop("labels", RunLabels())
    as_of = start + int(hours * HOUR_NS) if as_of is None else as_of
    return RunState(
        run_key="r1",
        run_id="r1",
        run_name="",
        wandb_project="",
        scope=Scope(team="t"),
        hardware=HardwareUse(gpu_type="T4", gpu_count=gpus, cpu_count=cpus),
        usage=RunUsage(compute_start_ns=start, as_of_ns=as_of, **usage),
        status="running",
        final=False,
        labels=labels,
    )


def priced(state: RunState) -> RunState:
    return price(state, CatalogSource(catalog()))[0]


def assert_bounded(state: RunState) -> None:
    assert 0 <= state.cost_micros <= MAX_RUN_MICROS
    parts = state.breakdown
    for value in (parts.compute, parts.storage, parts.data_transfer, parts.tracking):
        assert 0 <= value <= MAX_RUN_MICROS


# -- friendly: normal values are unchanged to the micro-dollar ------------------------------


def test_a_normal_run_prices_exactly_as_before():
    state = priced(run(gpus=2, cpus=4, hours=1.5))
    assert state.cost_micros == 2 * 54_000_000 + 4 * 5_400_000  # 2 x 1.5 h x $36 + 4 x $5.40
    assert state.violations == ()


def test_declared_storage_and_artifacts_price_as_before():
    state = priced(run(artifact_bytes=2**30, declared_storage_micros=1_500_000))
    assert state.cost_micros == 36_000_000 + 20_000 + 1_500_000
    assert state.violations == ()


# -- hostile: extremes never overflow, never go negative -------------------------------------


def test_int64_extreme_times_leave_the_compute_unpriced_and_flagged():
    state = priced(run(start=-(2**63 - 1), as_of=2**63 - 1, gpus=8, cpus=96))
    assert_bounded(state)
    assert state.cost_micros == 0
    assert any("above the maximum" in v for v in state.violations), state.violations


def test_declared_storage_of_5e18_is_unpriced_and_flagged():
    state = priced(run(declared_storage_micros=5 * 10**18))
    assert_bounded(state)
    assert state.cost_micros == 36_000_000  # the compute line; the declared one is refused
    assert "declared-storage" in state.unpriced_skus
    assert any("declared-storage" in v and "above the maximum" in v for v in state.violations)


@pytest.mark.parametrize(
    "usage",
    [
        {"declared_storage_micros": -(10**12)},
        {"artifact_bytes": -(10**15)},
        {"artifact_bytes": 2**30, "labels": RunLabels(retention_days=-400)},
    ],
    ids=["declared", "artifact_bytes", "retention_days"],
)
def test_negative_usage_prices_zero_and_is_flagged(usage):
    state = priced(run(**usage))
    assert_bounded(state)
    assert state.cost_micros == 36_000_000  # only the hour of compute
    assert any("negative" in v for v in state.violations), state.violations


def test_negative_device_counts_price_zero_and_are_flagged():
    state = priced(run(gpus=-5, cpus=-3))
    assert state.cost_micros == 0
    assert any("negative" in v for v in state.violations)


def test_a_run_total_past_the_maximum_leaves_the_last_lines_unpriced():
    # each line is under the per-line maximum; together they pass the per-run one
    hours = (MAX_LINE_MICROS // 36_000_000) * 0.9
    state = priced(run(gpus=1, cpus=10, hours=hours))
    assert_bounded(state)
    assert state.cost_micros <= MAX_RUN_MICROS and state.unpriced_skus == ("vcpu",)
    assert any("per-run maximum" in v for v in state.violations)


def test_huge_device_count_times_a_year_is_refused_not_wrapped():
    state = priced(run(gpus=2**31 - 1, cpus=2**31 - 1, hours=24 * 366))
    assert_bounded(state)
    assert state.unpriced_skus == ("T4", "vcpu")


# -- limits and prices -------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1e30", "-1", "NaN", "Infinity", "1e999999999", True, None])
def test_absurd_budget_limits_are_refused(value):
    with pytest.raises(ValueError):
        parse_usd_micros(value, maximum=MAX_BUDGET_LIMIT_MICROS)


def test_the_largest_budget_limit_is_accepted():
    assert parse_usd_micros("1000000000", maximum=MAX_BUDGET_LIMIT_MICROS) == 10**15
    with pytest.raises(ValueError, match="maximum"):
        parse_usd_micros("1000000000.000001", maximum=MAX_BUDGET_LIMIT_MICROS)


@pytest.mark.parametrize("value", ["1e30", "-0.5", "NaN", "1e-10"])
def test_absurd_unit_prices_are_refused_naming_the_field(value):
    with pytest.raises(CatalogError, match=r"rows\[0\]\.unit_price"):
        catalog(value)


def test_the_largest_unit_price_is_accepted():
    assert catalog(str(MAX_UNIT_PRICE_USD)).get("T4").unit_price == MAX_UNIT_PRICE_USD
    assert catalog("0.000000001").get("T4").unit_price == Decimal("0.000000001")


def test_saturation_at_the_wire():
    assert saturate_int64(2**64) == INT64_MAX
    assert saturate_int64(-(2**70)) == -INT64_MAX - 1
    assert saturate_int64(12) == 12


def test_a_policy_file_with_an_absurd_limit_is_refused_naming_it():
    budget = {"name": "b", "scope": {"team": "t"}, "limit": "1e30"}
    with pytest.raises(PolicyError, match=r"budgets\[0\] \(b\)\.limit '1e30': above the maximum"):
        Policy.from_dict({"budgets": [budget]})


def test_a_stored_policy_with_an_absurd_limit_reads_as_the_maximum():
    """A version an older processor stored (SetBudget accepted "1e30"): the ledger opens."""
    budget = {"name": "b", "scope": {"team": "t"}, "daily_limit": "1e30"}
    policy = Policy.from_stored({"budgets": [budget]})
    assert policy.budgets[0].limit_micros == MAX_BUDGET_LIMIT_MICROS
    assert policy.body["budgets"][0]["daily_limit"] == "1000000000"
    with pytest.raises(PolicyError):  # anything else invalid is still refused
        Policy.from_stored({"budgets": [{**budget, "daily_limit": "-1"}]})


def test_client_amounts_past_the_maximum_are_refused_naming_the_argument():
    with pytest.raises(ValueError, match="max_cost must be at most"):
        dollars_to_micros(1e30, "max_cost")
    assert dollars_to_micros("1000000000", "max_cost") == MAX_BUDGET_LIMIT_MICROS

"""Twenty-four usage cases priced to the micro-dollar against a hand computation.

GPU types x durations x artifact bytes x regions, on a catalog with two regions.
The expected figures are computed here with plain Decimal arithmetic from the
catalog's prices, independently of the pricing module.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import pytest

from genops_processor.domain import HardwareUse, RunLabels, RunState, RunUsage, Scope
from genops_processor.pricing import Catalog, price_run, total_micros

PRICES = {  # (sku, region) -> USD per unit
    ("T4", "us-east-1"): "0.526",
    ("T4", "eu-west-1"): "0.587",
    ("A100-80GB", "us-east-1"): "3.43",
    ("A100-80GB", "eu-west-1"): "3.821",
    ("H100", "us-east-1"): "6.88",
    ("H100", "eu-west-1"): "7.5",
    ("vcpu", "us-east-1"): "0.041",
    ("vcpu", "eu-west-1"): "0.0456",
    ("storage-standard", "us-east-1"): "0.023",
    ("storage-standard", "eu-west-1"): "0.024",
    ("transfer-external", "us-east-1"): "0.09",
    ("transfer-external", "eu-west-1"): "0.09",
}
UNITS = {
    "storage-standard": ("storage", "gib-month"),
    "transfer-external": ("data_transfer", "gib"),
}
CATALOG = Catalog.from_dict(
    {
        "version": "table-1",
        "default_region": "us-east-1",
        "rows": [
            {
                "sku": sku,
                "category": UNITS.get(sku, ("compute",))[0],
                "unit": UNITS.get(sku, ("compute", "device-hour"))[1],
                "unit_price": price,
                "region": region,
                "source": "test table",
                "date": "2026-11-29",
            }
            for (sku, region), price in PRICES.items()
        ],
    },
    "table catalog",
)
START = 1_764_000_000_000_000_000

CASES = [  # gpu, gpus, cpus, duration_ns, artifact bytes, region, W&B mode, retention days
    ("T4", 1, 4, 3_600_000_000_000, 0, "us-east-1", "offline", 30),
    ("T4", 1, 4, 3_600_000_000_000, 0, "eu-west-1", "offline", 30),
    ("T4", 4, 16, 1_234_567_891_011, 5_000_000, "us-east-1", "offline", 30),
    ("T4", 4, 16, 1_234_567_891_011, 5_000_000, "eu-west-1", "online", 30),
    ("T4", 2, 8, 59_999_999_999, 2**30, "us-east-1", "online", 7),
    ("T4", 2, 8, 1, 1, "eu-west-1", "online", 1),
    ("A100-80GB", 8, 96, 36_000_000_000_000, 0, "us-east-1", "offline", 30),
    ("A100-80GB", 8, 96, 36_000_000_000_000, 10 * 2**30, "eu-west-1", "online", 90),
    ("A100-80GB", 1, 12, 987_654_321, 123_456_789, "us-east-1", "offline", 30),
    ("A100-80GB", 1, 12, 987_654_321, 123_456_789, "eu-west-1", "offline", 365),
    ("A100-80GB", 3, 0, 7_200_000_000_000, 0, "us-east-1", "offline", 30),
    ("A100-80GB", 2, 24, 450_000_000_001, 999, "eu-west-1", "online", 30),
    ("H100", 8, 192, 86_400_000_000_000, 50 * 2**30, "us-east-1", "online", 30),
    ("H100", 8, 192, 86_400_000_000_000, 50 * 2**30, "eu-west-1", "online", 30),
    ("H100", 1, 24, 1_800_000_000_000, 0, "us-east-1", "offline", 30),
    ("H100", 1, 24, 1_800_000_000_000, 0, "eu-west-1", "offline", 30),
    ("H100", 4, 96, 333_333_333_333, 7_777_777, "us-east-1", "offline", 14),
    ("H100", 4, 96, 333_333_333_333, 7_777_777, "eu-west-1", "online", 14),
    ("", 0, 2, 600_000_000_000, 0, "us-east-1", "offline", 30),
    ("", 0, 2, 600_000_000_000, 4096, "eu-west-1", "online", 30),
    ("", 0, 64, 3_600_000_000_001, 0, "us-east-1", "offline", 30),
    ("T4", 1, 4, 0, 0, "us-east-1", "offline", 30),
    ("H100", 2, 48, 10_000_000_000, 2**40, "eu-west-1", "online", 30),
    ("A100-80GB", 4, 48, 5_400_000_000_000, 3 * 2**30, "us-east-1", "online", 60),
]


def by_hand(gpu, gpus, cpus, duration_ns, size, region, mode, days) -> int:
    def micros(dollars: Decimal) -> int:
        return int((dollars * 1_000_000).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))

    def price(sku: str) -> Decimal:
        return Decimal(PRICES[(sku, region)])

    hours = Decimal(duration_ns) / Decimal(3_600_000_000_000)
    with localcontext() as ctx:
        ctx.prec = 100
        total = 0
        if gpus:
            total += micros(gpus * hours * price(gpu))
        if cpus:
            total += micros(cpus * hours * price("vcpu"))
        if size:
            gib = Decimal(size) / Decimal(2**30)
            total += micros(gib * Decimal(days) / 30 * price("storage-standard"))
            if mode == "online":
                total += micros(gib * price("transfer-external"))
        return total


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{c[0] or 'cpu'}x{c[1]}-{c[5]}-{i}" for i, c in enumerate(CASES)]
)
def test_cost_matches_the_hand_computation(case):
    gpu, gpus, cpus, duration_ns, size, region, mode, days = case
    state = RunState(
        run_key="k",
        run_id="r",
        run_name="n",
        wandb_project="p",
        scope=Scope(team="t"),
        hardware=HardwareUse(gpu_type=gpu, gpu_count=gpus, cpu_count=cpus),
        usage=RunUsage(compute_start_ns=START, as_of_ns=START + duration_ns, artifact_bytes=size),
        status="finished",
        final=True,
        labels=RunLabels(region=region, wandb_mode=mode, retention_days=days),
    )
    lines = price_run(state, CATALOG)
    assert all(line.priced for line in lines)
    assert all(line.catalog_version == "table-1" for line in lines)
    assert total_micros(lines) == by_hand(*case)


def test_there_are_at_least_twenty_cases():
    assert len(CASES) >= 20


def test_a_region_without_a_price_is_not_priced_from_another_region():
    state = RunState(
        run_key="k",
        run_id="r",
        run_name="n",
        wandb_project="p",
        scope=Scope(),
        hardware=HardwareUse(gpu_type="T4", gpu_count=1),
        usage=RunUsage(compute_start_ns=START, as_of_ns=START + 3_600_000_000_000),
        status="finished",
        final=True,
        labels=RunLabels(region="ap-south-1"),
    )
    [line] = price_run(state, CATALOG)
    assert (line.priced, line.amount_micros, line.unit_price) == (False, None, None)

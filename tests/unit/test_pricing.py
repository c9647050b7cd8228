"""Unit tests for the price catalog and the pricing of a run (pure logic)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from pathlib import Path

import pytest
import yaml

from genops_processor.domain import HardwareUse, RunState, RunUsage, Scope
from genops_processor.pricing.cost_lines import (
    Catalog,
    CatalogError,
    price_run,
    total_micros,
    usd_micros,
)

DEFAULT_CATALOG_FILE = (
    Path(__file__).resolve().parents[2]
    / "instrumentation"
    / "src"
    / "genops"
    / "catalogs"
    / "default.yaml"
)

# Unit prices of the default catalog, copied by hand (USD per device-hour).
PRICES = {
    "T4": "0.526",
    "V100": "3.06",
    "A10G": "1.006",
    "L4": "0.805",
    "A100-40GB": "2.745",
    "A100-80GB": "3.43",
    "H100": "6.88",
    "H200": "5.408",
    "vcpu": "0.041",
}
OTHER_SKUS = [
    "ram",
    "storage-standard",
    "storage-infrequent",
    "storage-archive",
    "storage-ssd",
    "transfer-internal",
    "transfer-external",
]

START_NS = 1_764_000_000_123_456_789


def hand_micros(count: int, duration_ns: int, price: str) -> int:
    """Independent hand computation: device-ns x price / ns-per-hour, in micro-dollars."""
    with localcontext() as ctx:
        ctx.prec = 100
        exact = (
            Decimal(count * duration_ns) * Decimal(price) / Decimal(3_600_000_000_000) * 1_000_000
        )
        return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def hand_quantity(count: int, duration_ns: int) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 100
        return (Decimal(count * duration_ns) / Decimal(3_600_000_000_000)).quantize(
            Decimal("0.000000000001"), rounding=ROUND_HALF_EVEN
        )


def run_state(
    gpu_type: str = "",
    gpu_count: int = 0,
    cpu_count: int = 0,
    duration_ns: int = 0,
    start_ns: int = START_NS,
) -> RunState:
    return RunState(
        run_key="0af7651916cd43dd8448eb211c80319c",
        run_id="abc123",
        run_name="brisk-fog-1",
        wandb_project="churn",
        scope=Scope(team="nlp", project="churn"),
        hardware=HardwareUse(gpu_type=gpu_type, gpu_count=gpu_count, cpu_count=cpu_count),
        usage=RunUsage(compute_start_ns=start_ns, as_of_ns=start_ns + duration_ns),
        status="running",
        final=False,
    )


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


# --------------------------------------------------------------------------- catalog


def test_default_catalog_loads_with_its_version_and_all_rows(catalog):
    assert catalog.version == "2026-11-default"
    assert sorted(catalog.skus()) == sorted([*PRICES, *OTHER_SKUS])
    assert catalog.default_region == "us-east-1"
    assert {region for _, region in catalog.rows} == {"us-east-1"}


def test_default_catalog_every_row_has_a_source_and_an_iso_date(catalog):
    for (sku, region), row in catalog.rows.items():
        assert (row.sku, row.region) == (sku, region)
        assert row.source.strip(), sku
        assert dt.date.fromisoformat(row.date).isoformat() == row.date, sku
        assert row.currency == "USD", sku


@pytest.mark.parametrize("sku, price", sorted(PRICES.items()))
def test_default_catalog_prices_are_exact_decimals(catalog, sku, price):
    row = catalog.get(sku)
    assert row is not None
    assert isinstance(row.unit_price, Decimal)
    assert row.unit_price == Decimal(price)
    assert str(row.unit_price) == price


def test_default_catalog_row_fields(catalog):
    row = catalog.get("A100-80GB")
    assert row.category == "compute"
    assert row.unit == "gpu-hour"
    assert row.region == "us-east-1"
    assert row.source == "AWS p4de.24xlarge on-demand / 8 GPUs"
    assert row.date == "2026-11-01"


def test_loading_the_default_file_by_path_equals_the_bundled_default(catalog):
    assert Catalog.load(DEFAULT_CATALOG_FILE) == catalog


def test_catalog_get_unknown_sku_is_none(catalog):
    assert catalog.get("B200") is None


def _valid_rows() -> list[dict]:
    return [
        {
            "sku": "T4",
            "category": "compute",
            "unit": "gpu-hour",
            "unit_price": "0.5",
            "source": "test",
            "date": "2026-01-01",
        },
        {
            "sku": "vcpu",
            "category": "compute",
            "unit": "vcpu-hour",
            "unit_price": "0.04",
            "source": "test",
            "date": "2026-01-01",
        },
        {
            "sku": "L4",
            "category": "compute",
            "unit": "gpu-hour",
            "unit_price": "0.8",
            "source": "test",
            "date": "2026-01-01",
        },
    ]


def _write_catalog(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump({"version": "t-1", "currency": "USD", "rows": rows}))
    return path


def test_a_valid_catalog_file_loads(tmp_path):
    loaded = Catalog.load(_write_catalog(tmp_path, _valid_rows()))
    assert loaded.version == "t-1"
    assert [sku for sku, _ in loaded.rows] == ["T4", "vcpu", "L4"]
    assert loaded.get("vcpu").unit_price == Decimal("0.04")
    assert loaded.get("L4").date == "2026-01-01"


@pytest.mark.parametrize("field", ["sku", "category", "unit", "unit_price", "source", "date"])
def test_catalog_row_with_a_missing_field_names_row_and_field(tmp_path, field):
    rows = _valid_rows()
    del rows[1][field]
    with pytest.raises(CatalogError, match=rf"rows\[1\]\.{field} is missing"):
        Catalog.load(_write_catalog(tmp_path, rows))


@pytest.mark.parametrize("field", ["source", "date"])
def test_catalog_row_with_an_empty_field_names_row_and_field(tmp_path, field):
    rows = _valid_rows()
    rows[2][field] = ""
    with pytest.raises(CatalogError, match=rf"rows\[2\]\.{field} is missing"):
        Catalog.load(_write_catalog(tmp_path, rows))


@pytest.mark.parametrize("price", ["-0.01", "-1", "NaN", "Infinity"])
def test_catalog_row_with_a_negative_or_non_finite_price_names_row_and_field(tmp_path, price):
    rows = _valid_rows()
    rows[2]["unit_price"] = price
    with pytest.raises(CatalogError, match=r"rows\[2\]\.unit_price must be a non-negative"):
        Catalog.load(_write_catalog(tmp_path, rows))


def test_catalog_row_with_a_non_numeric_price_names_row_and_field(tmp_path):
    rows = _valid_rows()
    rows[0]["unit_price"] = "cheap"
    with pytest.raises(CatalogError, match=r"rows\[0\]\.unit_price 'cheap' is not a number"):
        Catalog.load(_write_catalog(tmp_path, rows))


def test_catalog_row_with_an_unknown_category_names_row_and_the_choices(tmp_path):
    rows = _valid_rows()
    rows[1]["category"] = "gpu"
    with pytest.raises(
        CatalogError,
        match=r"rows\[1\]\.category 'gpu' is not one of compute, storage, data_transfer, tracking",
    ):
        Catalog.load(_write_catalog(tmp_path, rows))


def test_catalog_with_a_duplicate_sku_names_the_second_row(tmp_path):
    rows = _valid_rows()
    rows[2]["sku"] = "T4"
    with pytest.raises(CatalogError, match=r"rows\[2\]\.sku 'T4' appears twice"):
        Catalog.load(_write_catalog(tmp_path, rows))


def test_catalog_error_names_the_file(tmp_path):
    rows = _valid_rows()
    del rows[0]["source"]
    path = _write_catalog(tmp_path, rows)
    with pytest.raises(CatalogError) as info:
        Catalog.load(path)
    assert str(info.value) == f"{path}: rows[0].source is missing"


def test_catalog_without_a_version_is_rejected():
    with pytest.raises(CatalogError, match="needs a 'version'"):
        Catalog.from_dict({"rows": _valid_rows()}, "inline")


def test_catalog_row_that_is_not_a_mapping_is_rejected():
    with pytest.raises(CatalogError, match=r"inline: rows\[0\]: expected a mapping"):
        Catalog.from_dict({"version": "v", "rows": ["T4"]}, "inline")


def test_catalog_file_that_does_not_exist_is_a_catalog_error(tmp_path):
    with pytest.raises(CatalogError, match="cannot read catalog"):
        Catalog.load(tmp_path / "missing.yaml")


def test_catalog_yaml_float_price_is_read_as_its_decimal_text():
    loaded = Catalog.from_dict(
        {"version": "v", "rows": [{**_valid_rows()[0], "unit_price": 0.1}]}, "inline"
    )
    assert loaded.get("T4").unit_price == Decimal("0.1")


# --------------------------------------------------------------------------- price_run

# (sku, device count, duration in ns, expected micro-dollars computed by hand)
LINE_CASES = [
    ("T4", 1, 3_600_000_000_000, 526_000),
    ("T4", 4, 1_800_000_000_001, 1_052_000),
    ("A100-40GB", 8, 123_456_789_012_345, 753_086_413),
    ("A100-80GB", 2, 7_777_777_777_777, 14_820_988),
    ("H100", 8, 86_400_000_000_000, 1_320_960_000),
    ("H100", 1, 523_255_813, 1_000),
    ("V100", 1, 1, 0),
    ("V100", 7, 1_000_000_000_003, 5_950_000),
    ("A10G", 3, 999_999_999_999, 838_333),
    ("A10G", 1, 3_578_528_827, 1_000),
    ("L4", 1, 1_234_567_891, 276),
    ("L4", 2, 45_000_000_001, 20_125),
    # exact ties: half-even rounds x.5 to the even neighbour
    ("T4", 1, 900_000_000, 132),  # 131.5 -> 132
    ("T4", 3, 900_000_000, 394),  # 394.5 -> 394
    ("vcpu", 1, 1_800_000_000, 20),  # 20.5 -> 20
    ("vcpu", 1, 5_400_000_000, 62),  # 61.5 -> 62
    ("vcpu", 96, 3_599_999_999_999, 3_936_000),
]


@pytest.mark.parametrize("sku, count, duration_ns, expected", LINE_CASES)
def test_hand_computation_agrees_with_the_table(sku, count, duration_ns, expected):
    assert hand_micros(count, duration_ns, PRICES[sku]) == expected


@pytest.mark.parametrize("sku, count, duration_ns, expected", LINE_CASES)
def test_price_run_single_line_is_exact(catalog, sku, count, duration_ns, expected):
    if sku == "vcpu":
        state = run_state(cpu_count=count, duration_ns=duration_ns)
    else:
        state = run_state(gpu_type=sku, gpu_count=count, duration_ns=duration_ns)

    lines = price_run(state, catalog)

    assert len(lines) == 1
    line = lines[0]
    assert line.sku == sku
    assert line.amount_micros == expected
    assert line.amount_micros == hand_micros(count, duration_ns, PRICES[sku])
    assert line.unit_price == Decimal(PRICES[sku])
    assert line.quantity == hand_quantity(count, duration_ns)
    assert line.priced is True
    assert line.run_key == state.run_key
    assert line.catalog_version == "2026-11-default"
    assert line.catalog_source == catalog.get(sku).source
    assert line.catalog_date == catalog.get(sku).date
    assert line.unit == catalog.get(sku).unit
    assert line.category == "compute"
    assert line.as_of_ns == START_NS + duration_ns


@pytest.mark.parametrize(
    "gpu_type, gpus, cpus, duration_ns",
    [
        ("T4", 2, 4, 3_600_000_000_000),
        ("A100-80GB", 8, 96, 12_345_678_901_234),
        ("H100", 4, 48, 7_200_000_000_001),
        ("L4", 1, 8, 1_800_000_000),
    ],
)
def test_price_run_gpu_and_cpu_lines_sum_to_the_run_total(
    catalog, gpu_type, gpus, cpus, duration_ns
):
    lines = price_run(run_state(gpu_type, gpus, cpus, duration_ns), catalog)

    assert [line.sku for line in lines] == [gpu_type, "vcpu"]
    gpu_micros = hand_micros(gpus, duration_ns, PRICES[gpu_type])
    cpu_micros = hand_micros(cpus, duration_ns, PRICES["vcpu"])
    assert [line.amount_micros for line in lines] == [gpu_micros, cpu_micros]
    assert total_micros(lines) == gpu_micros + cpu_micros


def test_price_run_two_t4_and_four_vcpu_for_one_hour(catalog):
    lines = price_run(run_state("T4", 2, 4, 3_600_000_000_000), catalog)
    assert [(line.sku, line.quantity, line.amount_micros) for line in lines] == [
        ("T4", Decimal("2.000000000000"), 1_052_000),
        ("vcpu", Decimal("4.000000000000"), 164_000),
    ]
    assert total_micros(lines) == 1_216_000


def test_unknown_gpu_type_gives_an_unpriced_line_and_only_priced_lines_count(catalog):
    duration_ns = 1_800_000_000_000  # half an hour
    lines = price_run(run_state("B200", 2, 4, duration_ns), catalog)

    unknown, cpu = lines
    assert unknown.sku == "B200"
    assert unknown.amount_micros is None
    assert unknown.unit_price is None
    assert unknown.priced is False
    assert unknown.quantity == Decimal("1.000000000000")
    assert unknown.catalog_version == "2026-11-default"
    assert unknown.catalog_source == ""
    assert cpu.sku == "vcpu"
    assert cpu.amount_micros == 82_000
    assert total_micros(lines) == 82_000


def test_gpu_without_a_type_is_priced_as_unknown_gpu_and_left_unpriced(catalog):
    lines = price_run(run_state("", 1, 0, 3_600_000_000_000), catalog)
    assert [(line.sku, line.amount_micros, line.unit_price) for line in lines] == [
        ("unknown-gpu", None, None)
    ]
    assert total_micros(lines) == 0


def test_zero_duration_costs_zero(catalog):
    lines = price_run(run_state("H100", 8, 96, 0), catalog)
    assert [(line.sku, line.amount_micros) for line in lines] == [("H100", 0), ("vcpu", 0)]
    assert all(line.quantity == 0 for line in lines)
    assert total_micros(lines) == 0


def test_as_of_before_compute_start_counts_as_zero_duration(catalog):
    state = replace(
        run_state("T4", 1, 1, 0),
        usage=RunUsage(compute_start_ns=START_NS, as_of_ns=START_NS - 5_000_000_000),
    )
    assert [line.amount_micros for line in price_run(state, catalog)] == [0, 0]


def test_run_without_hardware_has_no_lines(catalog):
    assert price_run(run_state(duration_ns=3_600_000_000_000), catalog) == []


@pytest.mark.parametrize(
    "dollars, micros",
    [
        ("0", 0),
        ("1", 1_000_000),
        ("0.0000005", 0),
        ("0.0000015", 2),
        ("0.0000025", 2),
        ("0.00000251", 3),
        ("12.3456784999", 12_345_678),
    ],
)
def test_usd_micros_rounds_half_even(dollars, micros):
    assert usd_micros(Decimal(dollars)) == micros


def test_pricing_a_run_keeps_every_field_it_does_not_price(catalog):
    """price() names RunState's fields one by one (faster than dataclasses.replace): a
    field added to RunState and not named there would silently fall back to its default."""
    from dataclasses import fields

    from genops_processor.domain import RunLabels
    from genops_processor.pricing.cost_lines import CatalogSource, price

    state = RunState(
        run_key="k",
        run_id="r",
        run_name="n",
        wandb_project="w",
        scope=Scope(team="t", project="p"),
        hardware=HardwareUse(gpu_type="T4", gpu_count=1, cpu_count=2),
        usage=RunUsage(compute_start_ns=START_NS, as_of_ns=START_NS + 3_600_000_000_000),
        status="running",
        final=True,
        error="e",
        catalog_version="stale",
        cost_micros=-1,
        unpriced_skus=("x",),
        labels=RunLabels(region="us-east-1", hold_id="h"),
        violations=("v",),
        exit_code=3,
    )
    priced, lines = price(state, CatalogSource(catalog))
    changed = {"catalog_version", "cost_micros", "unpriced_skus", "violations", "breakdown"}
    for f in fields(RunState):
        if f.name not in changed:
            assert getattr(priced, f.name) == getattr(state, f.name), f.name
    assert priced.cost_micros == total_micros(lines) > 0
    assert priced.catalog_version == catalog.version


# ------------------------------------------------------------------ what a check asks

_LATER_NS = [0, 1, 15 * 10**9, -(10**9), 10**20]


def _asking_states() -> list[RunState]:
    from genops_processor.domain import RunLabels

    base = run_state("T4", 2, 8, duration_ns=3_600 * 10**9)
    usage = base.usage
    return [
        base,
        run_state(),  # nothing to price
        run_state("H100", 8, 0, duration_ns=1),
        run_state("B300", 1, 4, duration_ns=10**12),  # a GPU the catalog does not price
        run_state("T4", 1, 0, duration_ns=-(10**12)),  # ended before it began
        run_state("T4", -3, -1, duration_ns=10**12),  # negative counts price 0
        run_state("H100", 10**9, 10**9, duration_ns=10**15),  # past the per-line maximum
        run_state("H100", 10**6, 0, duration_ns=10**13),  # near the per-run maximum
        replace(base, usage=replace(usage, artifact_bytes=5 * 2**30)),
        replace(
            base,
            usage=replace(usage, artifact_bytes=2**40, declared_storage_micros=1_234),
            labels=RunLabels(wandb_mode="online", storage_tier="ssd", retention_days=90),
        ),
        replace(base, labels=RunLabels(region="mars-1")),  # no price in that region
        replace(base, labels=RunLabels(catalog_version="no-such-version")),
    ]


@pytest.mark.parametrize("later_ns", _LATER_NS)
@pytest.mark.parametrize("index", range(len(_asking_states())))
def test_what_a_check_asks_is_the_total_of_the_run_s_priced_lines(catalog, index, later_ns):
    """asked_micros skips the run state a decision does not read; it must price exactly
    as price() does the same run ``later_ns`` later, capped runs asking the maximum."""
    from genops_processor.limits import MAX_RUN_MICROS
    from genops_processor.pricing.cost_lines import CatalogSource, asked_micros, price

    state = _asking_states()[index]
    catalogs = CatalogSource(catalog)
    later = replace(
        state, usage=replace(state.usage, as_of_ns=state.usage.as_of_ns + max(0, later_ns))
    )
    priced, lines = price(later, catalogs)
    capped = any(line.unit_price is not None and not line.priced for line in lines)
    expected = MAX_RUN_MICROS if capped else priced.cost_micros
    assert asked_micros(state, catalogs, later_ns=later_ns) == expected
    if later_ns == 0:
        assert asked_micros(state, catalogs) == expected

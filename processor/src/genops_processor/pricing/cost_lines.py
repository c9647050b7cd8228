"""Pricing a run's usage into cost lines. Pure logic over domain types.

Money is Decimal in arithmetic and integer micro-dollars in results, rounded
half-even once per line from exact inputs. The lines of a run:

* compute: duration (ns) x device count x the hourly rate of its SKU, one line
  for the GPUs and one for the vCPUs;
* storage: artifact bytes x the tier's GiB-month rate x retention days / 30;
* data transfer: artifact bytes uploaded (W&B online mode) x the external rate;
* declared: costs the client declared (``log_governed_artifact``), as given.

Prices are looked up per (SKU, region). A SKU the catalog does not have in the
run's region yields an *unpriced* line and a violation, never a guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

from genops.catalog import Catalog, CatalogError, CatalogRow, device_cost_micros
from genops.money import MICROS_PER_USD, round_micros
from genops_processor.domain import NS_PER_HOUR, CostBreakdown, CostLine, ManualCostEvent, RunState

__all__ = [
    "Catalog",
    "CatalogError",
    "CatalogRow",
    "CatalogSource",
    "price_run",
    "total_micros",
    "unpriced_violations",
    "usd_micros",
]

CPU_SKU = "vcpu"
DECLARED_STORAGE_SKU = "declared-storage"
DEFAULT_STORAGE_TIER = "standard"
DEFAULT_RETENTION_DAYS = 30
BYTES_PER_GIB = 2**30
DAYS_PER_MONTH = 30
_QUANTITY_STEP = Decimal("1e-12")
_EXACT = Context(prec=80)


@dataclass
class CatalogSource:
    """The catalogs a processor prices with: its default and the versions it knows."""

    default: Catalog
    known: dict[str, Catalog] = field(default_factory=dict)

    def get(self, version: str) -> Catalog | None:
        if version == self.default.version:
            return self.default
        return self.known.get(version)

    def add(self, catalog: Catalog) -> None:
        self.known[catalog.version] = catalog


def price_run(state: RunState, catalog: Catalog) -> list[CostLine]:
    """Every cost line of a run, from its usage so far."""
    region = state.labels.region or catalog.default_region
    duration_ns = state.usage.duration_ns
    lines = []
    if state.hardware.gpu_count > 0:
        sku = state.hardware.gpu_type or "unknown-gpu"
        lines.append(
            _compute_line(state, sku, state.hardware.gpu_count, duration_ns, catalog, region)
        )
    if state.hardware.cpu_count > 0:
        lines.append(
            _compute_line(state, CPU_SKU, state.hardware.cpu_count, duration_ns, catalog, region)
        )
    stored = state.usage.artifact_bytes
    if stored:
        lines.append(_storage_line(state, stored, catalog, region))
        if state.labels.wandb_mode == "online":
            lines.append(_transfer_line(state, stored, "external", catalog, region))
    if state.usage.declared_storage_micros:
        lines.append(_declared_line(state, catalog))
    return lines


def total_micros(lines: Iterable[CostLine]) -> int:
    return sum(line.amount_micros or 0 for line in lines)


def unpriced_violations(lines: Iterable[CostLine], region: str) -> tuple[str, ...]:
    return tuple(
        f"unpriced: no price for '{line.sku}' in region {region or '(none)'} "
        f"of catalog {line.catalog_version}"
        for line in lines
        if not line.priced
    )


def usd_micros(amount: Decimal) -> int:
    """Dollars to micro-dollars, rounded half-even (:func:`genops.money.round_micros`)."""
    return round_micros(amount)


def storage_cost_micros(price: Decimal, size_bytes: int, days: int) -> int:
    """GiB-month price x bytes x days / (GiB x 30 days), in micro-dollars."""
    with localcontext(_EXACT):
        return usd_micros(price * size_bytes * days / (BYTES_PER_GIB * DAYS_PER_MONTH))


def transfer_cost_micros(price: Decimal, size_bytes: int) -> int:
    with localcontext(_EXACT):
        return usd_micros(price * size_bytes / BYTES_PER_GIB)


def _quantity(value: Decimal) -> Decimal:
    with localcontext(_EXACT):
        return value.quantize(_QUANTITY_STEP, rounding=ROUND_HALF_EVEN)


def _compute_line(state, sku, count, duration_ns, catalog, region) -> CostLine:
    quantity = _quantity(Decimal(count * duration_ns) / NS_PER_HOUR)
    row = catalog.get(sku, region)
    amount = None if row is None else device_cost_micros(row.unit_price, count, duration_ns)
    return _line(state, sku, "compute", "device-hour", quantity, row, amount, catalog)


def _storage_line(state, size_bytes, catalog, region) -> CostLine:
    tier = state.labels.storage_tier or DEFAULT_STORAGE_TIER
    days = state.labels.retention_days or DEFAULT_RETENTION_DAYS
    sku = f"storage-{tier}"
    quantity = _quantity(Decimal(size_bytes) * days / (BYTES_PER_GIB * DAYS_PER_MONTH))
    row = catalog.get(sku, region)
    amount = None if row is None else storage_cost_micros(row.unit_price, size_bytes, days)
    return _line(state, sku, "storage", "gib-month", quantity, row, amount, catalog)


def _transfer_line(state, size_bytes, kind, catalog, region) -> CostLine:
    sku = f"transfer-{kind}"
    quantity = _quantity(Decimal(size_bytes) / BYTES_PER_GIB)
    row = catalog.get(sku, region)
    amount = None if row is None else transfer_cost_micros(row.unit_price, size_bytes)
    return _line(state, sku, "data_transfer", "gib", quantity, row, amount, catalog)


def _declared_line(state: RunState, catalog: Catalog) -> CostLine:
    micros = state.usage.declared_storage_micros
    return CostLine(
        run_key=state.run_key,
        sku=DECLARED_STORAGE_SKU,
        category="storage",
        unit="usd",
        quantity=Decimal(micros) / MICROS_PER_USD,
        unit_price=Decimal(1),
        amount_micros=micros,
        catalog_version=catalog.version,
        catalog_source="declared by the client",
        catalog_date="",
        as_of_ns=state.usage.as_of_ns,
    )


def _line(state, sku, category, unit, quantity, row: CatalogRow | None, amount, catalog):
    return CostLine(
        run_key=state.run_key,
        sku=sku,
        category=row.category if row else category,
        unit=row.unit if row else unit,
        quantity=quantity,
        unit_price=row.unit_price if row else None,
        amount_micros=amount,
        catalog_version=catalog.version,
        catalog_source=row.source if row else "",
        catalog_date=row.date if row else "",
        as_of_ns=state.usage.as_of_ns,
    )


def price_manual(event: ManualCostEvent, catalogs: CatalogSource) -> CostLine:
    """A user-added line: quantity x the unit price of its SKU (unpriced if unknown)."""
    if event.catalog_version:
        catalog = catalogs.get(event.catalog_version)
        if catalog is None:  # never priced with another version than the one asked for
            return CostLine(
                run_key=event.experiment_id,
                sku=event.sku,
                category=event.category,
                unit=event.unit,
                quantity=_quantity(event.quantity),
                unit_price=None,
                amount_micros=None,
                catalog_version=event.catalog_version,
                catalog_source="",
                catalog_date="",
                as_of_ns=event.span.end_ns,
            )
    else:
        catalog = catalogs.default
    row = catalog.get(event.sku, event.region or None)
    amount = None if row is None else usd_micros(event.quantity * row.unit_price)
    return CostLine(
        run_key=event.experiment_id,
        sku=event.sku,
        category=row.category if row else event.category,
        unit=row.unit if row else event.unit,
        quantity=_quantity(event.quantity),
        unit_price=row.unit_price if row else None,
        amount_micros=amount,
        catalog_version=catalog.version,
        catalog_source=row.source if row else "",
        catalog_date=row.date if row else "",
        as_of_ns=event.span.end_ns,
    )


def catalogs_from(default: Catalog, known: Mapping[str, Catalog] | None = None) -> CatalogSource:
    return CatalogSource(default, dict(known or {}))


def price(state: RunState, catalogs: CatalogSource) -> tuple[RunState, list[CostLine]]:
    """A run's cost lines under the catalog it asks for, and the state that sums them."""
    wanted = state.labels.catalog_version
    catalog = catalogs.get(wanted) if wanted else catalogs.default
    if catalog is None:
        violation = f"unknown catalog version {wanted!r}: nothing priced"
        return replace(
            state,
            cost_micros=0,
            unpriced_skus=(),
            catalog_version=wanted,
            violations=(violation,),
            breakdown=CostBreakdown(),
        ), []
    run_lines = price_run(state, catalog)
    return replace(
        state,
        cost_micros=total_micros(run_lines),
        unpriced_skus=tuple(line.sku for line in run_lines if not line.priced),
        catalog_version=catalog.version,
        violations=unpriced_violations(run_lines, state.labels.region or catalog.default_region),
        breakdown=CostBreakdown.of(run_lines),
    ), run_lines

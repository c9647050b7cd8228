"""The price catalog and the pricing of a run's usage into cost lines.

Pure logic: no I/O beyond loading a catalog file. Money is Decimal in
arithmetic and integer micro-dollars in results, rounded half-even once per
line from exact inputs (duration in nanoseconds, device count, unit price).
A SKU the catalog does not know yields an *unpriced* line, never a guess.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal

from genops.catalog import Catalog, CatalogError, CatalogRow, device_cost_micros
from genops.money import MICROS_PER_USD
from genops_processor.domain import NS_PER_HOUR, CostLine, RunState

__all__ = ["Catalog", "CatalogError", "CatalogRow", "price_run", "total_micros", "usd_micros"]

CPU_SKU = "vcpu"
# Costs the user declared (log_governed_artifact's cost_estimate): taken as given.
DECLARED_STORAGE_SKU = "declared-storage"
_QUANTITY_STEP = Decimal("1e-12")


def price_run(state: RunState, catalog: Catalog) -> list[CostLine]:
    """Compute lines for a run's hardware over its duration so far."""
    duration_ns = state.usage.duration_ns
    devices: list[tuple[str, int]] = []
    if state.hardware.gpu_count > 0:
        devices.append((state.hardware.gpu_type or "unknown-gpu", state.hardware.gpu_count))
    if state.hardware.cpu_count > 0:
        devices.append((CPU_SKU, state.hardware.cpu_count))
    lines = [_compute_line(state, sku, count, duration_ns, catalog) for sku, count in devices]
    if state.usage.declared_storage_micros:
        lines.append(_declared_line(state, DECLARED_STORAGE_SKU, "storage", catalog))
    return lines


def total_micros(lines: Iterable[CostLine]) -> int:
    return sum(line.amount_micros or 0 for line in lines)


def usd_micros(amount: Decimal) -> int:
    """Dollars to micro-dollars, rounded half-even."""
    return int((amount * MICROS_PER_USD).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def _compute_line(
    state: RunState, sku: str, count: int, duration_ns: int, catalog: Catalog
) -> CostLine:
    device_ns = Decimal(count * duration_ns)
    quantity = (device_ns / NS_PER_HOUR).quantize(_QUANTITY_STEP, rounding=ROUND_HALF_EVEN)
    row = catalog.get(sku)
    if row is None:
        return CostLine(
            run_key=state.run_key,
            sku=sku,
            category="compute",
            unit="device-hour",
            quantity=quantity,
            unit_price=None,
            amount_micros=None,
            catalog_version=catalog.version,
            catalog_source="",
            catalog_date="",
            as_of_ns=state.usage.as_of_ns,
        )
    amount = device_cost_micros(row.unit_price, count, duration_ns)
    return CostLine(
        run_key=state.run_key,
        sku=sku,
        category=row.category,
        unit=row.unit,
        quantity=quantity,
        unit_price=row.unit_price,
        amount_micros=amount,
        catalog_version=catalog.version,
        catalog_source=row.source,
        catalog_date=row.date,
        as_of_ns=state.usage.as_of_ns,
    )


def _declared_line(state: RunState, sku: str, category: str, catalog: Catalog) -> CostLine:
    micros = state.usage.declared_storage_micros
    return CostLine(
        run_key=state.run_key,
        sku=sku,
        category=category,
        unit="usd",
        quantity=Decimal(micros) / MICROS_PER_USD,
        unit_price=Decimal(1),
        amount_micros=micros,
        catalog_version=catalog.version,
        catalog_source="declared by the client",
        catalog_date="",
        as_of_ns=state.usage.as_of_ns,
    )

"""The price catalog and the pricing of a run's usage into cost lines.

Pure logic: no I/O beyond loading a catalog file. Money is Decimal in
arithmetic and integer micro-dollars in results, rounded half-even once per
line from exact inputs (duration in nanoseconds, device count, unit price).
A SKU the catalog does not know yields an *unpriced* line, never a guess.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation, localcontext
from importlib import resources
from pathlib import Path

import yaml

from genops.money import MICROS_PER_USD
from genops_processor.domain import NS_PER_HOUR, CostLine, RunState

CPU_SKU = "vcpu"
# Costs the user declared (log_governed_artifact's cost_estimate): taken as given.
DECLARED_STORAGE_SKU = "declared-storage"
_QUANTITY_STEP = Decimal("1e-12")
# Wide enough that no product of our inputs is ever rounded before the final step.
_EXACT = Context(prec=80)


class CatalogError(ValueError):
    """The catalog file is invalid; the message names the row and the field."""


@dataclass(frozen=True)
class CatalogRow:
    sku: str
    category: str
    unit: str
    unit_price: Decimal
    currency: str
    region: str
    source: str
    date: str


@dataclass(frozen=True)
class Catalog:
    version: str
    rows: Mapping[str, CatalogRow]

    def get(self, sku: str) -> CatalogRow | None:
        return self.rows.get(sku)

    @classmethod
    def load(cls, path: str | Path | None = None) -> Catalog:
        if path is None:
            text = resources.files("genops_processor.catalogs").joinpath("default.yaml")
            return cls.from_dict(yaml.safe_load(text.read_text()), "default catalog")
        try:
            data = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as error:
            raise CatalogError(f"cannot read catalog {path}: {error}") from None
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: object, origin: str) -> Catalog:
        if not isinstance(data, dict) or not data.get("version"):
            raise CatalogError(f"{origin}: needs a 'version' and 'rows'")
        currency = str(data.get("currency", "USD"))
        rows: dict[str, CatalogRow] = {}
        for index, raw in enumerate(data.get("rows") or []):
            row = _row(raw, currency, f"{origin}: rows[{index}]")
            if row.sku in rows:
                raise CatalogError(f"{origin}: rows[{index}].sku {row.sku!r} appears twice")
            rows[row.sku] = row
        return cls(version=str(data["version"]), rows=rows)


def _row(raw: object, currency: str, where: str) -> CatalogRow:
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: expected a mapping")
    for key in ("sku", "category", "unit", "unit_price", "source", "date"):
        if raw.get(key) in (None, ""):
            raise CatalogError(f"{where}.{key} is missing")
    try:
        price = Decimal(str(raw["unit_price"]))
    except InvalidOperation:
        raise CatalogError(f"{where}.unit_price {raw['unit_price']!r} is not a number") from None
    if not price.is_finite() or price < 0:
        raise CatalogError(f"{where}.unit_price must be a non-negative number")
    date = raw["date"]
    if isinstance(date, dt.date):
        date = date.isoformat()
    return CatalogRow(
        sku=str(raw["sku"]),
        category=str(raw["category"]),
        unit=str(raw["unit"]),
        unit_price=price,
        currency=str(raw.get("currency", currency)),
        region=str(raw.get("region", "")),
        source=str(raw["source"]),
        date=str(date),
    )


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
    with localcontext(_EXACT):
        return _compute_line_exact(state, sku, count, duration_ns, catalog)


def _compute_line_exact(
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
    amount = usd_micros(device_ns * row.unit_price / NS_PER_HOUR)
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

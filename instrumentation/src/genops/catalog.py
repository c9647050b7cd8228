"""The price catalog: dated, sourced unit prices, and exact device-time pricing.

Shared by both sides: the processor prices the ledger with it, the adapter
uses it for local estimates when the processor cannot be asked. The default
catalog ships as ``genops/catalogs/default.yaml``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation, localcontext
from importlib import resources
from pathlib import Path

import yaml

from genops.money import round_micros

NS_PER_HOUR = 3_600 * 10**9
# Wide enough that no product of our inputs is ever rounded before the final step.
_EXACT = Context(prec=80)


def device_cost_micros(unit_price_per_hour: Decimal, count: int, duration_ns: int) -> int:
    """count devices for duration_ns at an hourly price, in micro-dollars, half-even."""
    with localcontext(_EXACT):
        return round_micros(Decimal(count * duration_ns) * unit_price_per_hour / NS_PER_HOUR)


# The largest unit price a catalog may hold (USD per unit) and its finest step: a
# catalog with a larger or finer price is refused (CatalogError). The ledger keeps
# prices as DECIMAL(18, 9); the processor re-exports both in its limits.
MAX_UNIT_PRICE_USD = Decimal(1_000_000)
UNIT_PRICE_DECIMALS = 9

# Every catalog row is one of these; the ledger keeps a run's total per category.
CATEGORIES = ("compute", "storage", "data_transfer", "tracking")


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


# Rows with this region price every region (custom pricing models use it).
ANY_REGION = "*"


@dataclass(frozen=True)
class Catalog:
    """Rows keyed by (sku, region). ``default_region`` prices runs that name none."""

    version: str
    rows: Mapping[tuple[str, str], CatalogRow]
    default_region: str = ""

    def get(self, sku: str, region: str | None = None) -> CatalogRow | None:
        """The row for a SKU in a region; never another region's price."""
        where = region or self.default_region
        return self.rows.get((sku, where)) or self.rows.get((sku, ANY_REGION))

    def skus(self) -> set[str]:
        return {sku for sku, _ in self.rows}

    @classmethod
    def load(cls, path: str | Path | None = None) -> Catalog:
        if path is None:
            text = resources.files("genops.catalogs").joinpath("default.yaml")
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
        rows: dict[tuple[str, str], CatalogRow] = {}
        for index, raw in enumerate(data.get("rows") or []):
            row = _row(raw, currency, f"{origin}: rows[{index}]")
            key = (row.sku, row.region)
            if key in rows:
                raise CatalogError(
                    f"{origin}: rows[{index}].sku {row.sku!r} appears twice"
                    + (f" in region {row.region}" if row.region else "")
                )
            rows[key] = row
        return cls(
            version=str(data["version"]),
            rows=rows,
            default_region=str(data.get("default_region", "")),
        )

    def to_dict(self) -> dict[str, object]:
        """The catalog as data (the inverse of from_dict), prices as strings."""
        return {
            "version": self.version,
            "default_region": self.default_region,
            "rows": [
                {
                    "sku": r.sku,
                    "category": r.category,
                    "unit": r.unit,
                    "unit_price": str(r.unit_price),
                    "currency": r.currency,
                    "region": r.region,
                    "source": r.source,
                    "date": r.date,
                }
                for r in self.rows.values()
            ],
        }

    def overlaid(self, extra: Iterable[CatalogRow], label: str) -> Catalog:
        """This catalog with rows added or replaced; its version names the content."""
        extra = list(extra)
        overridden = {row.sku for row in extra if row.region == ANY_REGION}
        # A row for every region replaces the SKU's regional rows.
        rows = {key: row for key, row in self.rows.items() if key[0] not in overridden}
        for row in extra:
            rows[(row.sku, row.region)] = row
        digest = hashlib.sha256(
            json.dumps(
                sorted(
                    [list(k) + [str(v.unit_price), v.category, v.unit] for k, v in rows.items()]
                ),
                sort_keys=True,
            ).encode()
        ).hexdigest()[:12]
        return Catalog(
            version=f"{self.version}+{label}-{digest}",
            rows=rows,
            default_region=self.default_region,
        )


def _unit_price(value: object, where: str) -> Decimal:
    if isinstance(value, bool):
        raise CatalogError(f"{where} {value!r} is not a number")
    try:
        price = Decimal(str(value).strip())
    except InvalidOperation:
        raise CatalogError(f"{where} {value!r} is not a number") from None
    if not price.is_finite() or price < 0:
        raise CatalogError(f"{where} must be a non-negative number")
    if price > MAX_UNIT_PRICE_USD:
        raise CatalogError(f"{where} {value!r} is above the maximum of {MAX_UNIT_PRICE_USD} USD")
    if price != price.quantize(Decimal(1).scaleb(-UNIT_PRICE_DECIMALS), context=_EXACT):
        raise CatalogError(f"{where} {value!r} has more than {UNIT_PRICE_DECIMALS} decimals")
    return price


def _row(raw: object, currency: str, where: str) -> CatalogRow:
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: expected a mapping")
    for key in ("sku", "category", "unit", "unit_price", "source", "date"):
        if raw.get(key) in (None, ""):
            raise CatalogError(f"{where}.{key} is missing")
    price = _unit_price(raw["unit_price"], f"{where}.unit_price")
    if raw["category"] not in CATEGORIES:
        raise CatalogError(
            f"{where}.category {raw['category']!r} is not one of {', '.join(CATEGORIES)}"
        )
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

"""Custom prices for your own infrastructure.

::

    from genops.providers.wandb_pricing import CustomPricingModel

    pricing = CustomPricingModel(
        compute_rates={"gpu_a100": 4.56},           # USD per device-hour
        storage_rates={"ssd": 0.10},                # USD per GiB-month
        data_transfer_rates={"external": 0.09},     # USD per GiB
    )
    adapter = instrument_wandb(team="t", project="p", pricing_model=pricing)

A model extends (or overrides) the default catalog; its version names its
content, so the processor prices your runs with exactly these prices once the
adapter has registered them, and refuses a version it was never given.
Compute rates are keyed by SKU (a GPU model such as ``H100``, ``vcpu``, or a
name of yours such as ``gpu_a100``); storage rates by tier (SKU
``storage-<tier>``); transfer rates by kind (SKU ``transfer-<kind>``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal

from genops.catalog import ANY_REGION, Catalog, CatalogRow
from genops.money import parse_usd_micros

__all__ = ["CustomPricingModel"]


class CustomPricingModel:
    def __init__(
        self,
        compute_rates: Mapping[str, float] | None = None,
        storage_rates: Mapping[str, float] | None = None,
        data_transfer_rates: Mapping[str, float] | None = None,
        base: Catalog | None = None,
    ) -> None:
        self.rows = tuple(
            _rows(compute_rates, "compute_rates", "compute", "device-hour", "{}")
            + _rows(storage_rates, "storage_rates", "storage", "gib-month", "storage-{}")
            + _rows(
                data_transfer_rates, "data_transfer_rates", "data_transfer", "gib", "transfer-{}"
            )
        )
        if not self.rows:
            raise ValueError("a CustomPricingModel needs at least one rate")
        self.catalog = (base or Catalog.load()).overlaid(self.rows, "custom")

    @property
    def version(self) -> str:
        return self.catalog.version

    def __repr__(self) -> str:
        return f"CustomPricingModel(version={self.version!r}, rates={len(self.rows)})"

    @classmethod
    def from_config(cls, section: Mapping[str, object]) -> CustomPricingModel:
        """From the config file's ``pricing:`` section (the same three mappings)."""
        unknown = set(section) - {"compute_rates", "storage_rates", "data_transfer_rates"}
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(sorted(unknown))}")
        return cls(**{k: v for k, v in section.items()})  # type: ignore[arg-type]


def _rows(rates, name, category, unit, sku_format) -> list[CatalogRow]:
    if rates is None:
        return []
    if not isinstance(rates, Mapping):
        raise ValueError(f"{name} must be a mapping of names to USD rates")
    rows = []
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    for key, value in rates.items():
        try:
            micros = parse_usd_micros(value)
        except ValueError as error:
            raise ValueError(f"{name}[{key!r}] {value!r}: {error}") from None
        rows.append(
            CatalogRow(
                sku=sku_format.format(key),
                category=category,
                unit=unit,
                unit_price=Decimal(micros) / 1_000_000,
                currency="USD",
                region=ANY_REGION,
                source="custom pricing model",
                date=today,
            )
        )
    return rows

"""Pricing: catalog versions the processor knows, pricing of a run's usage into exact cost
lines (integer micro-dollars), and re-pricing stored usage under another version."""

from genops_processor.pricing.catalog_store import CatalogConflict
from genops_processor.pricing.cost_lines import (
    Catalog,
    CatalogError,
    CatalogSource,
    catalogs_from,
    price,
    price_manual,
    price_run,
    total_micros,
    unpriced_violations,
)
from genops_processor.pricing.repricing import RepriceRefused

__all__ = [
    "Catalog",
    "CatalogConflict",
    "CatalogError",
    "CatalogSource",
    "RepriceRefused",
    "catalogs_from",
    "price",
    "price_manual",
    "price_run",
    "total_micros",
    "unpriced_violations",
]

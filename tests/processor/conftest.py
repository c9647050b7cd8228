"""Fixtures shared by the processor's tests."""

from __future__ import annotations

import pytest

from genops_processor import storage as store
from genops_processor.budgets import Policy
from genops_processor.pricing import Catalog, CatalogSource
from genops_processor.service import Governance
from tests.helpers import ROUND_CATALOG


@pytest.fixture
def ledger(tmp_path):
    """(Storage, CatalogSource) on a new ledger file."""
    storage = store.Storage(tmp_path / "ledger.duckdb").open()
    yield storage, CatalogSource(Catalog.load(ROUND_CATALOG))
    storage.close()


@pytest.fixture
def governance(tmp_path):
    """(Governance, Storage) on a new ledger file, with no budgets."""
    storage = store.Storage(tmp_path / "ledger.duckdb").open()
    governance = Governance(
        storage, CatalogSource(Catalog.load(ROUND_CATALOG)), Policy.from_dict({}, "test")
    )
    yield governance, storage
    governance.close()
    storage.close()

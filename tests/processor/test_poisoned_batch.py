"""Defence in depth: a value the validation let through and the ledger cannot store is
isolated (the batch bisected) and rejected as ``unstorable``; the rest of its batch is
stored once. Real DuckDB in a temporary directory; events are built directly, bypassing
the decoder's validation, as a value it missed would arrive."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from genops_processor import storage as store
from genops_processor.domain import Batch, HardwareUse, RunUsage, Scope, SpanRecord, UsageEvent
from genops_processor.ingest import ingest_batch
from genops_processor.pricing import Catalog, CatalogSource
from genops_processor.storage import is_data_error
from tests.helpers import ROUND_CATALOG

HOUR = 3_600 * 10**9


def run_event(index: int, gpus: int = 1) -> UsageEvent:
    end = time.time_ns()
    return UsageEvent(
        span=SpanRecord(
            f"{index:032x}",
            f"{index:016x}",
            "run",
            "wandb.run",
            f"run-{index}",
            end - HOUR,
            end,
            "{}",
        ),
        run_id=f"run-{index}",
        run_name="",
        wandb_project="p",
        scope=Scope(team="ml"),
        hardware=HardwareUse(gpu_type="T4", gpu_count=gpus),
        usage=RunUsage(compute_start_ns=end - HOUR, as_of_ns=end),
        status="finished",
        final=True,
    )


@pytest.fixture
def ledger(tmp_path):
    storage = store.Storage(tmp_path / "ledger.duckdb").open()
    yield storage, CatalogSource(Catalog.load(ROUND_CATALOG))
    storage.close()


def test_a_poisoned_span_is_isolated_and_the_rest_stored_once(ledger):
    storage, catalogs = ledger
    events = [run_event(i) for i in range(7)]
    poisoned = run_event(99, gpus=2**40)  # INTEGER column: DuckDB refuses it
    batch = Batch(usage=(*events[:3], poisoned, *events[3:]))
    result = storage.call(lambda conn: ingest_batch(conn, batch, catalogs))
    assert [(r.span_id, r.reason) for r in result.rejected] == [(f"{99:016x}", "unstorable")]
    assert result.new_spans == 7 and len(result.runs) == 7
    again = storage.call(lambda conn: ingest_batch(conn, batch, catalogs))
    assert again.new_spans == 0 and len(again.rejected) == 1
    rows = storage.call(
        lambda conn: conn.execute(
            "SELECT (SELECT count(*) FROM spans), (SELECT count(*) FROM runs), "
            "(SELECT min(cost_micros) FROM runs), (SELECT max(cost_micros) FROM runs)"
        ).fetchone()
    )
    assert rows == (7, 7, 36_000_000, 36_000_000)


def test_a_storage_failure_is_not_a_data_error_and_still_fails_the_batch(ledger):
    storage, catalogs = ledger

    class Broken:
        def __getattr__(self, name):
            raise OSError("disk gone")

    with pytest.raises(OSError):
        ingest_batch(Broken(), Batch(usage=(run_event(1),)), catalogs)
    assert not is_data_error(OSError("No space left on device"))
    assert is_data_error(OverflowError("int too big")) and is_data_error(ValueError("x"))


def test_a_manual_cost_quantity_finer_than_the_ledger_keeps_is_rounded_not_poison(ledger):
    from decimal import Decimal

    from genops_processor.domain import ManualCostEvent

    storage, catalogs = ledger
    span = replace(run_event(5).span, kind="cost_line", name="genops.cost_line")
    event = ManualCostEvent(
        span=span,
        experiment_id="x",
        run_id="",
        scope=Scope(team="ml"),
        sku="T4",
        category="compute",
        quantity=Decimal("0.0000000000001"),
        unit="gpu-hour",
        catalog_version="",
        region="",
    )
    result = storage.call(lambda conn: ingest_batch(conn, Batch(manual_costs=(event,)), catalogs))
    assert result.rejected == () and result.new_spans == 1

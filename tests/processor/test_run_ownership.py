"""A run (and an experiment) belongs to the client that started it: later spans may only
advance it. Real DuckDB in a temporary directory, the processor's own ingest."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from genops_processor import storage as store
from genops_processor.domain import (
    Batch,
    ExperimentEvent,
    HardwareUse,
    RunUsage,
    Scope,
    SpanRecord,
    UsageEvent,
)
from genops_processor.ingest import ingest_batch
from genops_processor.pricing import Catalog, CatalogSource
from tests.helpers import ROUND_CATALOG

MINUTE = 60 * 10**9
T0 = time.time_ns() - 60 * MINUTE


def event(span_id: int, minutes: int, final: bool = False, **changes) -> UsageEvent:
    base = UsageEvent(
        span=SpanRecord(
            "ab" * 16,
            f"{span_id:016x}",
            "run" if final else "heartbeat",
            "wandb.run" if final else "wandb.run.heartbeat",
            "run-1:seg",
            T0,
            T0 + minutes * MINUTE,
            f'{{"n": {span_id}}}',
        ),
        run_id="run-1",
        run_name="",
        wandb_project="p",
        scope=Scope(team="ml", project="churn"),
        hardware=HardwareUse(gpu_type="T4", gpu_count=1),
        usage=RunUsage(compute_start_ns=T0, as_of_ns=T0 + minutes * MINUTE, log_calls=minutes),
        status="finished" if final else "running",
        final=final,
        compute_start_declared=True,
    )
    return replace(base, **changes)


@pytest.fixture
def ingest(tmp_path):
    storage = store.Storage(tmp_path / "ledger.duckdb").open()
    catalogs = CatalogSource(Catalog.load(ROUND_CATALOG))

    def ingest(*events, experiments=()):
        batch = Batch(usage=tuple(events), experiments=tuple(experiments))
        return storage.call(lambda conn: ingest_batch(conn, batch, catalogs))

    ingest.storage = storage
    yield ingest
    storage.close()


def reasons(result) -> list[str]:
    return [r.reason for r in result.rejected]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"scope": Scope(team="attacker", project="churn")}, "scope_changed"),
        ({"hardware": HardwareUse(gpu_type="T4", gpu_count=0)}, "hardware_changed"),
        (
            {"usage": RunUsage(compute_start_ns=T0 + MINUTE, as_of_ns=T0 + 40 * MINUTE)},
            "compute_start_changed",
        ),
        (
            {"usage": RunUsage(compute_start_ns=T0, as_of_ns=T0 + 40 * MINUTE, log_calls=3)},
            "usage_decreased",
        ),
    ],
)
def test_a_span_that_would_not_advance_its_run_is_rejected_in_the_same_batch_too(
    ingest, change, reason
):
    hostile = event(2, 40, **change)
    assert reasons(ingest(event(1, 30), hostile)) == [reason]
    assert reasons(ingest(hostile)) == [reason]  # and against the stored run
    recorded = ingest.storage.call(
        lambda conn: conn.execute("SELECT reason, run_key FROM span_rejections").fetchall()
    )
    assert recorded == [(reason, "run-1:seg")] * 2


def test_a_run_advancing_normally_is_never_rejected(ingest):
    result = ingest(event(1, 10), event(3, 30), event(2, 20), event(4, 60, final=True))
    assert reasons(result) == []
    late = ingest(event(5, 50))  # a heartbeat after the final span: ignored, not rejected
    assert reasons(late) == []
    [state] = late.runs
    assert (state.final, state.usage.log_calls) == (True, 60)


def test_an_older_client_without_a_compute_start_is_not_held_to_one(ingest):
    first = event(1, 10, compute_start_declared=False)
    second = event(2, 20, compute_start_declared=False)
    second = replace(second, usage=replace(second.usage, compute_start_ns=T0 + 20 * MINUTE))
    assert reasons(ingest(first, second)) == []


def test_a_duplicate_span_id_in_one_batch_keeps_the_first_copy(ingest):
    original = event(1, 10)
    forged = replace(original, span=replace(original.span, attributes_json='{"n": 999}'))
    result = ingest(original, forged)
    assert reasons(result) == ["duplicate_span_id"] and result.new_spans == 1
    assert reasons(ingest(original)) == []  # identical redelivery: acknowledged


def test_an_experiment_keeps_the_scope_of_its_first_span(ingest):
    def experiment(span_id: int, team: str) -> ExperimentEvent:
        span = replace(event(span_id, 10).span, kind="experiment", name="genops.experiment")
        return ExperimentEvent(span, "exp-1", "e", "training", "finished", Scope(team=team), 0, 0)

    assert reasons(ingest(experiments=[experiment(1, "ml")])) == []
    assert reasons(ingest(experiments=[experiment(2, "attacker")])) == ["scope_changed"]
    teams = ingest.storage.call(
        lambda conn: conn.execute("SELECT team FROM experiments").fetchall()
    )
    assert teams == [("ml",)]


def test_a_truncation_flag_stays_on_the_run_as_it_advances(ingest):
    flag = "ingest: genops.team truncated to 256 characters"
    first = event(1, 10)
    ingest(replace(first, span=replace(first.span, flags=(flag,))))
    [state] = ingest(event(2, 20)).runs
    assert flag in state.violations

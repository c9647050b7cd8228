"""Compaction keeps what idempotency needs: a span sent again after it changes nothing.

Real DuckDB files in a temporary directory; the processor's own ingest and Governance.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from genops_processor import storage as store
from genops_processor.budgets import Policy
from genops_processor.domain import Batch, HardwareUse, RunUsage, Scope, SpanRecord, UsageEvent
from genops_processor.ingest import ingest_batch
from genops_processor.pricing import Catalog, CatalogSource
from genops_processor.service import Governance
from tests.helpers import ROUND_CATALOG

START_NS = 1_764_000_000 * 10**9
SECOND = 10**9


def heartbeats(run: str, count: int, trace: str | None = None) -> list[UsageEvent]:
    """``count`` cumulative heartbeats of one run (one vCPU), then its final span."""
    trace = trace or run.encode().hex().ljust(32, "0")[:32]
    events = []
    for seq in range(count + 1):
        final = seq == count
        events.append(
            UsageEvent(
                span=SpanRecord(
                    trace,
                    f"{seq + 1:016x}",
                    "run" if final else "heartbeat",
                    "wandb.run" if final else "wandb.run.heartbeat",
                    run,
                    START_NS,
                    START_NS + seq * 15 * SECOND,
                    '{"genops.team": "ml", "padding": "' + "x" * 700 + '"}',
                ),
                run_id=run,
                run_name=run,
                wandb_project="p",
                scope=Scope(team="ml"),
                hardware=HardwareUse(cpu_count=1),
                usage=RunUsage(
                    compute_start_ns=START_NS,
                    as_of_ns=START_NS + seq * 15 * SECOND,
                    log_calls=seq * 10,
                ),
                status="finished" if final else "running",
                final=final,
            )
        )
    return events


@pytest.fixture
def ledger(tmp_path):
    storage = store.Storage(tmp_path / "ledger.duckdb").open()
    catalogs = CatalogSource(Catalog.load(ROUND_CATALOG))
    yield storage, catalogs
    storage.close()


def ingest(storage, catalogs, events):
    return storage.call(lambda conn: ingest_batch(conn, Batch(usage=tuple(events)), catalogs))


def ledger_state(storage) -> tuple:
    runs = storage.call(
        lambda conn: conn.execute(
            "SELECT run_key, status, log_calls, as_of_ns, cost_micros FROM runs ORDER BY 1"
        ).fetchall()
    )
    lines = storage.call(
        lambda conn: conn.execute(
            "SELECT run_key, sku, amount_micros FROM cost_lines ORDER BY 1, 2"
        ).fetchall()
    )
    return runs, lines


def test_a_span_sent_again_after_compaction_is_recognised(ledger):
    storage, catalogs = ledger
    events = heartbeats("run-a", 6) + heartbeats("run-b", 3)
    first = ingest(storage, catalogs, events)
    assert first.new_spans == 11
    before = ledger_state(storage)

    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    assert storage.call(lambda conn: store.compact_step(conn, future)) == 11
    assert storage.call(store.span_counts) == (0, 11)
    assert ledger_state(storage) == before  # run states and cost lines are kept as they are

    again = ingest(storage, catalogs, events)  # a client's spool sends everything again
    assert (again.new_spans, again.duplicate_spans) == (0, 11)
    assert ledger_state(storage) == before
    assert storage.call(store.span_counts) == (0, 11)  # nothing stored twice


def test_compaction_leaves_spans_inside_the_window(ledger):
    storage, catalogs = ledger
    ingest(storage, catalogs, heartbeats("run-a", 4))
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)
    assert storage.call(lambda conn: store.compact_step(conn, past)) == 0
    assert storage.call(store.span_counts) == (5, 0)


def test_ids_that_are_not_hex_compact_and_are_recognised(ledger):
    storage, catalogs = ledger
    events = heartbeats("run-z", 2, trace="not-hex: a test's own id")
    ingest(storage, catalogs, events)
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    assert storage.call(lambda conn: store.compact_step(conn, future)) == 3
    assert ingest(storage, catalogs, events).new_spans == 0


def test_governance_compacts_in_bounded_steps_until_done(ledger, monkeypatch):
    storage, catalogs = ledger
    ingest(storage, catalogs, heartbeats("run-a", 9))  # 10 spans
    governance = Governance(storage, catalogs, Policy.from_dict({}, "test"))
    try:
        steps = []
        original = store.compact_step

        def counted(conn, before, step):
            moved = original(conn, before, step)
            steps.append(moved)
            return moved

        monkeypatch.setattr(store, "compact_step", counted)
        moved = asyncio.run(governance.compact_spans(keep_days=0, step=3))
    finally:
        governance.close()
    assert moved == 10
    assert steps == [3, 3, 3, 1]
    assert storage.call(store.span_counts) == (0, 10)

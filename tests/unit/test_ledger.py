"""Unit tests for folding usage events into run states and pricing them (pure logic)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from genops_processor.domain import (
    CostBreakdown,
    HardwareUse,
    RunState,
    RunUsage,
    Scope,
    SpanRecord,
    UsageEvent,
)
from genops_processor.ingest.ledger import apply_events, merge
from genops_processor.pricing import Catalog

RUN_A = "0af7651916cd43dd8448eb211c80319c"
RUN_B = "4bf92f3577b34da6a3ce929d0e0e4736"
START_NS = 1_764_000_000_000_000_000
HOUR_NS = 3_600_000_000_000
SCOPE = Scope(team="nlp", project="churn", customer_id="acme", cost_center="cc-1")
T4X2 = HardwareUse(gpu_type="T4", gpu_count=2, cpu_count=4, instance_type="g4dn.12xlarge")


def event(
    as_of_ns: int,
    *,
    final: bool = False,
    run_key: str = RUN_A,
    span_id: str | None = None,
    status: str | None = None,
    log_calls: int = 0,
    hardware: HardwareUse = T4X2,
    error: str = "",
    run_name: str = "brisk-fog-1",
) -> UsageEvent:
    kind = "run" if final else "heartbeat"
    return UsageEvent(
        span=SpanRecord(
            trace_id=run_key,
            span_id=span_id or f"{as_of_ns % 2**64:016x}",
            kind=kind,
            name="wandb.run" if final else "wandb.run.heartbeat",
            run_key=run_key,
            start_ns=START_NS,
            end_ns=as_of_ns,
            attributes_json="{}",
        ),
        run_id="run-" + run_key[:6],
        run_name=run_name,
        wandb_project="churn-wandb",
        scope=SCOPE,
        hardware=hardware,
        usage=RunUsage(compute_start_ns=START_NS, as_of_ns=as_of_ns, log_calls=log_calls),
        status=status or ("finished" if final else "running"),
        final=final,
        error=error,
    )


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def fold(events) -> RunState:
    state = None
    for e in events:
        state = merge(state, e)
    return state


def test_first_event_creates_the_run_state():
    e = event(START_NS + 10, log_calls=3)
    state = merge(None, e)
    assert state == RunState(
        run_key=RUN_A,
        run_id="run-0af765",
        run_name="brisk-fog-1",
        wandb_project="churn-wandb",
        scope=SCOPE,
        hardware=T4X2,
        usage=RunUsage(compute_start_ns=START_NS, as_of_ns=START_NS + 10, log_calls=3),
        status="running",
        final=False,
    )


@pytest.mark.parametrize(
    "order, expected_as_of, expected_calls",
    [
        ([10, 20, 30], 30, 300),
        ([30, 20, 10], 30, 300),
        ([20, 30, 10], 30, 300),
        ([10, 30, 20], 30, 300),
    ],
)
def test_cumulative_usage_takes_the_latest_as_of(order, expected_as_of, expected_calls):
    state = fold(event(START_NS + t, log_calls=t * 10) for t in order)
    assert state.usage.as_of_ns == START_NS + expected_as_of
    assert state.usage.log_calls == expected_calls
    assert state.final is False


def test_an_older_heartbeat_delivered_late_changes_nothing():
    state = fold([event(START_NS + 100, log_calls=7)])
    assert merge(state, event(START_NS + 50, log_calls=2)) == state


def test_a_late_heartbeat_after_the_final_run_span_changes_nothing():
    final_state = fold([event(START_NS + 100), event(START_NS + 500, final=True, log_calls=9)])
    late = event(START_NS + 900, log_calls=99, status="running")

    after = merge(final_state, late)

    assert after == final_state
    assert after.final is True
    assert after.status == "finished"
    assert after.usage.as_of_ns == START_NS + 500
    assert after.usage.log_calls == 9


@pytest.mark.parametrize("final", [False, True])
def test_a_duplicate_event_changes_nothing(final):
    e = event(START_NS + 42, final=final, log_calls=5)
    once = merge(None, e)
    assert merge(once, e) == once
    assert merge(merge(once, e), e) == once


def test_the_final_run_span_finishes_the_run_and_keeps_the_error():
    state = fold(
        [
            event(START_NS + 100),
            event(START_NS + 200, final=True, status="failed", error="ValueError: boom"),
        ]
    )
    assert state.final is True
    assert state.status == "failed"
    assert state.error == "ValueError: boom"


def test_an_event_without_a_run_name_keeps_the_known_one():
    state = fold([event(START_NS + 1), event(START_NS + 2, run_name="")])
    assert state.run_name == "brisk-fog-1"
    assert state.usage.as_of_ns == START_NS + 2


def test_apply_events_prices_changed_runs_and_sums_priced_lines(catalog):
    unknown_gpu = HardwareUse(gpu_type="B200", gpu_count=1, cpu_count=2)
    events = [
        event(START_NS + HOUR_NS // 2),
        event(START_NS + HOUR_NS, final=True),
        event(START_NS + HOUR_NS, run_key=RUN_B, hardware=unknown_gpu),
    ]

    states, lines = apply_events({}, events, catalog)

    assert set(states) == {RUN_A, RUN_B}
    assert set(lines) == {RUN_A, RUN_B}

    a = states[RUN_A]
    # 2 x T4 x 1 h x $0.526 = $1.052; 4 vCPU x 1 h x $0.041 = $0.164
    assert [(line.sku, line.amount_micros) for line in lines[RUN_A]] == [
        ("T4", 1_052_000),
        ("vcpu", 164_000),
    ]
    assert a.cost_micros == 1_216_000
    assert a.cost_micros == sum(line.amount_micros for line in lines[RUN_A])
    assert a.unpriced_skus == ()
    assert a.final is True
    assert a.catalog_version == "2026-11-default"

    b = states[RUN_B]
    assert [(line.sku, line.amount_micros) for line in lines[RUN_B]] == [
        ("B200", None),
        ("vcpu", 82_000),
    ]
    assert b.cost_micros == 82_000
    assert b.unpriced_skus == ("B200",)
    # the per-category totals the summaries read, kept with the run
    assert a.breakdown == CostBreakdown(compute=1_216_000)
    assert b.breakdown == CostBreakdown(compute=82_000, unpriced_lines=1)
    assert lines[RUN_B][0].quantity == Decimal("1.000000000000")


def test_apply_events_returns_only_the_runs_that_changed(catalog):
    existing, _ = apply_events({}, [event(START_NS + HOUR_NS, run_key=RUN_B)], catalog)

    states, lines = apply_events(existing, [event(START_NS + HOUR_NS)], catalog)

    assert set(states) == {RUN_A}
    assert set(lines) == {RUN_A}


def test_apply_events_merges_into_the_given_state(catalog):
    first, _ = apply_events({}, [event(START_NS + HOUR_NS, final=True)], catalog)
    assert first[RUN_A].cost_micros == 1_216_000

    # a late heartbeat after the final span: the run is re-priced, nothing changes
    again, lines = apply_events(first, [event(START_NS + 2 * HOUR_NS)], catalog)
    assert again[RUN_A] == first[RUN_A]
    assert [line.amount_micros for line in lines[RUN_A]] == [1_052_000, 164_000]


def test_apply_events_with_a_duplicate_event_gives_the_same_cost(catalog):
    e = event(START_NS + HOUR_NS // 4)
    once, _ = apply_events({}, [e], catalog)
    twice, _ = apply_events(once, [e, e], catalog)
    assert twice == once
    # 15 minutes: 2 x 0.526 / 4 = 0.263 ; 4 x 0.041 / 4 = 0.041
    assert once[RUN_A].cost_micros == 263_000 + 41_000


def test_apply_events_uses_the_given_catalog_version():
    tiny = Catalog.from_dict(
        {
            "version": "tiny-1",
            "rows": [
                {
                    "sku": "T4",
                    "category": "compute",
                    "unit": "gpu-hour",
                    "unit_price": "36",
                    "source": "test",
                    "date": "2026-01-01",
                }
            ],
        },
        "inline",
    )
    states, lines = apply_events({}, [event(START_NS + 1_000_000_001)], tiny)
    # 2 GPUs x 1.000000001 s x $0.01/s = $0.02000000002 -> 20000 micros; vcpu unpriced
    assert states[RUN_A].cost_micros == 20_000
    assert states[RUN_A].unpriced_skus == ("vcpu",)
    assert states[RUN_A].catalog_version == "tiny-1"
    assert all(line.catalog_version == "tiny-1" for line in lines[RUN_A])
